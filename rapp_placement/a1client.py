"""Ways down for the rApp's policies: a near-RT RIC's A1-P v2 or a Non-RT RIC PMS (v2 API).

Both speak the same small interface (:class:`A1Target`): make sure the HAF policy type is known,
put an instance, read its status, get, delete. Transport failures and 5xx answers are retried
with exponential backoff up to ``retries`` times; a 4xx answer is not (the request itself is
wrong) and raises :class:`A1Error` carrying the status and the server's body, which callers log.

* :class:`NearRtA1`: the OSC A1 mediator (``/A1-P/v2``: GET the type, PUT it if missing with
  the OSC ``create_schema`` form, PUT the instance → 202, GET ``…/status``) — or the
  standalone xApp's endpoint, which serves the same paths.
* :class:`Pms`: the Non-RT RIC Policy Management Service (``/a1-policy/v2``): register the
  service with a keep-alive, check the RIC offers the type (the PMS learns types from the RIC
  and cannot create them), ``PUT /policies`` with ``ric_id, policy_id, policytype_id,
  policy_data, service_id``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from a1_policies.haf_placement import POLICY_TYPE_ID, osc_policy_type
from proto import safejson
from proto.errors import HafError, InputError

log = logging.getLogger(__name__)


class A1Error(RuntimeError):
    def __init__(self, message: str, status: int | None = None, body: str = "") -> None:
        super().__init__(message if status is None else f"{message}: HTTP {status} {body[:300]}")
        self.status = status
        self.body = body


class A1Target(Protocol):
    name: str

    def ensure_type(self) -> None: ...
    def put(self, policy_id: str, policy: dict[str, Any]) -> int: ...
    def status(self, policy_id: str) -> dict[str, Any]: ...
    def get(self, policy_id: str) -> dict[str, Any]: ...
    def delete(self, policy_id: str) -> None: ...
    def list_types(self) -> list[int]: ...


@dataclass
class Retry:
    retries: int = 3
    backoff_s: float = 0.2  # first wait; doubles each time
    timeout_s: float = 2.0  # per request


def check_base_url(base_url: str) -> str:
    """The endpoint base without a trailing slash; :class:`InputError` if it is not an
    ``http(s)://host[:port][/path]`` URL."""
    try:
        url = httpx.URL(base_url)
        ok = url.scheme in ("http", "https") and bool(url.host)
        ok = ok and (url.port is None or 1 <= url.port <= 65535)
    except (httpx.InvalidURL, ValueError, TypeError):
        ok = False
    if not ok or url.query or url.fragment:
        raise InputError(f"URL {base_url[:200]!r}: must be http(s)://HOST[:PORT][/PATH]")
    return base_url.rstrip("/")


class _Http:
    def __init__(self, base_url: str, retry: Retry, transport: httpx.BaseTransport | None) -> None:
        self.base = check_base_url(base_url)
        self.retry = retry
        self.client = httpx.Client(timeout=retry.timeout_s, transport=transport)

    def json(self, method: str, path: str, expect: type, **kw) -> Any:
        """:meth:`call`, and its body as JSON of type ``expect`` (bounded parse); a body that is
        not is the peer's error (:class:`A1Error`), not ours."""
        resp = self.call(method, path, **kw)
        try:
            body = safejson.loads(resp.content, "A1 answer")
        except HafError as exc:
            raise A1Error(f"{method} {self.base}{path}: {exc}", resp.status_code) from None
        if not isinstance(body, expect):
            raise A1Error(
                f"{method} {self.base}{path}: expected a JSON {expect.__name__}, "
                f"got {type(body).__name__}",
                resp.status_code,
            )
        return body

    def call(
        self, method: str, path: str, json: Any = None, ok: tuple[int, ...] = (200,), **kw
    ) -> httpx.Response:
        url = f"{self.base}{path}"
        wait = self.retry.backoff_s
        for attempt in range(self.retry.retries + 1):
            last = attempt == self.retry.retries
            try:
                resp = self.client.request(method, url, json=json, **kw)
            except httpx.HTTPError as exc:
                if last:
                    raise A1Error(f"{method} {url}: {type(exc).__name__}: {exc}") from None
                log.warning("%s %s: %s; retry in %.2f s", method, url, exc, wait)
            else:
                if resp.status_code in ok:
                    return resp
                if resp.status_code < 500 or last:
                    raise A1Error(f"{method} {url}", resp.status_code, resp.text)
                log.warning("%s %s: HTTP %d; retry in %.2f s", method, url, resp.status_code, wait)
            time.sleep(wait)
            wait *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        self.client.close()


#: Where a near-RT RIC serves A1-P: the O-RAN A1AP v2 standard (the OSC Go mediator, the
#: simulator's STD_2.0.0 flavour, our standalone xApp) or OSC's own older flavour (the Python
#: mediator 2.x, the simulator's OSC_2.1.0).
PREFIXES = ("/A1-P/v2", "/a1-p")
#: The older mediator's status words for ``instance_status``.
_INSTANCE_STATUS = {"IN EFFECT": "ENFORCED", "NOT IN EFFECT": "NOT_ENFORCED"}


def normalise_status(body: dict[str, Any]) -> dict[str, Any]:
    """A policy status in the standard form ``{enforceStatus[, enforceReason]...}``: the older
    mediator's ``{"instance_status": "IN EFFECT" | "NOT IN EFFECT", ...}`` is translated (its
    other fields kept), a standard answer is returned as it is."""
    if "enforceStatus" in body or "instance_status" not in body:
        return body
    out = dict(body)
    word = str(body["instance_status"]).upper()
    out["enforceStatus"] = _INSTANCE_STATUS.get(word, "NOT_ENFORCED")
    if out["enforceStatus"] != "ENFORCED":
        out.setdefault("enforceReason", "OTHER_REASON")
    return out


class NearRtA1:
    """The A1-P northbound of a near-RT RIC (OSC A1 mediator, port 10000).

    ``prefix``: ``/A1-P/v2`` (the standard), ``/a1-p`` (OSC's older flavour), or ``auto``:
    found on first use by asking each for its policy types.
    """

    def __init__(
        self,
        base_url: str,
        type_id: int = POLICY_TYPE_ID,
        retry: Retry | None = None,
        transport: httpx.BaseTransport | None = None,
        prefix: str = "/A1-P/v2",
    ) -> None:
        if prefix != "auto" and not (prefix.startswith("/") and "?" not in prefix):
            raise InputError(f"A1 path prefix {prefix!r}: must be 'auto' or start with '/'")
        self.http = _Http(base_url, retry or Retry(), transport)
        self.type_id = type_id
        self._prefix = None if prefix == "auto" else prefix.rstrip("/")
        self.name = f"a1p:{self.http.base}"

    @property
    def prefix(self) -> str:
        """The path prefix in use (detected on first use when configured as ``auto``)."""
        if self._prefix is None:
            for candidate in PREFIXES:
                try:
                    self.http.json("GET", f"{candidate}/policytypes", list)
                except A1Error:
                    continue
                self._prefix = candidate
                log.info("A1-P found at %s%s", self.http.base, candidate)
                break
            else:
                raise A1Error(
                    f"no A1-P at {self.http.base}: neither {' nor '.join(PREFIXES)}/policytypes "
                    "answers a list"
                )
        return self._prefix

    def _p(self, policy_id: str = "") -> str:
        base = f"{self.prefix}/policytypes/{self.type_id}"
        return f"{base}/policies/{policy_id}" if policy_id else base

    def health(self) -> bool:
        """Whether the endpoint answers its policy-type list (a path every flavour has; the
        standard defines no health check)."""
        try:
            self.list_types()
        except A1Error:
            return False
        return True

    def list_types(self) -> list[int]:
        ids = self.http.json("GET", f"{self.prefix}/policytypes", list)
        return [int(t) for t in ids if isinstance(t, int) or (isinstance(t, str) and t.isdigit())]

    def ensure_type(self) -> None:
        try:
            self.http.call("GET", self._p())
        except A1Error as exc:
            if exc.status != 404:
                raise
            log.info("policy type %d missing at %s: creating it", self.type_id, self.http.base)
            try:
                self.http.call("PUT", self._p(), json=osc_policy_type(), ok=(200, 201))
            except A1Error as put_exc:
                if put_exc.status in (404, 405):
                    raise A1Error(
                        f"the RIC at {self.http.base} does not offer policy type {self.type_id} "
                        "and its A1-P flavour cannot create types (load it on the RIC; the "
                        "standard's types come from the RIC itself)",
                        put_exc.status,
                        put_exc.body,
                    ) from None
                raise

    def put(self, policy_id: str, policy: dict[str, Any]) -> int:
        return self.http.call(
            "PUT", self._p(policy_id), json=policy, ok=(200, 201, 202)
        ).status_code

    def status(self, policy_id: str) -> dict[str, Any]:
        return normalise_status(self.http.json("GET", self._p(policy_id) + "/status", dict))

    def get(self, policy_id: str) -> dict[str, Any]:
        return self.http.json("GET", self._p(policy_id), dict)

    def list_policies(self) -> list[str]:
        return [str(i) for i in self.http.json("GET", self._p() + "/policies", list)]

    def delete(self, policy_id: str) -> None:
        self.http.call("DELETE", self._p(policy_id), ok=(200, 202, 204))


class Pms:
    """The Non-RT RIC Policy Management Service, v2 API (port 8081)."""

    def __init__(
        self,
        base_url: str,
        ric_id: str,
        service_id: str = "haf-rapp",
        keep_alive_s: int = 60,
        type_id: int = POLICY_TYPE_ID,
        retry: Retry | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.http = _Http(base_url, retry or Retry(), transport)
        self.ric_id = ric_id
        self.service_id = service_id
        self.keep_alive_s = keep_alive_s
        self.type_id = type_id
        self.name = f"pms:{self.http.base}/{ric_id}"
        self._registered_at = -float("inf")

    def register(self) -> None:
        body = {
            "service_id": self.service_id,
            "keep_alive_interval_seconds": self.keep_alive_s,
            "callback_url": "",
        }
        self.http.call("PUT", "/a1-policy/v2/services", json=body, ok=(200, 201))
        self._registered_at = time.monotonic()

    def keep_alive(self) -> None:
        """Renew the registration when half its interval has passed (PMS drops silent services
        and their policies)."""
        if time.monotonic() - self._registered_at < self.keep_alive_s / 2:
            return
        try:
            self.http.call("PUT", f"/a1-policy/v2/services/{self.service_id}/keepalive")
            self._registered_at = time.monotonic()
        except A1Error as exc:
            if exc.status != 404:
                raise
            self.register()  # the PMS forgot us (restart): register again

    def list_types(self) -> list[int]:
        body = self.http.json(
            "GET", "/a1-policy/v2/policy-types", dict, params={"ric_id": self.ric_id}
        )
        return [int(t) for t in body.get("policytype_ids", []) if str(t).isdigit()]

    def ensure_type(self) -> None:
        self.register()
        if self.type_id not in self.list_types():
            raise A1Error(
                f"RIC {self.ric_id!r} does not offer policy type {self.type_id} through the PMS "
                "(create it on the near-RT RIC: `haf a1 types --create`)"
            )

    def put(self, policy_id: str, policy: dict[str, Any]) -> int:
        self.keep_alive()
        body = {
            "ric_id": self.ric_id,
            "policy_id": policy_id,
            "policytype_id": str(self.type_id),
            "service_id": self.service_id,
            "policy_data": policy,
        }
        return self.http.call("PUT", "/a1-policy/v2/policies", json=body, ok=(200, 201)).status_code

    def status(self, policy_id: str) -> dict[str, Any]:
        body = self.http.json("GET", f"/a1-policy/v2/policies/{policy_id}/status", dict)
        inner = body.get("status") if isinstance(body, dict) else None
        return inner if isinstance(inner, dict) else body  # PMS wraps the RIC's status

    def get(self, policy_id: str) -> dict[str, Any]:
        body = self.http.json("GET", f"/a1-policy/v2/policies/{policy_id}", dict)
        return body.get("policy_data", body)

    def delete(self, policy_id: str) -> None:
        self.http.call("DELETE", f"/a1-policy/v2/policies/{policy_id}", ok=(200, 204))


def wait_enforced(
    target: A1Target,
    policy_id: str,
    timeout_s: float,
    poll_s: float = 0.05,
    settle_s: float = 0.25,
) -> dict:
    """Poll the instance's status until it is final, or the timeout; returns the last status.

    Final: ENFORCED; NOT_ENFORCED with a specific reason (the xApp refused it); or NOT_ENFORCED
    that stays so for ``settle_s`` — a real mediator reports NOT_ENFORCED/OTHER_REASON both
    before the xApp has answered and after it refused (the Go mediator says OTHER_REASON for
    any answer but OK), so the refusal is known once the answer's time has passed, not at the
    end of the timeout.
    """
    deadline = time.monotonic() + timeout_s
    not_since: float | None = None
    st: dict[str, Any] = {}
    while True:
        st = target.status(policy_id)
        now = time.monotonic()
        state = st.get("enforceStatus")
        if state == "ENFORCED":
            return st
        if state == "NOT_ENFORCED":
            if st.get("enforceReason") not in (None, "OTHER_REASON"):
                return st  # refused with a reason: waiting will not change it
            not_since = now if not_since is None else not_since
            if now - not_since >= settle_s:
                return st
        else:
            not_since = None
        if now >= deadline:
            return st
        time.sleep(poll_s)
