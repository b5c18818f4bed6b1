"""One snapshot builder: the twin in process and the xApp (reports encoded, sent over gRPC,
snapshot read over gRPC) see the same state, field by field, and the critic the same features."""

from __future__ import annotations

import math

import grpc
import numpy as np
import pytest

from a1_policies.haf_placement import POLICY_TYPE_ID, build_policy, policy_request
from airan_twin.e2node import E2Loop
from airan_twin.run import make_twin
from airan_twin.scenario import cluster_config, load_scenario
from proto import haf_pb2, haf_pb2_grpc
from proto.observation import ClassWeights, InstanceMeasurement
from proto.wire import from_proto, to_proto
from rapp_placement.candidates import feasible_candidates
from rapp_placement.critic import features
from xapp_alloc import core as xc
from xapp_alloc.observation import build_snapshot
from xapp_alloc.standalone import Standalone
from xapp_alloc.transport.grpc_server import XappGrpc


@pytest.fixture
def remote():
    sc = load_scenario()
    host = Standalone(xc.XappCore(cluster_config(sc, 20)), envelope_clock=True)
    server = XappGrpc(host)
    port = server.serve("127.0.0.1:0")
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield sc, host, port, haf_pb2_grpc.StateServiceStub(channel)
    channel.close()
    server.stop()


def _both_ways(twin, loop, state):
    """The in-process snapshot now, then every node reports now and the xApp's over gRPC."""
    inproc = twin.snapshot()
    for nid in twin.nodes:
        loop.report(twin, nid)
    return inproc, from_proto(state.GetSnapshot(haf_pb2.SnapshotRequest(), timeout=5))


def test_twin_and_xapp_snapshots_agree_field_by_field(remote):
    sc, _host, port, state = remote
    twin = make_twin(sc, "haf-static", 1.1, 7, 14.0, external_allocation=True)
    loop = E2Loop.connect(twin, f"127.0.0.1:{port}", None, period_s=0.02)
    twin.run(until=5.5)
    assert twin.epoch == 2
    # A migration through A1 (epoch 2, the twin's current epoch), so that placement, memory and
    # the migrating flags are exercised, then snapshots mid-window and after it.
    policy = build_policy(2, [("large-ai-2", "gpu-heavy-1")], "test")
    loop.deliver(xc.A1_POLICY_REQ, policy_request("CREATE", "t-2", policy), POLICY_TYPE_ID)
    assert loop.responses[-1]["status"] == "OK"
    checked = 0
    for t in (5.73, 6.5, 9.2):
        twin.run(until=t)
        inproc, remote_snap = _both_ways(twin, loop, state)
        assert remote_snap == inproc  # every field of every node and instance, exactly
        cands = feasible_candidates(inproc, {"du", "cu-up", "large-ai", "small-ai"})
        for c in cands:
            assert np.array_equal(features(inproc, c), features(remote_snap, c))
        checked += len(cands)
    assert checked > 20
    moved = inproc.instance("large-ai-2")
    assert moved.node_id == "gpu-heavy-1"
    assert any(i.backlog_gpu > 0 for i in inproc.instances)  # a loaded state, not all zeros


def test_the_wire_form_round_trips_with_and_without_weights():
    sc = load_scenario()
    twin = make_twin(sc, "haf-static", 0.9, 2, 6.0)
    twin.run(until=3.0)
    snap = twin.snapshot()
    assert from_proto(to_proto(snap)) == snap
    placement = {i.instance_id: i.node_id for i in twin.cluster.instances}
    weighted = build_snapshot(twin.cluster, {}, placement, (), 3, 1.0, ClassWeights(1.0, 0.0, 2.0))
    assert from_proto(to_proto(weighted)) == weighted


def test_builder_takes_each_instance_from_the_node_it_is_placed_on():
    sc = load_scenario()
    cfg = cluster_config(sc)
    stale = InstanceMeasurement("large-ai-1", 9e12, 0, 1.0, 0, math.inf, 5e9, False, 3)
    fresh = InstanceMeasurement("large-ai-1", 1e12, 0, 2.0, 0, math.inf, 2e9, True, 1)
    placement = {i.instance_id: i.node_id for i in cfg.instances}
    src = placement["large-ai-1"]
    placement["large-ai-1"] = "gpu-heavy-1"
    snap = build_snapshot(cfg, {src: [stale], "gpu-heavy-1": [fresh]}, placement, (), 1, 0.0)
    inst = snap.instance("large-ai-1")
    got = (inst.node_id, inst.backlog_gpu, inst.kv, inst.migrating)
    assert got == ("gpu-heavy-1", 1e12, 2e9, True)
    weights = {i.instance_id: i.weights for i in cfg.instances}
    used = sum(w for i, w in weights.items() if placement[i] == "gpu-heavy-1") + 2e9
    assert snap.node("gpu-heavy-1").mem_used == pytest.approx(used)
    # Node sums use the node's own report: the stale one still counts where it was sent.
    assert snap.node(src).active_requests == 3
