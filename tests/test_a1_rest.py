"""A1-P v2 REST of the standalone xApp: contract (schemathesis, live), operations, recovery."""

from __future__ import annotations

import json

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from a1_policies.haf_placement import POLICY_TYPE_ID
from xapp_alloc import core as xc
from xapp_alloc.a1.openapi import DOC_PATH, document
from xapp_alloc.a1.rest import A1Server
from xapp_alloc.a1.store import PolicyStore
from xapp_alloc.standalone import Standalone
from xapp_alloc.transport.grpc_server import XappGrpc

from .test_xapp import CONFIG

BASE = f"/A1-P/v2/policytypes/{POLICY_TYPE_ID}"


def _serve(store: PolicyStore | None = None):
    host = Standalone(xc.XappCore(CONFIG), store, clock=lambda: 5.0)
    host.start()
    server = A1Server(host, port=0)
    server.start()
    return host, server, f"http://127.0.0.1:{server.port}"


@pytest.fixture(scope="module")
def live():
    host, server, url = _serve()
    yield host, url
    server.stop()


def test_committed_openapi_document_is_current():
    assert json.loads(DOC_PATH.read_text()) == document(), (
        "run `python -m xapp_alloc.a1.openapi` to regenerate xapp_alloc/deploy/a1-openapi.json"
    )


schema = schemathesis.openapi.from_path(DOC_PATH)


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_a1_endpoint_honours_its_openapi_contract(case, live):
    """Schemathesis fuzzes every operation against the live server: documented status codes,
    bodies matching the schemas, no 5xx, for valid and invalid input alike."""
    case.call_and_validate(base_url=live[1])


def test_put_policy_reaches_the_core_and_becomes_enforced():
    host, server, url = _serve()
    try:
        policy = {
            "epoch": 3,
            "migrations": [{"instance_id": "large-ai-1", "to_node": "gpu-heavy-1"}],
        }
        r = httpx.put(f"{url}{BASE}/policies/p1", json=policy)
        assert r.status_code == 201 and r.json() == policy  # the standard's "created"
        assert r.headers["Location"] == f"{BASE}/policies/p1"
        st = httpx.get(f"{url}{BASE}/policies/p1/status").json()
        assert st == {"enforceStatus": "ENFORCED"}
        assert host.inner.placement["large-ai-1"] == "gpu-heavy-1" and host.inner.epoch == 3
        assert httpx.get(f"{url}{BASE}/policies").json() == ["p1"]
        assert httpx.get(f"{url}{BASE}/policies/p1").json() == policy
        assert httpx.put(f"{url}{BASE}/policies/p1", json=policy).status_code == 200  # updated
        assert httpx.delete(f"{url}{BASE}/policies/p1").status_code == 204
        assert httpx.get(f"{url}{BASE}/policies/p1/status").status_code == 404
        assert host.inner.counters.policies_deleted == 1
    finally:
        server.stop()


def test_bad_policy_names_the_field_and_keeps_the_last_good_one():
    _host, server, url = _serve()
    try:
        good = {"epoch": 1, "migrations": []}
        assert httpx.put(f"{url}{BASE}/policies/p", json=good).status_code == 201
        bad = {"epoch": 2, "migrations": [{"instance_id": "large-ai-1"}]}
        r = httpx.put(f"{url}{BASE}/policies/p", json=bad)
        assert r.status_code == 400
        assert "migrations[0]" in r.json()["detail"] and "to_node" in r.json()["detail"]
        assert httpx.get(f"{url}{BASE}/policies/p").json() == good
        r = httpx.put(
            f"{url}{BASE}/policies/p", content=b"{", headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 400 and "not JSON" in r.json()["detail"]
        r = httpx.put(
            f"{url}{BASE}/policies/p", content=b"x", headers={"Content-Type": "text/plain"}
        )
        assert r.status_code == 415
        assert httpx.put(f"{url}/A1-P/v2/policytypes/7/policies/p", json=good).status_code == 404
    finally:
        server.stop()


def test_policy_the_core_refuses_is_stored_not_enforced_with_the_reason():
    host, server, url = _serve()
    try:
        policy = {"epoch": 1, "migrations": [{"instance_id": "large-ai-1", "to_node": "mars"}]}
        assert httpx.put(f"{url}{BASE}/policies/p", json=policy).status_code == 201
        st = httpx.get(f"{url}{BASE}/policies/p/status").json()
        assert st["enforceStatus"] == "NOT_ENFORCED" and "mars" in st["detail"]
        assert host.inner.placement["large-ai-1"] == "balanced-1"
    finally:
        server.stop()


def test_restarted_xapp_recovers_its_policies_from_the_store(tmp_path):
    """The A1_POLICY_QUERY the core sends at start is answered with a CREATE per stored
    instance, so a new process enforces the same placement; the migration is not re-issued
    when the destination node already reports the instance."""
    path = tmp_path / "a1.json"
    _host, server, url = _serve(PolicyStore(path))
    policy = {"epoch": 4, "migrations": [{"instance_id": "large-ai-1", "to_node": "gpu-heavy-1"}]}
    assert httpx.put(f"{url}{BASE}/policies/haf-epoch-4", json=policy).status_code == 201
    server.stop()

    host2, server2, url2 = _serve(PolicyStore(path))
    try:
        assert host2.inner.placement["large-ai-1"] == "gpu-heavy-1" and host2.inner.epoch == 4
        assert httpx.get(f"{url2}{BASE}/policies/haf-epoch-4/status").json() == {
            "enforceStatus": "ENFORCED"
        }
    finally:
        server2.stop()


def test_damaged_state_file_is_set_aside_and_the_xapp_starts_empty(tmp_path):
    path = tmp_path / "a1.json"
    path.write_text("{not json")
    store = PolicyStore(path)
    assert store.records == {} and (tmp_path / "a1.corrupt").exists()


def test_grpc_and_a1_share_one_core():
    """A policy PUT over REST shows in the snapshot the rApp reads over gRPC."""
    import grpc

    from proto import haf_pb2, haf_pb2_grpc

    host, server, url = _serve()
    g = XappGrpc(host)
    port = g.serve("127.0.0.1:0")
    try:
        policy = {
            "epoch": 2,
            "migrations": [{"instance_id": "large-ai-1", "to_node": "gpu-heavy-1"}],
        }
        assert httpx.put(f"{url}{BASE}/policies/x", json=policy).status_code == 201
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            snap = haf_pb2_grpc.StateServiceStub(ch).GetSnapshot(haf_pb2.SnapshotRequest())
        assert snap.epoch == 2
        assert {i.instance_id: i.node_id for i in snap.instances}["large-ai-1"] == "gpu-heavy-1"
    finally:
        g.stop()
        server.stop()
