"""Prometheus metrics around the core: values follow what the core did."""

from __future__ import annotations

import json
from pathlib import Path

from prometheus_client import generate_latest

from tests.test_xapp import CONFIG, _indication, a1
from xapp_alloc import core as xc
from xapp_alloc.e2 import codec
from xapp_alloc.metrics import InstrumentedCore

DEPLOY = Path(__file__).resolve().parents[1] / "xapp_alloc" / "deploy"


def value(ic, name, **labels):
    return ic.registry.get_sample_value(name, labels or None)


def test_metrics_follow_the_core():
    ic = InstrumentedCore(xc.XappCore(CONFIG))
    meas = [codec.InstanceMeasurement("du-1", 5e10, 0, 2000.0, 5e10, 5e-4, 0, False)]
    (ctl,) = ic.handle(xc.RIC_INDICATION, _indication(meas), 1.0, meid="balanced-1")
    ic.handle(xc.RIC_INDICATION, b"\x00bad", 1.1)
    ic.handle(xc.A1_POLICY_REQ, a1({"epoch": 1, "migrations": []}), 1.2)
    ic.handle(
        xc.A1_POLICY_REQ,
        a1({"epoch": 2, "migrations": [{"instance_id": "ghost", "to_node": "tiny"}]}),
        1.3,
    )
    assert value(ic, "haf_xapp_indications_total") == 1
    assert value(ic, "haf_xapp_dropped_messages_total", kind="e2ap") == 1
    assert value(ic, "haf_xapp_a1_policies_total", result="applied") == 1
    assert value(ic, "haf_xapp_a1_policies_total", result="rejected") == 1
    assert value(ic, "haf_xapp_handle_seconds_count", mtype="RIC_INDICATION") == 2
    g = value(ic, "haf_xapp_allocation", node="balanced-1", instance="du-1", resource="gpu")
    assert g == ic.core.views["balanced-1"].allocation["du-1"][0] > 0
    assert value(ic, "haf_xapp_ran_infeasible_nodes") == 0
    # A report older than stale_after_s (1 s) makes its node stale.
    ic.handle(xc.A1_POLICY_REQ, a1({"epoch": 3, "migrations": []}), 5.0)
    assert value(ic, "haf_xapp_stale_nodes") == 1
    text = generate_latest(ic.registry).decode()
    assert "haf_xapp_handle_seconds_bucket" in text
    assert ctl.mtype == xc.RIC_CONTROL_REQ and ctl.meid == "balanced-1"


def test_health_server_answers_the_descriptor_probes_and_serves_metrics():
    import httpx

    from xapp_alloc.health import ALIVE, READY, HealthServer

    ready = {"ok": False}
    inst = InstrumentedCore(xc.XappCore(CONFIG))
    server = HealthServer(inst.registry, lambda: ready["ok"], "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.start()}"
    try:
        desc = json.loads((DEPLOY / "config-file.json").read_text())
        assert desc["livenessProbe"]["httpGet"]["path"] == ALIVE.lstrip("/")
        assert desc["readinessProbe"]["httpGet"]["path"] == READY.lstrip("/")
        assert httpx.get(url + ALIVE).status_code == 200
        assert httpx.get(url + READY).status_code == 503
        ready["ok"] = True
        assert httpx.get(url + READY).status_code == 200
        assert "haf_xapp_indications_total 0.0" in httpx.get(url + "/metrics").text
        assert httpx.get(url + "/nope").status_code == 404
        resp = httpx.post(url + "/ric/v1/subscriptions/response", json={"SubscriptionId": "7"})
        assert resp.status_code == 200  # the subscription manager's callback is accepted
        assert httpx.post(url + "/elsewhere", json={}).status_code == 404
    finally:
        server.stop()
