"""The standalone xApp's A1-P endpoint against the O-RAN A1AP v2 standard's OpenAPI document.

Schemathesis fuzzes every operation of the standard (O-RAN.WG2.A1AP-v02.00, as OSC's A1
simulator ships it in ../shared/vendor) against the live endpoint and checks what the standard
says of each answer: no server error, a documented status code, the documented body, content
type and headers. The deliberate differences (docs/xapp.md) are listed below, each with its
reason, and checked to be exactly what the endpoint does instead. Skipped without ../shared.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks as base_checks
from schemathesis.specs.openapi import checks as oa

from a1_policies.haf_placement import POLICY_TYPE_ID
from tests import osc
from tests.test_a1_rest import _serve

pytestmark = pytest.mark.osc
DOC = osc.a1ap_v2_document()
if DOC is None:
    pytest.skip(f"A1AP v2 document not available: {osc.MISSING['a1ap']}", allow_module_level=True)

#: (method, path, status) the standard does not document, and why we answer it anyway.
STATUS_DEVIATIONS = {
    ("GET", "/policytypes/{policyTypeId}/policies", 404): "a type we do not have (the "
    "standard lists no 404 for this operation; OSC's mediator answers 404 too)",
    ("PUT", "/policytypes/{policyTypeId}/policies/{policyId}", 404): "a type we do not have",
}
#: Operations whose 200 body differs on purpose.
BODY_DEVIATIONS = {
    ("GET", "/policytypes"): "type ids are integers, as OSC's A1 mediator lists them (the "
    "standard's PolicyTypeId is a string); our clients read both",
}


def status_code_conformance(ctx, response, case):
    if (case.method.upper(), case.operation.path, response.status_code) in STATUS_DEVIATIONS:
        return None
    return oa.status_code_conformance(ctx, response, case)


def response_schema_conformance(ctx, response, case):
    if (case.method.upper(), case.operation.path) in BODY_DEVIATIONS:
        return None
    return oa.response_schema_conformance(ctx, response, case)


CHECKS = [
    base_checks.not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    oa.content_type_conformance,
    oa.response_headers_conformance,
]


@pytest.fixture(scope="module")
def live():
    _host, server, url = _serve()
    yield url
    server.stop()


schema = schemathesis.openapi.from_path(DOC)


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_standalone_a1_endpoint_against_the_a1ap_v2_standard(case, live):
    case.call_and_validate(base_url=f"{live}/A1-P/v2", checks=CHECKS)


def test_the_deviations_are_what_the_endpoint_does(live):
    base = f"{live}/A1-P/v2"
    assert httpx.get(f"{base}/policytypes").json() == [POLICY_TYPE_ID]
    assert httpx.get(f"{base}/policytypes/no-such/policies").status_code == 404
    r = httpx.put(f"{base}/policytypes/no-such/policies/p", json={"epoch": 1, "migrations": []})
    assert r.status_code == 404
    # The type object carries the standard's form and OSC's at once.
    t = httpx.get(f"{base}/policytypes/{POLICY_TYPE_ID}").json()
    assert {"policySchema", "statusSchema", "create_schema", "policy_type_id"} <= set(t)
