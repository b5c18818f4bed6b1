"""The E2 subscription request to the OSC subscription manager, built here.

ricxappframe 3.2.2's client (``xapp_subscribe.py``) sends snake_case keys to the wrong URL, so
the xApp builds the REST body itself (ric-plt-submgr user guide): ``POST
{submgr}/ric/v1/subscriptions`` with the client endpoint, the E2 node (MEID), the KPM RAN
function, and one subscription detail whose event trigger (KPM Format 1: reporting period) and
action definition (KPM Format 1: the ``HAF.*`` catalogue, docs/e2-kpm.md) travel as lists of
byte values. The result is POSTed back to the xApp at ``/ric/v1/subscriptions/response``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from xapp_alloc.e2 import codec

log = logging.getLogger(__name__)

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


def subscribe(
    request: dict[str, Any], url: str = SUBMGR_URL, timeout_s: float = 5.0, client=None
) -> dict:
    """POST one subscription request; returns the manager's answer (``SubscriptionId``...)."""
    import httpx

    try:
        if client is not None:
            resp = client.post(url, json=request, timeout=timeout_s)
        else:
            resp = httpx.post(url, json=request, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise RuntimeError(f"subscription manager unreachable: {exc}") from None
    if resp.status_code not in (200, 201):
        raise RuntimeError(f"subscription manager answered {resp.status_code}: {resp.text[:300]}")
    return resp.json()


def subscribe_all(
    node_ids: Sequence[str],
    instance_ids: Sequence[str],
    reporting_period_ms: int,
    url: str = SUBMGR_URL,
    host: str = "service-ricxapp-haf-xapp-http.ricxapp",
    attempts: int = 10,
    backoff_s: float = 2.0,
    client=None,
    sleep=time.sleep,
) -> dict[str, str]:
    """Subscribe to every E2 node of the config (one KPM report subscription each), retrying
    each with a growing backoff while the manager or the node is not there yet. Returns
    ``{node: SubscriptionId}`` for those that succeeded; the others are logged."""
    done: dict[str, str] = {}
    for k, meid in enumerate(node_ids):
        req = subscription_request(
            meid, instance_ids, reporting_period_ms, host, event_instance_id=k + 1
        )
        wait = backoff_s
        for attempt in range(attempts):
            try:
                done[meid] = str(subscribe(req, url, client=client).get("SubscriptionId", ""))
                log.info("subscribed to %s: %s", meid, done[meid])
                break
            except RuntimeError as exc:
                log.warning(
                    "subscription to %s failed (%d/%d): %s", meid, attempt + 1, attempts, exc
                )
                if attempt + 1 < attempts:
                    sleep(wait)
                    wait = min(wait * 2, 60.0)
    return done
