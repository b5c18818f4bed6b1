"""The gRPC transport on loopback: E2 envelopes through the core, and the state snapshot."""

from __future__ import annotations

import json

import grpc
import pytest

from proto import haf_pb2, haf_pb2_grpc
from proto.wire import from_proto, to_proto
from rapp_placement.candidates import feasible_candidates
from tests.test_xapp import CONFIG, _indication, a1
from xapp_alloc import core as xc
from xapp_alloc.e2 import codec
from xapp_alloc.metrics import InstrumentedCore
from xapp_alloc.transport.grpc_server import XappGrpc


@pytest.fixture
def served():
    server = XappGrpc(InstrumentedCore(xc.XappCore(CONFIG)), clock=lambda: 2.0)
    port = server.serve("127.0.0.1:0")
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield server, channel
    channel.close()
    server.stop()


def test_e2_stream_and_snapshot(served):
    server, channel = served
    relay = haf_pb2_grpc.E2RelayStub(channel)
    meas = [
        codec.InstanceMeasurement(
            "du-1", 5e10, 0, 2000.0, 5e10, 5e-4, 4 * 0, False, 2, 0, 1e12, 0.0, 4e13
        ),
        codec.InstanceMeasurement(
            "large-ai-1", 4e14, 0, 3.0, 0, float("inf"), 5e9, False, 40, 7, 8e13, 2e14, 2.025e14
        ),
    ]
    pol = {"epoch": 1, "migrations": [{"instance_id": "small-ai-1", "to_node": "tiny"}]}
    envs = [
        haf_pb2.Envelope(mtype=xc.RIC_INDICATION, meid="balanced-1", payload=_indication(meas)),
        haf_pb2.Envelope(mtype=xc.A1_POLICY_REQ, sub_id=21000, payload=a1(pol)),
        haf_pb2.Envelope(mtype=4242, payload=b"?"),
    ]
    outs = list(relay.Connect(iter(envs), timeout=10))
    assert [o.mtype for o in outs] == [xc.RIC_CONTROL_REQ, xc.A1_POLICY_RESP]
    assert outs[0].meid == "balanced-1" and json.loads(outs[1].payload)["status"] == "OK"
    ctl = haf_pb2.E2smHafControl.FromString(codec.decode_control(outs[0].payload))
    assert {a.instance_id for a in ctl.allocations} == {"du-1", "large-ai-1"}

    snap = haf_pb2_grpc.StateServiceStub(channel).GetSnapshot(haf_pb2.SnapshotRequest(), timeout=10)
    view = from_proto(snap)
    assert view.time == 2.0 and view.epoch == 1
    node = view.node("balanced-1")
    assert node.gpu_util == pytest.approx(1.0) and node.active_requests == 42
    assert node.ran_floor_gpu_util == pytest.approx(5e10 / 5e-4 / 2.425e14)
    assert node.mem_used == pytest.approx((4 + 28) * 1e9 + 5e9)
    llm = view.instance("large-ai-1")
    # Backlog: active work (13) + waiting work; the node serves Σ ServedShare (all of its GPU).
    assert (llm.backlog_gpu, llm.queued_requests, llm.arrival_work_rate) == (6e14, 7, 8e13)
    assert view.instance("small-ai-1").migrating and view.instance("small-ai-1").node_id == "tiny"
    # What the rApp does next: candidates straight from the served snapshot.
    cids = {c.cid for c in feasible_candidates(view)}
    assert "noop" in cids and not any(c.startswith("mig:small-ai-1:") for c in cids)
    assert from_proto(to_proto(view)) == view
    assert server.host.inner.counters.dropped["unknown-type"] == 1


def test_standalone_xapp_process_serves_grpc_and_metrics():
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    def free_port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    gport, mport = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from haf.cli import main; main()",
            "xapp",
            "--grpc",
            f"127.0.0.1:{gport}",
            "--metrics-port",
            str(mport),
            "--a1-port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{gport}")
        grpc.channel_ready_future(channel).result(timeout=30)
        snap = haf_pb2_grpc.StateServiceStub(channel).GetSnapshot(
            haf_pb2.SnapshotRequest(), timeout=10
        )
        assert len(snap.nodes) == 6 and len(snap.instances) == 18
        channel.close()
        deadline = time.time() + 10
        while True:
            try:
                text = urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=2).read()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        assert b"haf_xapp_indications_total" in text
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "stopped" in out
