"""Values at the door: every KPM field and every policy field, malformed as a peer could send it.

Regression tests for each defect found from outside (issue 11), then hypothesis strategies that
generate *decoded-value* malformations (not byte flips) for every KPM measurement and every
policy field, through ``XappCore.handle`` and the A1-P REST endpoint (the CLI's are in
tests/test_cli_inputs.py): 4,000 + 10,000 + 4,000 + 2,500 cases here, 300 there, per run. Each
asserts: nothing escapes, the answer names the field, the last good state is served
afterwards, and capacity (3) and memory (4) hold.
"""

from __future__ import annotations

import copy
import json
import math
import re

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from a1_policies.haf_placement import (
    MAX_EPOCH,
    POLICY_SCHEMA,
    POLICY_TYPE_ID,
    PolicyError,
    parse_policy_request,
    policy_request,
)
from proto import haf_pb2
from proto.errors import MeasurementError
from proto.observation import (
    CLASSES,
    FIELD_SPECS,
    FIELDS,
    ID_PATTERN,
    MAX_REQUESTS,
    InstanceMeasurement,
    kpm_items,
    measurement_name,
)
from proto.wire import from_proto
from tests.test_xapp import CONFIG, GB, a1, resp
from xapp_alloc import core as xc
from xapp_alloc.a1.openapi import BASE
from xapp_alloc.a1.rest import A1Server
from xapp_alloc.a1.store import PolicyStore
from xapp_alloc.e2 import codec
from xapp_alloc.standalone import Standalone

NODE = "balanced-1"
POLICY_KEYS = set(POLICY_SCHEMA["properties"])
#: A good report of the node holding du-1, cu-up-1 and large-ai-1 (24 GB node "tiny" is free).
GOOD = [
    InstanceMeasurement("du-1", 5e10, 0, 2000.0, 5e10, 5e-4, 0.0, False, 2, 0, 1e12, 0, 1e14),
    InstanceMeasurement("cu-up-1", 0, 2e-4, 3000.0, 2e-4, 1e-3, 0.0, False, 1, 0, 0.1, 0, 4.0),
    InstanceMeasurement(
        "large-ai-1", 4e14, 0, 3.0, 0, math.inf, 2 * GB, False, 40, 7, 8e13, 1e14, 1.4e14
    ),
]


def raw_indication(items: dict[str, list], node: str = NODE, t: float = 1.0, info=None) -> bytes:
    """An indication whose KPM record items are given as decoded values (choice, value)."""
    record = []
    for iid in CONFIG.instance_ids:
        record += items.get(iid, [("noValue", None)] * len(FIELDS))
    header = codec.kpm().encode(
        "E2SM-KPM-IndicationHeader",
        {
            "indicationHeader-formats": (
                "indicationHeader-Format1",
                {"colletStartTime": codec.ntp_timestamp(t), "senderName": node},
            )
        },
    )
    fmt = {"measData": [{"measRecord": record}], "granulPeriod": 100}
    if info is not None:
        fmt["measInfoList"] = [
            {"measType": ("measName", n), "labelInfoList": [{"measLabel": {"noLabel": "true"}}]}
            for n in info
        ]
    message = codec.kpm().encode(
        "E2SM-KPM-IndicationMessage",
        {"indicationMessage-formats": ("indicationMessage-Format1", fmt)},
    )
    return codec.encode_indication(codec.E2apIndication(7, 1, 2, 1, 1, header, message))


def good_items() -> dict[str, list]:
    return {m.instance_id: kpm_items(m) for m in GOOD}


def primed() -> xc.XappCore:
    """A core with one good report of NODE and one applied policy (epoch 3)."""
    core = xc.XappCore(CONFIG)
    assert core.handle(xc.RIC_INDICATION, raw_indication(good_items()), 1.0, meid=NODE)
    pol = {"epoch": 3, "migrations": [{"instance_id": "small-ai-1", "to_node": NODE}]}
    assert resp(core.handle(xc.A1_POLICY_REQ, a1(pol, iid="p3"), 1.0))["status"] == "OK"
    return core


def state_of(core: xc.XappCore):
    return copy.deepcopy(
        (core.placement, core.epoch, core.policies, core.views, core.migrating_until, core.applied)
    )


def assert_sound(core: xc.XappCore, now: float = 2.0) -> None:
    """The core still serves: a snapshot, and a good report gives a control within capacity."""
    snap = from_proto(core.snapshot(now))
    assert len(snap.nodes) == len(CONFIG.nodes)
    mem = {n.node_id: n.mem_used for n in snap.nodes}
    for n in CONFIG.nodes:
        assert mem[n.node_id] <= n.mem_capacity  # (4)
    (ctl,) = core.handle(xc.RIC_INDICATION, raw_indication(good_items()), now, meid=NODE)
    msg = haf_pb2.E2smHafControl.FromString(codec.decode_control(ctl.payload))
    assert sum(a.gpu_flops for a in msg.allocations) <= 2.425e14 * (1 + 1e-9)  # (3)
    assert sum(a.cpu_cores for a in msg.allocations) <= 32 * (1 + 1e-9)


# --- regressions: the defects found from outside -------------------------------------------------
@pytest.mark.parametrize("epoch", ["18446744073709551616", "1e30", "1.8446744073709552e+19"])
def test_huge_epoch_is_refused_and_the_core_keeps_working(epoch):
    core = primed()
    body = (
        '{"operation":"CREATE","policy_type_id":"21000","policy_instance_id":"big",'
        f'"payload":"{{\\"epoch\\": {epoch}, \\"migrations\\": []}}"}}'
    ).encode()
    ans = resp(core.handle(xc.A1_POLICY_REQ, body, 1.5))
    assert ans["status"] == "ERROR" and "policy.epoch" in ans["reason"]
    assert_sound(core)
    assert (
        resp(core.handle(xc.A1_POLICY_REQ, a1(None, "DELETE", "big"), 3.0))["status"] == "DELETED"
    )
    assert_sound(core, 3.0)


@pytest.mark.parametrize("field", ["WorkGpu", "WorkCpu", "Urgency", "KvBytes"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, -1.0])
def test_bad_kpm_value_drops_the_report_and_keeps_the_last_good_one(field, value):
    core = primed()
    before = state_of(core)
    items = good_items()
    items["large-ai-1"][FIELDS.index(field)] = ("real", value)
    assert core.handle(xc.RIC_INDICATION, raw_indication(items, t=1.5), 1.5, meid=NODE) == []
    assert core.counters.dropped["kpm-value"] == 1
    assert state_of(core) == before
    with pytest.raises(codec.E2DecodeError, match=f"HAF.{field}.large-ai-1"):
        ind = codec.decode_indication(raw_indication(items))
        codec.decode_report(ind.header, ind.message, CONFIG.instance_ids)
    assert_sound(core)


def test_bad_kv_cannot_let_a_28_gb_model_onto_a_24_gb_node():
    core = primed()
    for kv in (math.nan, -30 * GB):
        items = good_items()
        items["large-ai-1"][FIELDS.index("KvBytes")] = ("real", kv)
        core.handle(xc.RIC_INDICATION, raw_indication(items), 1.2, meid=NODE)
    pol = {"epoch": 4, "migrations": [{"instance_id": "large-ai-1", "to_node": "tiny"}]}
    ans = resp(core.handle(xc.A1_POLICY_REQ, a1(pol, iid="p4"), 1.3))
    assert ans["status"] == "ERROR" and "(4)" in ans["reason"]


@pytest.mark.parametrize(
    ("field", "item"),
    [
        ("ActiveRequests", ("real", math.inf)),
        ("QueuedRequests", ("real", 2.5)),
        ("ActiveRequests", ("integer", 4294967295)),
        ("Migrating", ("real", 0.5)),
        ("Migrating", ("integer", 7)),
        ("RanMinSlack", ("real", math.nan)),
        ("WorkGpu", ("noValue", None)),
    ],
)
def test_counts_and_flags_are_exact(field, item):
    core = primed()
    items = good_items()
    items["large-ai-1"][FIELDS.index(field)] = item
    assert core.handle(xc.RIC_INDICATION, raw_indication(items), 1.5, meid=NODE) == []
    assert core.counters.dropped["kpm-value"] == 1
    assert_sound(core)


def test_three_instances_at_the_kpm_maximum_cannot_overflow_the_snapshot():
    core = primed()
    items = good_items()
    for iid in items:
        items[iid][FIELDS.index("ActiveRequests")] = ("integer", 4294967295)
    core.handle(xc.RIC_INDICATION, raw_indication(items), 1.5, meid=NODE)
    items = good_items()
    for iid in items:
        items[iid][FIELDS.index("ActiveRequests")] = ("integer", MAX_REQUESTS)
    core.handle(xc.RIC_INDICATION, raw_indication(items), 1.6, meid=NODE)
    snap = from_proto(core.snapshot(2.0))
    assert snap.node(NODE).active_requests == 3 * MAX_REQUESTS


def test_values_are_read_by_their_measurement_names():
    names = [measurement_name(f, i) for i in CONFIG.instance_ids for f in FIELDS]
    items = good_items()
    flat = []
    for iid in CONFIG.instance_ids:
        flat += items.get(iid, [("noValue", None)] * len(FIELDS))
    order = list(range(len(names)))[::-1]  # the node lists its measurements in reverse
    shuffled = {"x": [flat[k] for k in order]}
    core = xc.XappCore(CONFIG)
    payload = raw_indication({}, info=[names[k] for k in order])
    # raw_indication fills per instance; build the reversed record by hand instead
    ind = codec.decode_indication(payload)
    fmt = codec.kpm().decode("E2SM-KPM-IndicationMessage", ind.message)[
        "indicationMessage-formats"
    ][1]
    fmt["measData"][0]["measRecord"] = shuffled["x"]
    message = codec.kpm().encode(
        "E2SM-KPM-IndicationMessage",
        {"indicationMessage-formats": ("indicationMessage-Format1", fmt)},
    )
    _, _, got = codec.decode_report(ind.header, message, CONFIG.instance_ids)
    assert sorted(got, key=lambda m: m.instance_id) == sorted(GOOD, key=lambda m: m.instance_id)
    assert core.handle(
        xc.RIC_INDICATION,
        codec.encode_indication(codec.E2apIndication(7, 1, 2, 1, 1, ind.header, message)),
        1.0,
        meid=NODE,
    )
    # An unknown name refuses the whole report, naming it.
    fmt["measInfoList"][0]["measType"] = ("measName", "HAF.Bogus.du-1")
    bad = codec.kpm().encode(
        "E2SM-KPM-IndicationMessage",
        {"indicationMessage-formats": ("indicationMessage-Format1", fmt)},
    )
    with pytest.raises(codec.E2DecodeError, match=r"HAF\.Bogus\.du-1"):
        codec.decode_report(ind.header, bad, CONFIG.instance_ids)


def test_deep_json_is_refused_before_parsing():
    core = primed()
    deep = b"[" * 5000 + b"]" * 5000
    assert core.handle(xc.A1_POLICY_REQ, deep, 1.0) == []
    assert core.counters.dropped["a1-invalid"] == 1
    nested = json.dumps(
        {
            "operation": "CREATE",
            "policy_type_id": "21000",
            "policy_instance_id": "deep",
            "payload": "[" * 5000 + "]" * 5000,
        }
    ).encode()
    ans = resp(core.handle(xc.A1_POLICY_REQ, nested, 1.0))
    assert ans["status"] == "ERROR" and "nested deeper" in ans["reason"]
    assert_sound(core)


@pytest.mark.parametrize("type_id", ["Infinity", "21000.9", "1e400", '"21000.0"', "true", "-21000"])
def test_policy_type_id_must_be_exactly_an_integer(type_id):
    core = primed()
    body = (
        f'{{"operation":"CREATE","policy_type_id":{type_id},"policy_instance_id":"t",'
        '"payload":{"epoch":9,"migrations":[]}}'
    ).encode()
    out = core.handle(xc.A1_POLICY_REQ, body, 1.0)
    if out:  # an answer for the id it could read, never OK
        assert resp(out)["status"] == "ERROR" and "policy_type_id" in resp(out)["reason"]
    else:
        assert core.counters.dropped["a1-invalid"] == 1
    assert "t" not in core.policies and core.epoch == 3


def test_the_epoch_rule_checks_before_it_answers():
    core = primed()
    before = state_of(core)
    move = [{"instance_id": "large-ai-1", "to_node": "gpu-heavy-1"}]
    cases = [
        ("p3", {"epoch": 3, "migrations": move}, "already applied with other migrations"),
        (
            "old",
            {"epoch": 2, "migrations": [{"instance_id": "small-ai-1", "to_node": "tiny"}]},
            "stale for small-ai-1, moved by epoch 3",
        ),
        ("ghost", {"epoch": 1, "migrations": [{"instance_id": "x-9", "to_node": NODE}]}, "x-9"),
        ("mars", {"epoch": 2, "migrations": [{"instance_id": "du-1", "to_node": "mars"}]}, "mars"),
    ]
    for iid, pol, reason in cases:
        ans = resp(core.handle(xc.A1_POLICY_REQ, a1(pol, iid=iid), 2.0))
        assert ans["status"] == "ERROR" and reason in ans["reason"], ans
    assert state_of(core) == before
    # The identical policy again (a retry; the mediator's replay): OK, nothing moves twice.
    same = {"epoch": 3, "migrations": [{"instance_id": "small-ai-1", "to_node": NODE}]}
    assert resp(core.handle(xc.A1_POLICY_REQ, a1(same, iid="p3"), 2.0))["status"] == "OK"
    assert resp(core.handle(xc.A1_POLICY_REQ, a1(same, iid="again"), 2.0))["status"] == "OK"
    assert len(core.pending["gpu-heavy-1"]) == 1


@pytest.mark.parametrize("order", [(9, 10, 11), (11, 10, 9), (10, 11, 9), (9, 11, 10)])
def test_replay_in_any_order_reaches_the_same_placement(order):
    """A mediator's recovery replays CREATEs in its storage order, not by epoch: the latest
    decision for each instance stands whatever the order (epochs 9 and 11 both move
    small-ai-1; 10 moves du-1)."""
    core = xc.XappCore(CONFIG)
    policies = {
        9: [{"instance_id": "small-ai-1", "to_node": "tiny"}],
        10: [{"instance_id": "du-1", "to_node": "gpu-heavy-1"}],
        11: [{"instance_id": "small-ai-1", "to_node": NODE}],
    }
    answers = {}
    for k, e in enumerate(order):
        body = a1({"epoch": e, "migrations": policies[e]}, iid=f"haf-epoch-{e}")
        answers[e] = resp(core.handle(xc.A1_POLICY_REQ, body, 100.0 * k))["status"]
    assert core.placement["small-ai-1"] == NODE and core.placement["du-1"] == "gpu-heavy-1"
    assert core.epoch == 11 and answers[10] == answers[11] == "OK"
    assert answers[9] == ("OK" if order.index(9) < order.index(11) else "ERROR")


def test_epoch_zero_is_idempotent_too():
    core = xc.XappCore(CONFIG)
    pol = {"epoch": 0, "migrations": [{"instance_id": "small-ai-1", "to_node": "tiny"}]}
    for t in (0.0, 0.1, 0.2):
        assert resp(core.handle(xc.A1_POLICY_REQ, a1(pol, iid="z"), t))["status"] == "OK"
    assert len(core.pending["gpu-heavy-1"]) == 1 and core.migrating_until["small-ai-1"] == 0.5


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_weights_are_refused_and_get_stays_json(bad):
    store = PolicyStore()
    host = Standalone(xc.XappCore(CONFIG), store, clock=lambda: 1.0)
    server = A1Server(host, port=0)
    port = server.start()
    try:
        url = f"http://127.0.0.1:{port}{BASE}/policytypes/{POLICY_TYPE_ID}/policies"
        text = (
            '{"epoch": 1, "migrations": [], "class_weights": '
            f'{{"large_ai": {bad}, "small_ai": 1, "ran_only": 1}}}}'
        )
        r = httpx.put(f"{url}/w", content=text, headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and "number" in r.json()["detail"]
        assert httpx.get(f"{url}/w").status_code == 404
        assert httpx.get(url).json() == []
    finally:
        server.stop()


def test_placement_and_class_weights_are_used_not_ignored():
    core = primed()
    wrong = {"epoch": 4, "migrations": [], "placement": {"du-1": "gpu-heavy-1"}}
    ans = resp(core.handle(xc.A1_POLICY_REQ, a1(wrong, iid="w"), 2.0))
    assert ans["status"] == "ERROR" and "placement.du-1" in ans["reason"]
    move = {
        "epoch": 4,
        "migrations": [{"instance_id": "large-ai-1", "to_node": "gpu-heavy-1"}],
        "placement": {"large-ai-1": "gpu-heavy-1", "du-1": NODE},
    }
    assert resp(core.handle(xc.A1_POLICY_REQ, a1(move, iid="m"), 2.0))["status"] == "OK"
    weights = {"large_ai": 2.0, "small_ai": 1.0, "ran_only": 0.5}
    pol = {"epoch": 0, "migrations": [], "class_weights": weights}
    assert resp(core.handle(xc.A1_POLICY_REQ, a1(pol, iid="op"), 2.0))["status"] == "OK"
    snap = from_proto(core.snapshot(2.0))
    assert snap.class_weights is not None and snap.class_weights.as_tuple() == (2.0, 1.0, 0.5)
    core.handle(xc.A1_POLICY_REQ, a1(None, "DELETE", "op"), 2.1)
    assert from_proto(core.snapshot(2.1)).class_weights is None


def test_the_e2_nodes_own_migrating_flag_blocks_a_move():
    core = xc.XappCore(CONFIG)
    items = good_items()
    items["large-ai-1"][FIELDS.index("Migrating")] = ("integer", 1)
    assert core.handle(xc.RIC_INDICATION, raw_indication(items), 1.0, meid=NODE)
    pol = {"epoch": 1, "migrations": [{"instance_id": "large-ai-1", "to_node": "gpu-heavy-1"}]}
    ans = resp(core.handle(xc.A1_POLICY_REQ, a1(pol), 1.1))
    assert ans["status"] == "ERROR" and "large-ai-1 is migrating" in ans["reason"]


@pytest.mark.parametrize("iid", ["", None, 5, "a" * 200, "bad id", "ünï"])
def test_a_policy_without_a_valid_instance_id_is_never_ok(iid):
    core = primed()
    body = json.dumps(
        {
            "operation": "CREATE",
            "policy_type_id": "21000",
            "policy_instance_id": iid,
            "payload": json.dumps({"epoch": 9, "migrations": []}),
        }
    ).encode()
    assert core.handle(xc.A1_POLICY_REQ, body, 1.0) == []
    assert core.counters.dropped["a1-invalid"] == 1 and core.epoch == 3


def test_a_defect_in_the_core_is_caught_at_the_transport_and_the_state_kept(monkeypatch):
    core = primed()
    host = Standalone(core, clock=lambda: 5.0)
    before = state_of(core)
    monkeypatch.setattr(core, "allocate", lambda *a: 1 / 0)
    assert host.handle(xc.RIC_INDICATION, raw_indication(good_items()), 5.0, -1, NODE) == []
    assert core.counters.dropped["internal-error"] == 1
    assert state_of(core)[:3] == before[:3]  # placement, epoch, policies
    monkeypatch.undo()
    assert_sound(core, 5.0)


# --- generated malformations of every KPM field and every policy field -----------------------
def _bad_items(kind: str, bound: float) -> st.SearchStrategy:
    reals = [math.nan, math.inf, -math.inf]
    if kind == "slack":
        vals = [*reals, bound * 2, -bound * 2]
    elif kind == "flag":
        vals = [*reals, 0.5, 2.0, -1.0, 7.0]
    elif kind == "count":
        vals = [*reals, -1.0, 0.5, bound + 1, 1e300]
    else:
        vals = [*reals, -1e-300, -1.0, bound * 10]
    real = st.sampled_from(vals).map(lambda v: ("real", v))
    too_big = {"count": [4294967295, int(bound) + 1], "flag": [2, 3, 4294967295]}
    ints = st.sampled_from(too_big.get(kind, [4294967295])).map(lambda v: ("integer", v))
    nothing = st.just(("noValue", None)) if kind != "slack" else st.nothing()
    return st.one_of(real, ints, nothing) if kind != "work" or bound < 4e9 else real


BAD_KPM = st.sampled_from(FIELD_SPECS).flatmap(
    lambda spec: st.tuples(
        st.just(spec[0]),
        st.sampled_from([m.instance_id for m in GOOD]),
        _bad_items(spec[2], spec[3]),
    )
)
KPM_CORE = primed()


@settings(max_examples=4000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(BAD_KPM, min_size=1, max_size=3), st.floats(0, 1e6))
def test_generated_kpm_malformations_never_change_the_last_good_report(bad, t):
    core = KPM_CORE
    items = good_items()
    for field, iid, item in bad:
        items[iid][FIELDS.index(field)] = item
    payload = raw_indication(items, t=t)
    view = copy.deepcopy(core.views[NODE].measurements)
    dropped = core.counters.dropped["kpm-value"]
    assert core.handle(xc.RIC_INDICATION, payload, t, meid=NODE) == []
    assert core.counters.dropped["kpm-value"] == dropped + 1
    assert core.views[NODE].measurements == view
    ind = codec.decode_indication(payload)
    with pytest.raises(codec.E2DecodeError) as err:
        codec.decode_report(ind.header, ind.message, CONFIG.instance_ids)
    assert any(measurement_name(f, i) in str(err.value) for f, i, _ in bad)


_ID_RE = re.compile(ID_PATTERN)
BAD_IDS = st.one_of(
    st.sampled_from(["", "a b", "x" * 64, "ü", "-lead", "du-1/..", 7, None, True, [], {}]),
    st.text(max_size=80).filter(lambda t: _ID_RE.match(t) is None),
    st.integers(),
)
BAD_NUMS = st.one_of(
    st.sampled_from([-1, 2**64, 1e30, 1.5, "7", None, True, [], {}, math.nan, math.inf]),
    st.integers(min_value=MAX_EPOCH + 1),
    st.integers(max_value=-1),
    st.floats(allow_nan=True).filter(lambda f: not (math.isfinite(f) and f == int(f) >= 0)),
    st.text(max_size=10),
)
BAD_WEIGHTS = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, "1", None, [], True]),
    st.floats(max_value=-1e-12),
    st.floats(min_value=1e6 * (1 + 1e-9), allow_infinity=True),
)
NODES = [n.node_id for n in CONFIG.nodes]
INSTS = CONFIG.instance_ids
GOOD_MIG = st.fixed_dictionaries(
    {"instance_id": st.sampled_from(INSTS), "to_node": st.sampled_from(NODES)}
)
GOOD_WEIGHTS = st.fixed_dictionaries(dict.fromkeys(CLASSES, st.floats(0.1, 1e6)))
BASE_POLICY = st.fixed_dictionaries(
    {"epoch": st.integers(0, MAX_EPOCH), "migrations": st.lists(GOOD_MIG, max_size=3)},
    optional={"issued_by": st.text(max_size=64), "class_weights": GOOD_WEIGHTS},
)


def _malformed_policy() -> st.SearchStrategy:
    def case(strategy, field, put):
        pairs = st.tuples(BASE_POLICY, strategy)
        return pairs.map(lambda p: (put(copy.deepcopy(p[0]), p[1]), field))

    def set_key(key):
        return lambda pol, v: {**pol, key: v}

    def mig(key):
        def put(pol, v):
            m = {"instance_id": "du-1", "to_node": "tiny", key: v}
            return {**pol, "migrations": [*pol["migrations"], m]}

        return put

    def weight(pol, kv):
        k, v = kv
        w = dict(pol.get("class_weights") or dict.fromkeys(CLASSES, 1.0))
        return {**pol, "class_weights": {**w, k: v}}

    return st.one_of(
        case(BAD_NUMS, "epoch", set_key("epoch")),
        case(st.sampled_from(["x", 5, None, {}]), "migrations", set_key("migrations")),
        case(st.lists(GOOD_MIG, min_size=17, max_size=20), "migrations", set_key("migrations")),
        case(BAD_IDS, "migrations", mig("instance_id")),
        case(BAD_IDS, "migrations", mig("to_node")),
        case(st.just(1), "migrations", mig("extra")),
        case(
            st.sampled_from(INSTS),
            "migrations",
            lambda pol, i: {**pol, "migrations": [{"instance_id": i}]},
        ),
        case(BAD_IDS, "placement", lambda pol, v: {**pol, "placement": {"du-1": v}}),
        case(
            BAD_IDS.filter(lambda v: isinstance(v, str)),
            "placement",
            lambda pol, k: {**pol, "placement": {k: "tiny"}},
        ),
        case(st.tuples(st.sampled_from(CLASSES), BAD_WEIGHTS), "class_weights", weight),
        case(
            st.just(0.0),
            "class_weights",
            lambda pol, z: {**pol, "class_weights": dict.fromkeys(CLASSES, z)},
        ),
        case(
            st.sampled_from(CLASSES),
            "class_weights",
            lambda pol, k: {**pol, "class_weights": {k: 1.0}},
        ),
        case(
            st.one_of(st.text(min_size=65, max_size=100), st.integers(), st.none()),
            "issued_by",
            set_key("issued_by"),
        ),
        case(
            st.text(min_size=1, max_size=12).filter(lambda k: k not in POLICY_KEYS),
            "policy",
            lambda pol, k: {**pol, k: 1},
        ),
        st.sampled_from([None, [], "x", 5]).map(lambda v: (v, "policy")),
    )


POLICY_CORE = primed()


@settings(max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(_malformed_policy(), st.booleans())
def test_generated_policy_malformations_are_refused_naming_the_field(case, string_form):
    policy, field = case
    core = POLICY_CORE
    before = state_of(core)
    body = {
        "operation": "CREATE",
        "policy_type_id": str(POLICY_TYPE_ID) if string_form else POLICY_TYPE_ID,
        "policy_instance_id": "fuzz",
        "payload": json.dumps(policy) if string_form else policy,
    }
    ans = resp(core.handle(xc.A1_POLICY_REQ, json.dumps(body).encode(), 2.0))
    # A whole payload that is not a policy object is named as "policy" or, when it is a string
    # that is not JSON (the mediator's string form), as "payload".
    named = field in ans["reason"] or (field == "policy" and "payload" in ans["reason"])
    assert ans["status"] == "ERROR" and named, (policy, ans)
    assert state_of(core) == before
    with pytest.raises(PolicyError):
        parse_policy_request(
            policy_request("CREATE", "fuzz", policy) if string_form else json.dumps(body).encode()
        )


ENVELOPE = st.fixed_dictionaries(
    {},
    optional={
        "operation": st.sampled_from(["CREATE", "DELETE", "PATCH", 5, None, ""]),
        "policy_type_id": st.sampled_from(
            [21000, "21000", 21000.0, 21000.9, "021000", -1, 2**70, True, None, "x", math.inf]
        ),
        "policy_instance_id": st.sampled_from(["ok-1", "", None, 5, "a b", "z" * 300]),
        "payload": st.sampled_from(["", "{", "[]", "null", '{"epoch": 1}', 5, None, [], "NaN"]),
    },
)
ENV_CORE = primed()


@settings(max_examples=4000, deadline=None, suppress_health_check=list(HealthCheck))
@given(ENVELOPE)
def test_generated_envelopes_never_raise_and_never_apply_anything_invalid(env):
    core = ENV_CORE
    before = state_of(core)
    out = core.handle(xc.A1_POLICY_REQ, json.dumps(env).encode(), 2.0)
    for m in out:
        ans = json.loads(m.payload)
        assert ans["status"] in ("ERROR", "DELETED", "OK")
        if ans["status"] == "ERROR":
            assert ans["reason"]
    if not any(json.loads(m.payload)["status"] == "OK" for m in out):
        assert state_of(core)[:2] == before[:2]  # placement and epoch untouched


@pytest.fixture(scope="module")
def rest():
    host = Standalone(primed(), PolicyStore(), clock=lambda: 2.0)
    server = A1Server(host, port=0)
    port = server.start()
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}{BASE}/policytypes/{POLICY_TYPE_ID}")
    yield host, client
    client.close()
    server.stop()


@settings(max_examples=2500, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=_malformed_policy())
def test_generated_policies_over_rest_get_400_naming_the_field(rest, case):
    host, client = rest
    policy, field = case
    before = state_of(host.inner)
    r = client.put(
        "/policies/fuzz",
        content=json.dumps(policy),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400, r.text
    assert field in r.json()["detail"]
    assert state_of(host.inner) == before
    assert client.get("/policies/p-none").status_code == 404
    assert client.get("/policies").json() == []  # nothing stored


# --- the KPM collection time: RFC 5905 NTP timestamps -----------------------------------------
def test_collection_time_is_an_rfc5905_ntp_timestamp():
    # The Unix epoch is NTP second 2,208,988,800 (0x83AA7E80); half a second is 0x80000000.
    assert codec.ntp_timestamp(0.5).hex() == "83aa7e8080000000"
    assert codec.from_ntp_timestamp(bytes.fromhex("83aa7e8080000000")) == 0.5
    # 2036-02-07 06:28:16 starts NTP era 1: its seconds wrap, and decode back past 2036.
    assert codec.from_ntp_timestamp(bytes.fromhex("0000000100000000")) == 2_085_978_497.0
    for bad, why in ((b"\x00" * 8, "not set"), (b"\x01" * 7, "8")):
        with pytest.raises(MeasurementError, match=why):
            codec.from_ntp_timestamp(bad)


@given(st.floats(0, 4.2e9, allow_nan=False))
def test_ntp_round_trip_keeps_the_time_to_a_quarter_nanosecond(t):
    back = codec.from_ntp_timestamp(codec.ntp_timestamp(t))
    assert abs(back - t) <= 2**-32 + 4.2e9 * 2**-52


def test_a_zero_or_pre_1970_collection_time_drops_the_report():
    core = primed()
    ind = codec.decode_indication(raw_indication(good_items()))
    h = codec.kpm().decode("E2SM-KPM-IndicationHeader", ind.header)
    for stamp in (b"\x00" * 8, bytes.fromhex("8000000000000000")):  # unset; 1968
        h["indicationHeader-formats"][1]["colletStartTime"] = stamp
        header = codec.kpm().encode("E2SM-KPM-IndicationHeader", h)
        payload = codec.encode_indication(codec.E2apIndication(7, 1, 2, 1, 1, header, ind.message))
        assert core.handle(xc.RIC_INDICATION, payload, 2.0, meid=NODE) == []
    assert core.counters.dropped["kpm-value"] == 2


def test_a_stored_policy_this_version_refuses_is_dropped_alone_on_restart(tmp_path):
    """An A1 state file written before the bounds existed (epoch 2^64 was accepted then): the
    restarted xApp drops that policy, recovers the others and keeps working."""
    state = tmp_path / "a1.json"
    good = {"epoch": 2, "migrations": [{"instance_id": "small-ai-1", "to_node": "tiny"}]}
    state.write_text(
        json.dumps(
            {
                "policy_type_id": POLICY_TYPE_ID,
                "instances": {
                    "huge": {"policy": {"epoch": 2**64, "migrations": []}},
                    "haf-epoch-2": {"policy": good},
                },
            }
        )
    )
    host = Standalone(xc.XappCore(CONFIG), PolicyStore(state), clock=lambda: 1.0)
    host.start()
    assert set(host.store.records) == {"haf-epoch-2"}
    assert host.inner.placement["small-ai-1"] == "tiny" and host.inner.epoch == 2
    assert_sound(host.inner)


def test_a_deep_body_over_rest_is_a_400_not_a_500(rest):
    _host, client = rest
    r = client.put(
        "/policies/deep",
        content="[" * 5000 + "]" * 5000,
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400 and "nested" in r.json()["detail"]


def test_placement_rules_are_enforced_reported_and_lifted():
    """An operator's constraints (issue 16): a later migration that breaks them is refused
    naming the rule; the snapshot carries them to the rApp; deleting the policy lifts them."""
    core = primed()
    rules = {"pin": {"large-ai-1": core.placement["large-ai-1"]}}
    pol = {"epoch": 0, "migrations": [], "constraints": rules}
    assert resp(core.handle(xc.A1_POLICY_REQ, a1(pol, iid="rules"), 2.0))["status"] == "OK"
    move = {"epoch": 5, "migrations": [{"instance_id": "large-ai-1", "to_node": "gpu-heavy-1"}]}
    ans = resp(core.handle(xc.A1_POLICY_REQ, a1(move, iid="m"), 2.0))
    assert ans["status"] == "ERROR" and "placement rules" in ans["reason"]
    snap = from_proto(core.snapshot(2.0))
    assert snap.constraints is not None
    assert snap.constraints.pin == (("large-ai-1", core.placement["large-ai-1"]),)
    core.handle(xc.A1_POLICY_REQ, a1(None, "DELETE", "rules"), 2.1)
    assert from_proto(core.snapshot(2.1)).constraints is None
    assert resp(core.handle(xc.A1_POLICY_REQ, a1(move, iid="m"), 2.2))["status"] == "OK"
