"""The E2 subscription request to the OSC subscription manager, built here.

ricxappframe 3.2.2's client (``xapp_subscribe.py``) sends snake_case keys to the wrong URL, so
the xApp builds the REST body itself (ric-plt-submgr user guide): ``POST
{submgr}/ric/v1/subscriptions`` with the client endpoint, the E2 node (MEID), the KPM RAN
function, and one subscription detail whose event trigger (KPM Format 1: reporting period) and
action definition (KPM Format 1: the ``HAF.*`` catalogue, docs/e2-kpm.md) travel as lists of
byte values. The result is POSTed back to the xApp at ``/ric/v1/subscriptions/response``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from xapp_alloc.e2 import codec

SUBMGR_URL = "http://service-ricplt-submgr-http.ricplt:8088/ric/v1/subscriptions"


def subscription_request(
    meid: str,
    instance_ids: Sequence[str],
    reporting_period_ms: int,
    host: str = "service-ricxapp-haf-xapp-http.ricxapp",
    http_port: int = 8080,
    rmr_port: int = 4560,
    event_instance_id: int = 1,
    ran_function_id: int = codec.KPM_RAN_FUNCTION_ID,
) -> dict[str, Any]:
    return {
        "SubscriptionId": "",
        "ClientEndpoint": {"Host": host, "HTTPPort": http_port, "RMRPort": rmr_port},
        "Meid": meid,
        "RANFunctionID": ran_function_id,
        "SubscriptionDetails": [
            {
                "XappEventInstanceId": event_instance_id,
                "EventTriggers": list(codec.encode_event_trigger(reporting_period_ms)),
                "ActionToBeSetupList": [
                    {
                        "ActionID": 1,
                        "ActionType": "report",
                        "ActionDefinition": list(
                            codec.encode_action_definition(instance_ids, reporting_period_ms)
                        ),
                        "SubsequentAction": {
                            "SubsequentActionType": "continue",
                            "TimeToWait": "zero",
                        },
                    }
                ],
            }
        ],
    }


def subscribe(request: dict[str, Any], url: str = SUBMGR_URL, timeout_s: float = 5.0) -> dict:
    """POST one subscription request; returns the manager's answer (``SubscriptionId``...)."""
    import httpx

    resp = httpx.post(url, json=request, timeout=timeout_s)
    if resp.status_code not in (200, 201):
        raise RuntimeError(f"subscription manager answered {resp.status_code}: {resp.text[:300]}")
    return resp.json()
