"""The xApp core: A1 policies, E2 indications → controls, bad input, recordings, and a fuzz."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from a1_policies.haf_placement import POLICY_TYPE_ID
from proto import haf_pb2
from xapp_alloc import core as xc
from xapp_alloc.e2 import codec
from xapp_alloc.replay import replay
from xapp_alloc.tracefile import read_trace

DATA = Path(__file__).parent / "data"
GB = 1e9

CONFIG = xc.XappConfig(
    nodes=(
        xc.NodeConfig("gpu-heavy-1", 2.65e15, 32.0, 320 * GB),
        xc.NodeConfig("balanced-1", 2.425e14, 32.0, 48 * GB),
        xc.NodeConfig("tiny", 8.1e13, 96.0, 24 * GB),
    ),
    instances=(
        xc.InstanceConfig("du-1", "du", 4 * GB, 0.05, "balanced-1"),
        xc.InstanceConfig("cu-up-1", "cu-up", 0.0, 0.05, "balanced-1"),
        xc.InstanceConfig("large-ai-1", "large-ai", 28 * GB, 8.0, "balanced-1"),
        xc.InstanceConfig("small-ai-1", "small-ai", 1 * GB, 0.5, "gpu-heavy-1"),
    ),
)


def a1(policy, op="CREATE", iid="p1", string_form=True):
    if string_form:
        body = {
            "operation": op,
            "policy_type_id": str(POLICY_TYPE_ID),
            "policy_instance_id": iid,
            "payload": json.dumps(policy) if policy else "",
        }
    else:  # the older contract: integer type id, object payload
        body = {
            "operation": op,
            "policy_type_id": POLICY_TYPE_ID,
            "policy_instance_id": iid,
            "payload": policy,
        }
    return json.dumps(body).encode()


def resp(msgs):
    (m,) = msgs
    assert m.mtype == xc.A1_POLICY_RESP and m.sub_id == POLICY_TYPE_ID
    body = json.loads(m.payload)
    assert isinstance(body["policy_type_id"], int)  # the mediator reads it as a number
    return body


def test_start_queries_policies_with_a_numeric_type_id():
    (m,) = xc.XappCore(CONFIG).start()
    assert m.mtype == xc.A1_POLICY_QUERY and json.loads(m.payload) == {"policy_type_id": 21000}


@pytest.mark.parametrize("string_form", [True, False])
def test_policy_is_validated_enforced_and_answered(string_form):
    core = xc.XappCore(CONFIG)
    pol = {"epoch": 1, "migrations": [{"instance_id": "large-ai-1", "to_node": "gpu-heavy-1"}]}
    body = resp(core.handle(xc.A1_POLICY_REQ, a1(pol, string_form=string_form), 10.0))
    assert body["status"] == "OK" and body["handler_id"] == "haf-xapp"
    assert core.placement["large-ai-1"] == "gpu-heavy-1"
    assert core.migrating_until["large-ai-1"] == pytest.approx(18.0)
    assert [c.to_node for c in core.pending["balanced-1"]] == ["gpu-heavy-1"]
    # The same epoch again (a retry, or the mediator re-sending after a query): no new move.
    assert resp(core.handle(xc.A1_POLICY_REQ, a1(pol), 11.0))["status"] == "OK"
    assert len(core.pending["balanced-1"]) == 1
    assert resp(core.handle(xc.A1_POLICY_REQ, a1(None, "DELETE"), 12.0))["status"] == "DELETED"


@pytest.mark.parametrize(
    ("migrations", "reason"),
    [
        ([{"instance_id": "ghost-1", "to_node": "gpu-heavy-1"}], "unknown instance 'ghost-1'"),
        ([{"instance_id": "large-ai-1", "to_node": "mars"}], "unknown node 'mars'"),
        ([{"instance_id": "large-ai-1", "to_node": "tiny"}], "GB free (4)"),
        (
            [
                {"instance_id": "small-ai-1", "to_node": "balanced-1"},
                {"instance_id": "small-ai-1", "to_node": "tiny"},
            ],
            "moved twice",
        ),
    ],
)
def test_bad_policies_get_error_with_reason_and_keep_the_placement(migrations, reason):
    core = xc.XappCore(CONFIG)
    before = dict(core.placement)
    body = resp(core.handle(xc.A1_POLICY_REQ, a1({"epoch": 5, "migrations": migrations}), 1.0))
    assert body["status"] == "ERROR" and reason in body["reason"]
    assert core.placement == before and not core.pending and core.epoch == 0
    assert core.counters.policies_rejected == 1


def test_schema_violations_and_foreign_types_are_errors():
    core = xc.XappCore(CONFIG)
    body = resp(core.handle(xc.A1_POLICY_REQ, a1({"epoch": -1, "migrations": []}), 0.0))
    assert body["status"] == "ERROR" and "policy.epoch" in body["reason"]
    other = json.dumps(
        {
            "operation": "CREATE",
            "policy_type_id": "20008",
            "policy_instance_id": "x",
            "payload": "{}",
        }
    ).encode()
    assert "not handled here" in resp(core.handle(xc.A1_POLICY_REQ, other, 0.0))["reason"]


def _indication(meas, node="balanced-1", t=1.0):
    h, m = codec.encode_report(t, node, CONFIG.instance_ids, meas, 100)
    return codec.encode_indication(codec.E2apIndication(7, 1, 2, 1, 1, h, m))


def test_indication_gives_a_control_within_capacity_and_floors():
    core = xc.XappCore(CONFIG)
    meas = [
        codec.InstanceMeasurement("du-1", 5e10, 0, 2000.0, 5e10, 0.0005, 0, False),
        codec.InstanceMeasurement("cu-up-1", 0, 2e-4, 3000.0, 2e-4, 0.001, 0, False),
        codec.InstanceMeasurement("large-ai-1", 5e14, 0, 3.0, 0, math.inf, 6 * GB, False),
    ]
    (msg,) = core.handle(xc.RIC_INDICATION, _indication(meas), 1.001, meid="balanced-1")
    assert msg.mtype == xc.RIC_CONTROL_REQ and msg.meid == "balanced-1"
    ctl = haf_pb2.E2smHafControl.FromString(codec.decode_control(msg.payload))
    a = {x.instance_id: x for x in ctl.allocations}
    assert sum(x.gpu_flops for x in ctl.allocations) <= 2.425e14 * (1 + 1e-9)
    assert a["du-1"].gpu_flops >= 5e10 / 0.0005 * (1 - 1e-12)  # the DU floor (15)
    assert a["cu-up-1"].cpu_cores >= 2e-4 / 0.001 * (1 - 1e-12)
    assert a["large-ai-1"].gpu_flops > 0 and not ctl.ran_infeasible
    assert ctl.report_time_s == 1.0 and core.views["balanced-1"].received_at == 1.001


def test_migration_commands_ride_on_the_next_control_of_the_source_node():
    core = xc.XappCore(CONFIG)
    pol = {"epoch": 2, "migrations": [{"instance_id": "large-ai-1", "to_node": "gpu-heavy-1"}]}
    core.handle(xc.A1_POLICY_REQ, a1(pol), 0.0)
    meas = [codec.InstanceMeasurement("large-ai-1", 1e12, 0, 1.0, 0, math.inf, 0, False)]
    (msg,) = core.handle(xc.RIC_INDICATION, _indication(meas), 0.01, meid="balanced-1")
    ctl = haf_pb2.E2smHafControl.FromString(codec.decode_control(msg.payload))
    assert [(m.instance_id, m.to_node, m.epoch) for m in ctl.migrations] == [
        ("large-ai-1", "gpu-heavy-1", 2)
    ]
    assert ctl.placement_epoch == 2 and not core.pending


@pytest.mark.parametrize(
    ("mtype", "payload", "kind"),
    [
        (xc.RIC_INDICATION, b"\x00\x01garbage", "e2ap"),
        (
            xc.RIC_INDICATION,
            codec.encode_indication(codec.E2apIndication(1, 1, 2, 1, 1, b"\x00", b"\xff\xff")),
            "kpm-header",
        ),
        (xc.A1_POLICY_REQ, b"{not json", "a1-invalid"),
        (xc.A1_POLICY_REQ, b"[1, 2]", "a1-invalid"),
        (4242, b"hello", "unknown-type"),
        (xc.RIC_INDICATION, b"\x00" * (xc.MAX_PAYLOAD + 1), "oversize"),
    ],
)
def test_bad_input_is_counted_dropped_and_changes_nothing(mtype, payload, kind):
    core = xc.XappCore(CONFIG)
    core.handle(xc.A1_POLICY_REQ, a1({"epoch": 1, "migrations": []}), 0.0)
    before = copy.deepcopy((core.placement, core.epoch, core.views, core.policies))
    assert core.handle(mtype, payload, 1.0) == []
    assert core.counters.dropped[kind] == 1
    assert (core.placement, core.epoch, core.views, core.policies) == before


def test_health_check_is_answered():
    (m,) = xc.XappCore(CONFIG).handle(xc.RIC_HEALTH_CHECK_REQ, b"ping", 0.0, 5, "x")
    assert (m.mtype, m.payload) == (xc.RIC_HEALTH_CHECK_RESP, b"OK\n")


@settings(max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.sampled_from([xc.RIC_INDICATION, xc.A1_POLICY_REQ, xc.RIC_HEALTH_CHECK_REQ, 7, 20012]),
    st.binary(max_size=400),
)
def test_fuzz_no_exception_escapes_the_core(mtype, payload):
    core = FUZZ_CORE
    out = core.handle(mtype, payload, 1.0)
    assert isinstance(out, list)


FUZZ_CORE = xc.XappCore(CONFIG)


@pytest.mark.parametrize("name", ["e2-a1-1s.haftrace", "e2-static-0.3s.haftrace"])
def test_committed_recordings_replay_bit_for_bit(name):
    rep = replay(DATA / name)
    assert rep.ok, (rep.mismatches[:3], rep.capacity_violations[:3], rep.floor_violations[:3])
    assert rep.inbound > 100 and rep.controls > 100 and not rep.problems
    assert rep.outbound_produced == rep.outbound_expected


def test_recorded_a1_answers():
    records, _ = read_trace(DATA / "e2-a1-1s.haftrace")
    answers = [json.loads(r.payload) for r in records if r.mtype == xc.A1_POLICY_RESP]
    assert [a["status"] for a in answers] == ["OK", "ERROR", "ERROR"]
    assert "unknown node 'nowhere-7'" in answers[1]["reason"]
    assert "large-ai-1 is migrating" in answers[2]["reason"]


def test_corrupted_records_are_reported_by_position_and_skipped(tmp_path):
    buf = bytearray((DATA / "e2-static-0.3s.haftrace").read_bytes())
    records, _ = read_trace(DATA / "e2-static-0.3s.haftrace")
    # Overwrite the body of record 3 with bytes that are not a TraceRecord (frame kept).
    sizes = [len(r.SerializeToString()) for r in records]
    offset = sum(len(bytes([s])) if s < 128 else 2 for s in sizes[:3]) + sum(sizes[:3])
    head = 1 if sizes[3] < 128 else 2
    buf[offset + head : offset + head + 4] = b"\xff\xff\xff\xff"
    bad = tmp_path / "bad.haftrace"
    bad.write_bytes(bytes(buf))
    got, problems = read_trace(bad)
    assert [p.index for p in problems] == [3] and problems[0].offset == offset
    assert len(got) == len(records) - 1
    truncated = tmp_path / "cut.haftrace"
    truncated.write_bytes(bytes(buf[: len(buf) - 10]))
    _, problems = read_trace(truncated)
    assert problems and "runs past the end" in problems[-1].reason


def test_recovered_policies_after_a_restart_move_nothing_twice():
    # Before the restart: the policy moved large-ai-1 to gpu-heavy-1.
    pol = {"epoch": 4, "migrations": [{"instance_id": "large-ai-1", "to_node": "gpu-heavy-1"}]}
    fresh = xc.XappCore(CONFIG)  # after a restart: the config's placement (balanced-1)
    meas = [codec.InstanceMeasurement("large-ai-1", 1e12, 0, 1.0, 0, math.inf, 2e9, False)]
    # The node that now hosts it reports first, then the mediator re-sends the policy.
    fresh.handle(xc.RIC_INDICATION, _indication(meas, node="gpu-heavy-1"), 1.0, meid="gpu-heavy-1")
    assert fresh.placement["large-ai-1"] == "gpu-heavy-1"
    assert resp(fresh.handle(xc.A1_POLICY_REQ, a1(pol), 1.1))["status"] == "OK"
    assert not fresh.pending and "large-ai-1" not in fresh.migrating_until
    # Recovered before any report: the command is dropped as soon as a report shows it done.
    early = xc.XappCore(CONFIG)
    assert resp(early.handle(xc.A1_POLICY_REQ, a1(pol), 0.5))["status"] == "OK"
    assert early.pending
    early.handle(xc.RIC_INDICATION, _indication(meas, node="gpu-heavy-1"), 1.0, meid="gpu-heavy-1")
    assert not early.pending


def test_bad_input_is_logged_once_per_kind_per_interval(caplog):
    core = xc.XappCore(CONFIG)
    with caplog.at_level("WARNING", logger="xapp_alloc.core"):
        for t in (0.0, 1.0, 59.0, 61.0):
            core.handle(xc.A1_POLICY_REQ, b"{x", t)
        core.handle(4242, b"", 62.0)
    lines = [r.getMessage() for r in caplog.records]
    assert sum("a1-invalid" in m for m in lines) == 2  # t=0 and t=61 (60 s interval)
    assert sum("unknown-type" in m for m in lines) == 1
    assert core.counters.dropped["a1-invalid"] == 4  # every one counted
