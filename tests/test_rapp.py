"""The rApp service: A1-P and PMS clients, the epoch, and the faults the loop survives."""

from __future__ import annotations

import json
import logging
import math
import time

import httpx
import pytest

from rapp_placement.a1client import A1Error, NearRtA1, Pms, Retry, wait_enforced
from rapp_placement.agent import BackendError, PlacementAgent
from rapp_placement.service import RappConfig, RappService, policy_id
from tests.test_xapp import CONFIG, GB, _indication
from xapp_alloc import core as xc
from xapp_alloc.a1.rest import A1Server
from xapp_alloc.e2 import codec
from xapp_alloc.metrics import InstrumentedCore
from xapp_alloc.standalone import Standalone
from xapp_alloc.transport.grpc_server import XappGrpc

MOVE = "mig:large-ai-1:gpu-heavy-1"
FAST = Retry(retries=2, backoff_s=0.01, timeout_s=1.0)


class Xapp:
    """A standalone xApp on loopback (gRPC + A1-P REST), restartable."""

    def __init__(self) -> None:
        self.inst = InstrumentedCore(xc.XappCore(CONFIG))
        self.host = Standalone(self.inst, clock=lambda: 10.0)
        self.host.start()
        self.grpc = XappGrpc(self.host)
        self.port = self.grpc.serve("127.0.0.1:0")
        self.a1 = A1Server(self.host, port=0)
        self.a1.start()
        self.url = f"http://127.0.0.1:{self.a1.port}"
        # One report from the node holding the LLM, so the snapshot has KV and backlog.
        meas = [
            codec.InstanceMeasurement("large-ai-1", 4e14, 0, 3.0, 0, math.inf, 5 * GB, False, 4)
        ]
        self.host.handle(xc.RIC_INDICATION, _indication(meas), 10.0, -1, "balanced-1")

    def stop(self) -> None:
        self.a1.stop()
        self.grpc.stop()


class Scripted:
    """An LLM server's stand-in (no GPU server here): a fixed answer, an error, or a delay."""

    name = "scripted"

    def __init__(self, answer: str = "", error: str = "", delay_s: float = 0.0) -> None:
        self.answer, self.error, self.delay_s = answer, error, delay_s
        self.calls = 0

    def complete(self, prompt) -> str:
        self.calls += 1
        time.sleep(self.delay_s)
        if self.error:
            raise BackendError(self.error)
        return self.answer


def _service(xapp: Xapp, backend=None, deadline_s=0.5, **kw) -> RappService:
    cfg = RappConfig(
        xapp_grpc=f"127.0.0.1:{xapp.port}",
        a1_url=xapp.url,
        llm_deadline_s=deadline_s,
        enforce_timeout_s=1.0,
        **{"critic": "none", **kw},
    )
    svc = RappService(cfg)
    svc.agent = PlacementAgent(
        backend or Scripted(json.dumps({"shortlist": [MOVE]})), deadline_s=deadline_s
    )
    return svc


def _sample(svc: RappService, name: str, labels: dict | None = None) -> float:
    return svc.metrics.registry.get_sample_value(name, labels or {}) or 0.0


@pytest.fixture
def xapp():
    x = Xapp()
    yield x
    x.stop()


# --- clients --------------------------------------------------------------------------------
def test_near_rt_client_against_the_standalone_endpoint(xapp):
    c = NearRtA1(xapp.url, retry=FAST)
    c.ensure_type()
    assert c.list_types() == [21000]
    policy = {"epoch": 2, "migrations": [{"instance_id": "large-ai-1", "to_node": "gpu-heavy-1"}]}
    assert c.put("p2", policy) == 201
    assert wait_enforced(c, "p2", 1.0) == {"enforceStatus": "ENFORCED"}
    assert c.get("p2") == policy and c.list_policies() == ["p2"]
    c.delete("p2")
    with pytest.raises(A1Error) as err:
        c.status("p2")
    assert err.value.status == 404 and "p2" in err.value.body


def test_near_rt_client_creates_a_missing_type_and_retries_5xx_only():
    calls = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append((req.method, req.url.path))
        if req.method == "GET" and req.url.path.endswith("/policytypes/21000"):
            return httpx.Response(404, json={"detail": "no type"})
        if req.method == "PUT" and req.url.path.endswith("/policytypes/21000"):
            body = json.loads(req.content)
            assert body["policy_type_id"] == 21000 and "create_schema" in body
            return httpx.Response(201)
        if req.url.path.endswith("/policies/flaky"):
            n = sum(1 for c in calls if c[1].endswith("/policies/flaky"))
            return httpx.Response(503 if n < 3 else 202)
        return httpx.Response(400, text="bad body: migrations[0]")

    c = NearRtA1("http://ric:10000", retry=FAST, transport=httpx.MockTransport(handler))
    c.ensure_type()
    assert ("PUT", "/A1-P/v2/policytypes/21000") in calls
    assert c.put("flaky", {"epoch": 1, "migrations": []}) == 202  # two 503s, then accepted
    n_before = len(calls)
    with pytest.raises(A1Error) as err:
        c.put("bad", {"epoch": 1, "migrations": []})
    assert len(calls) == n_before + 1  # a 4xx is not retried
    assert err.value.status == 400 and "migrations[0]" in str(err.value)


def test_unreachable_endpoint_is_retried_then_reported():
    c = NearRtA1("http://127.0.0.1:9", retry=Retry(retries=2, backoff_s=0.01, timeout_s=0.2))
    with pytest.raises(A1Error, match="ConnectError"):
        c.put("x", {"epoch": 1, "migrations": []})


def test_pms_client_speaks_the_v2_api():
    seen: dict[str, object] = {}
    state = {"registered": 0}

    def handler(req: httpx.Request) -> httpx.Response:
        path = req.url.path
        if path == "/a1-policy/v2/services" and req.method == "PUT":
            state["registered"] += 1
            seen["service"] = json.loads(req.content)
            return httpx.Response(201)
        if path.endswith("/keepalive"):
            return httpx.Response(404)  # the PMS restarted and forgot us
        if path == "/a1-policy/v2/policy-types":
            assert req.url.params["ric_id"] == "ric7"
            return httpx.Response(200, json={"policytype_ids": ["", "21000"]})
        if path == "/a1-policy/v2/policies" and req.method == "PUT":
            seen["policy"] = json.loads(req.content)
            return httpx.Response(201)
        if path == "/a1-policy/v2/policies/haf-epoch-3/status":
            return httpx.Response(200, json={"status": {"enforceStatus": "ENFORCED"}})
        return httpx.Response(404)

    pms = Pms(
        "http://pms:8081",
        "ric7",
        keep_alive_s=0,
        retry=FAST,
        transport=httpx.MockTransport(handler),
    )
    pms.ensure_type()
    assert seen["service"] == {
        "service_id": "haf-rapp",
        "keep_alive_interval_seconds": 0,
        "callback_url": "",
    }
    policy = {"epoch": 3, "migrations": []}
    assert pms.put("haf-epoch-3", policy) == 201
    assert seen["policy"] == {
        "ric_id": "ric7",
        "policy_id": "haf-epoch-3",
        "policytype_id": "21000",
        "service_id": "haf-rapp",
        "policy_data": policy,
    }
    assert state["registered"] == 2  # keep-alive answered 404: registered again
    assert pms.status("haf-epoch-3") == {"enforceStatus": "ENFORCED"}


def test_pms_without_the_type_says_how_to_create_it():
    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.path == "/a1-policy/v2/policy-types":
            return httpx.Response(200, json={"policytype_ids": ["20008"]})
        return httpx.Response(201)

    pms = Pms("http://pms:8081", "ric1", retry=FAST, transport=httpx.MockTransport(handler))
    with pytest.raises(A1Error, match="haf a1 types --create"):
        pms.ensure_type()


# --- the epoch ------------------------------------------------------------------------------
def test_epoch_pushes_the_decision_and_the_xapp_enforces_it(xapp):
    svc = _service(xapp)
    res = svc.run_epoch(7)
    assert res.outcome == "migrated" and res.choice == MOVE and res.source == "llm"
    assert xapp.host.inner.placement["large-ai-1"] == "gpu-heavy-1"
    assert xapp.host.store.records[policy_id(7)].policy["epoch"] == 7
    assert _sample(svc, "haf_rapp_migrations_total") == 1
    assert _sample(svc, "haf_rapp_epochs_total", {"outcome": "migrated"}) == 1
    assert _sample(svc, "haf_rapp_a1_push_seconds_count") == 1


def test_rapp_restart_mid_epoch_does_not_migrate_twice(xapp):
    """The first rApp pushed epoch 7 and died; a new one re-runs epoch 7 from scratch."""
    first = _service(xapp)
    assert first.run_epoch(7).outcome == "migrated"
    first.close()
    second = _service(xapp)  # a new process: no memory of what it issued
    res = second.run_epoch(7)
    assert res.outcome == "already-decided"
    core = xapp.host.inner
    assert core.counters.policies_applied == 1
    pending = [c for cmds in core.pending.values() for c in cmds]
    assert [(c.instance_id, c.to_node) for c in pending] == [("large-ai-1", "gpu-heavy-1")]
    # A retried PUT of the same epoch is acknowledged without a second migration.
    NearRtA1(xapp.url, retry=FAST).put(policy_id(7), xapp.host.store.records[policy_id(7)].policy)
    assert len([c for cmds in core.pending.values() for c in cmds]) == 1


def test_xapp_down_skips_the_epoch_and_the_next_one_works():
    x = Xapp()
    svc = _service(x)
    x.stop()
    res = svc.run_epoch(3)
    assert res.outcome == "no-snapshot" and "UNAVAILABLE" in res.detail
    x2 = Xapp()  # restarted on new ports: point the rApp at it
    try:
        svc2 = _service(x2)
        assert svc2.run_epoch(4).outcome == "migrated"
    finally:
        x2.stop()


@pytest.mark.parametrize("status", [400, 500])
def test_a1_error_answers_are_logged_with_the_body_and_the_epoch_goes_on(xapp, status, caplog):
    def handler(req: httpx.Request) -> httpx.Response:
        if req.method == "GET":
            return httpx.Response(200, json={})
        return httpx.Response(status, text=f"mediator says no ({status})")

    svc = _service(xapp, push_retries=1)
    svc.target = NearRtA1("http://ric", retry=FAST, transport=httpx.MockTransport(handler))
    with caplog.at_level(logging.ERROR, logger="rapp_placement.service"):
        res = svc.run_epoch(5)
    assert res.outcome == "push-failed"
    assert f"mediator says no ({status})" in caplog.text
    assert _sample(svc, "haf_rapp_a1_errors_total", {"status": str(status)}) == 1
    assert svc.run_epoch(6).outcome == "push-failed"  # still running, still counting
    assert _sample(svc, "haf_rapp_epochs_total", {"outcome": "push-failed"}) == 2


def test_llm_down_falls_back_to_the_heuristic_and_counts_it(xapp):
    backend = Scripted(error="http://gpu:11434 unreachable")
    svc = _service(xapp, backend)
    res = svc.run_epoch(2)
    assert res.source == "fallback" and backend.calls == 1
    assert _sample(svc, "haf_rapp_llm_fallbacks_total", {"reason": "backend"}) == 1


def test_slow_llm_is_cut_at_the_deadline(xapp):
    backend = Scripted(json.dumps({"shortlist": [MOVE]}), delay_s=1.5)
    svc = _service(xapp, backend, deadline_s=0.2)
    res = svc.run_epoch(2)
    assert res.source == "fallback"
    assert res.duration_s < 1.0  # the epoch did not wait for the slow answer
    assert _sample(svc, "haf_rapp_llm_fallbacks_total", {"reason": "deadline"}) == 1


def test_async_thinks_during_the_epoch_and_uses_it_next_epoch(xapp):
    """Asynchronous mode: epoch k uses what the model answered on epoch k-1's snapshot; the
    first epoch, and one whose answer is late, use the heuristic and say why."""
    backend = Scripted(json.dumps({"shortlist": [MOVE]}), delay_s=0.3)
    svc = _service(xapp, backend, deadline_s=0.2, asynchronous=True)
    svc.agent.deadline_s = svc.cfg.epoch_s  # as RappService sets it: the call has the epoch
    first = svc.run_epoch(2)
    assert first.source == "fallback" and first.duration_s < 0.3
    assert _sample(svc, "haf_rapp_llm_fallbacks_total", {"reason": "async"}) == 1
    time.sleep(0.5)  # the model answers during the epoch
    second = svc.run_epoch(3)
    assert second.source == "llm" and second.shortlist == [MOVE] and backend.calls >= 1
    # Too slow even for the epoch: the next epoch waits its budget, then uses the heuristic.
    time.sleep(0.5)
    backend.delay_s = 2.0
    svc.run_epoch(4)  # uses epoch 3's answer, starts the slow call
    late = svc.run_epoch(5)
    assert late.source == "fallback" and late.duration_s < 1.5
    assert _sample(svc, "haf_rapp_llm_fallbacks_total", {"reason": "async"}) == 2
    svc.close()


def test_config_validates_the_agent_fields():
    assert RappConfig.from_dict({"asynchronous": True, "examples": "none"}).asynchronous
    with pytest.raises(ValueError, match="asynchronous"):
        RappConfig.from_dict({"asynchronous": "yes"})
    with pytest.raises(ValueError, match="examples must be"):
        RappConfig.from_dict({"examples": "best"})
    with pytest.raises(ValueError, match="pool"):
        RappConfig.from_dict({"pool": 7})


def test_stale_reports_are_flagged_and_the_last_allocation_kept():
    clock = {"t": 0.0}
    inst = InstrumentedCore(xc.XappCore(CONFIG))
    inst.track_staleness(lambda: clock["t"])
    meas = [
        codec.InstanceMeasurement(
            "large-ai-1", 4e14, 0, 3.0, 0, math.inf, 5 * GB, False, 4, served_share=1.2e14
        )
    ]
    inst.handle(xc.RIC_INDICATION, _indication(meas), 0.0, -1, "balanced-1")
    kept = dict(inst.core.views["balanced-1"].allocation)
    assert inst.registry.get_sample_value("haf_xapp_stale_nodes") == 0
    clock["t"] = CONFIG.stale_after_s + 0.5  # no report since
    assert inst.registry.get_sample_value("haf_xapp_stale_nodes") == 1
    assert inst.core.views["balanced-1"].allocation == kept and kept
    snap = inst.core.snapshot(clock["t"])
    # The snapshot still shows the node's last good report (what it serves: 1.2e14 FLOP/s).
    gpu_util = {n.node_id: n.gpu_util for n in snap.nodes}["balanced-1"]
    assert gpu_util == pytest.approx(1.2e14 / 2.425e14)


def test_config_rejects_unknown_fields_and_bad_modes():
    with pytest.raises(ValueError, match="unknown field"):
        RappConfig.from_dict({"epoch": 5})
    with pytest.raises(ValueError, match="a1_mode"):
        RappConfig.from_dict({"a1_mode": "smtp"})


def test_twin_goes_on_when_the_rapp_is_down():
    """The twin as E2 nodes over gRPC with the rApp unreachable: the epoch trigger fails, the
    placement stays, simulated time goes on, and the run says so."""
    from airan_twin.e2node import E2Loop
    from airan_twin.run import make_twin
    from airan_twin.scenario import cluster_config, load_scenario

    sc = load_scenario(None)
    host = Standalone(xc.XappCore(cluster_config(sc, 100)), envelope_clock=True)
    server = XappGrpc(host)
    port = server.serve("127.0.0.1:0")
    try:
        twin = make_twin(
            sc, "haf", 0.9, 1, 6.0, external_allocation=True, method_kwargs={"agent": "heuristic"}
        )
        E2Loop.connect(twin, f"127.0.0.1:{port}", "http://127.0.0.1:9", 0.1, timeout_s=2.0)
        twin.run()
        res = twin.result()
    finally:
        server.stop()
    assert res.agent["unanswered_epochs"] == 1 and res.migrations["total"] == 0
    assert host.inner.counters.indications == 6 * 59 or host.inner.counters.indications == 6 * 60
    assert host.last_ts == pytest.approx(6.0, abs=0.11)  # the xApp's clock is simulated time
    assert res.fulfilment["ran_only"] > 90


def test_timer_loop_numbers_epochs_by_wall_time(xapp):
    """Deployment mode: epoch k = floor(t / epoch_s), one per boundary, so a restarted rApp
    continues the same numbering (and the same policy ids)."""
    import threading

    svc = _service(xapp, backend=Scripted(json.dumps({"shortlist": ["noop"]})), epoch_s=0.2)
    stop = threading.Event()
    t0 = time.time()
    th = threading.Thread(target=svc.run_forever, args=(stop,))
    th.start()
    time.sleep(0.9)
    stop.set()
    th.join(timeout=5)
    epochs = [r.epoch for r in svc.history]
    assert 3 <= len(epochs) <= 6
    assert epochs == list(range(epochs[0], epochs[0] + len(epochs)))  # one per boundary
    assert epochs[0] == int(t0 // 0.2) or epochs[0] == int(t0 // 0.2) + 1


def test_status_in_the_older_mediators_form_is_understood():
    """OSC's older (Python 2.x) mediator answers ``instance_status``; `haf a1 status` and the
    rApp read it as the standard's enforceStatus."""
    from rapp_placement.a1client import normalise_status

    def handler(request):
        assert request.url.path == "/a1-p/policytypes/21000/policies/p/status"
        return httpx.Response(200, json={"instance_status": "IN EFFECT", "has_been_deleted": False})

    c = NearRtA1("http://ric", retry=FAST, transport=httpx.MockTransport(handler), prefix="/a1-p")
    st = c.status("p")
    assert st["enforceStatus"] == "ENFORCED" and st["has_been_deleted"] is False
    assert normalise_status({"instance_status": "NOT IN EFFECT"})["enforceReason"] == "OTHER_REASON"
    assert normalise_status({"enforceStatus": "ENFORCED"}) == {"enforceStatus": "ENFORCED"}


def test_prefix_detection_tries_the_standard_then_osc_and_says_when_neither_answers():
    seen = []

    def handler(request):
        seen.append(request.url.path)
        if request.url.path == "/a1-p/policytypes":
            return httpx.Response(200, json=[21000])
        return httpx.Response(404, json={"detail": "no"})

    c = NearRtA1("http://ric", retry=FAST, transport=httpx.MockTransport(handler), prefix="auto")
    assert c.list_types() == [21000] and c.prefix == "/a1-p"
    assert seen[:2] == ["/A1-P/v2/policytypes", "/a1-p/policytypes"]
    none = NearRtA1(
        "http://ric",
        retry=FAST,
        transport=httpx.MockTransport(lambda r: httpx.Response(404)),
        prefix="auto",
    )
    with pytest.raises(A1Error, match="no A1-P at"):
        none.list_types()
    with pytest.raises(ValueError, match="prefix"):
        NearRtA1("http://ric", prefix="a1-p")


def test_routed_agent_counts_routes_and_calls_and_keeps_the_epoch_on_time(xapp):
    """A route:EDGE,CLOUD agent in the service: every route decision and call is counted in
    Prometheus; a slow cloud costs no epoch (the edge's answer stands)."""
    from rapp_placement.router import RouteConfig, RoutedAgent

    svc = _service(xapp, critic=None)
    edge = Scripted(json.dumps({"shortlist": ["stay"]}))
    cloud = Scripted(json.dumps({"shortlist": [MOVE]}))
    svc.agent = RoutedAgent(edge, cloud, RouteConfig(policy="cloud", budget_s=0.6), deadline_s=0.6)
    svc.agent.on_route = svc._count_route
    ok = svc.run_epoch(2)
    assert ok.source == "llm" and ok.shortlist == [MOVE]
    assert _sample(svc, "haf_rapp_route_decisions_total", {"route": "cloud"}) == 1
    assert _sample(svc, "haf_rapp_agent_calls_total", {"backend": "scripted", "outcome": "ok"}) == 2
    cloud.delay_s = 3.0
    slow = svc.run_epoch(3)
    assert slow.duration_s < 1.5 and slow.shortlist == ["noop"]  # the edge's "stay"
    assert _sample(svc, "haf_rapp_route_decisions_total", {"route": "cloud-late"}) == 1
    assert (
        _sample(svc, "haf_rapp_agent_calls_total", {"backend": "scripted", "outcome": "late"}) == 1
    )
    svc.agent.close()


def test_config_validates_the_route_fields():
    assert RappConfig.from_dict({"route_policy": "edge", "route_cost": 0.1}).route_cost == 0.1
    with pytest.raises(ValueError, match="route_policy"):
        RappConfig.from_dict({"route_policy": "sometimes"})
    with pytest.raises(ValueError, match="lessons"):
        RappConfig.from_dict({"lessons": 3})
