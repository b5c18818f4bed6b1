"""The subscription manager request: exact JSON shape and bytes (tested against a mock server)."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from xapp_alloc.e2 import codec
from xapp_alloc.subscription import SUBMGR_URL, subscribe, subscription_request

IDS = ["du-1", "cu-up-1", "large-ai-1"]


def test_request_has_the_submgr_shape_and_kpm_bytes():
    req = subscription_request("balanced-1", IDS, 10000)
    assert set(req) == {
        "SubscriptionId",
        "ClientEndpoint",
        "Meid",
        "RANFunctionID",
        "SubscriptionDetails",
    }
    assert req["ClientEndpoint"] == {
        "Host": "service-ricxapp-haf-xapp-http.ricxapp",
        "HTTPPort": 8080,
        "RMRPort": 4560,
    }
    assert req["Meid"] == "balanced-1" and req["RANFunctionID"] == 2
    (detail,) = req["SubscriptionDetails"]
    # KPM event trigger Format 1, reporting period 10,000 ms: bytes 8, 39, 15 (as the standard).
    assert detail["EventTriggers"] == [8, 39, 15]
    (action,) = detail["ActionToBeSetupList"]
    assert action["ActionType"] == "report" and action["ActionID"] == 1
    assert all(isinstance(b, int) and 0 <= b < 256 for b in action["ActionDefinition"])
    names, period = codec.decode_action_definition(bytes(action["ActionDefinition"]))
    assert names == codec.measurement_names(IDS) and period == 10000
    assert names[:2] == ["HAF.WorkGpu.du-1", "HAF.WorkCpu.du-1"]
    assert len(names) == len(codec.FIELDS) * len(IDS)
    json.dumps(req)  # plain JSON


@respx.mock
def test_subscribe_posts_and_reports_errors():
    route = respx.post(SUBMGR_URL).mock(
        return_value=httpx.Response(
            201, json={"SubscriptionId": "abc", "SubscriptionInstances": []}
        )
    )
    req = subscription_request("balanced-1", IDS, 100)
    assert subscribe(req)["SubscriptionId"] == "abc"
    assert json.loads(route.calls.last.request.content) == req
    respx.post(SUBMGR_URL).mock(return_value=httpx.Response(400, text="bad Meid"))
    with pytest.raises(RuntimeError, match="answered 400: bad Meid"):
        subscribe(req)


def test_subscribe_all_subscribes_every_node_and_retries_until_the_manager_answers():
    import httpx

    from xapp_alloc.subscription import subscribe_all

    seen = []

    def handler(req: httpx.Request) -> httpx.Response:
        body = json.loads(req.content)
        seen.append(body["Meid"])
        if len(seen) <= 2:
            return httpx.Response(503, text="submgr starting")
        return httpx.Response(201, json={"SubscriptionId": f"sub-{body['Meid']}"})

    waits = []
    done = subscribe_all(
        ["n1", "n2"],
        ["du-1", "large-ai-1"],
        10,
        client=httpx.Client(transport=httpx.MockTransport(handler)),
        sleep=waits.append,
    )
    assert done == {"n1": "sub-n1", "n2": "sub-n2"}
    assert seen == ["n1", "n1", "n1", "n2"] and waits == [2.0, 4.0]


def test_subscribe_all_gives_up_on_a_node_and_goes_on():
    import httpx

    from xapp_alloc.subscription import subscribe_all

    def handler(req: httpx.Request) -> httpx.Response:
        meid = json.loads(req.content)["Meid"]
        if meid == "dead":
            return httpx.Response(400, text="no such E2 node")
        return httpx.Response(200, json={"SubscriptionId": "s"})

    done = subscribe_all(
        ["dead", "ok"],
        ["du-1"],
        10,
        attempts=3,
        client=httpx.Client(transport=httpx.MockTransport(handler)),
        sleep=lambda s: None,
    )
    assert done == {"ok": "s"}
