"""A1-P v2 REST adapter of the standalone xApp: the O-RAN A1AP v2 policy operations, plus OSC's.

The standard's operations under ``/A1-P/v2`` (list types, get a type, list, put, get, delete a
policy, its status) with the standard's codes (PUT: 201 + Location when created, 200 when
updated, each with the policy; DELETE: 204; an id it does not have: 404), and what the OSC A1
mediator adds (``healthcheck``, ``PUT`` of the built-in type). A PUT of a policy instance is
validated against the HAF policy type (400 names the field), stored, and handed to the core as
the A1_POLICY_REQ the mediator would send over RMR; the core's A1_POLICY_RESP sets the
instance's status (``OK`` → ENFORCED; an ``ERROR`` keeps the instance NOT_ENFORCED with the
core's reason in ``detail``). Deliberate differences from the standard are in docs/xapp.md.
The document is ``xapp_alloc/deploy/a1-openapi.json``. Standard library HTTP server: one thread
per request, all of them serialised on the core by :class:`~xapp_alloc.standalone.Standalone`.
"""

from __future__ import annotations

import json
import logging
import re
from http import HTTPStatus
from typing import Any

import jsonschema

from a1_policies.haf_placement import (
    MAX_REQUEST_DEPTH,
    POLICY_TYPE_ID,
    PolicyError,
    a1ap_policy_type,
    osc_policy_type,
    validate_policy,
)
from proto import safejson
from proto.errors import HafError
from xapp_alloc.a1.openapi import BASE, INSTANCE_ID_PATTERN, document
from xapp_alloc.a1.store import PolicyStore
from xapp_alloc.httpd import BackgroundServer, QuietHandler
from xapp_alloc.standalone import Standalone

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
_INSTANCE_ID = re.compile(INSTANCE_ID_PATTERN)
_TYPE_VALIDATOR = jsonschema.Draft7Validator(document()["components"]["schemas"]["PolicyType"])
_ROUTE = re.compile(
    rf"^{re.escape(BASE)}/(?:(?P<health>healthcheck)|policytypes"
    r"(?:/(?P<type>[^/]+)(?:/policies(?P<list>/?)(?:/(?P<iid>[^/]+)(?P<status>/status)?)?)?)?)/?$"
)


class ApiError(Exception):
    def __init__(self, status: HTTPStatus, detail: str, allow: str = "") -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.allow = allow  # for 405: the methods the resource has


class A1Api:
    """The operations, free of HTTP: (method, path, body) → (status, JSON body or None)."""

    def __init__(self, host: Standalone) -> None:
        if host.store is None:  # serving A1-P makes the host its own A1 mediator
            host.store = PolicyStore()
        self.host = host
        self.store = host.store

    def dispatch(
        self, method: str, path: str, body: bytes | None, ctype: str
    ) -> tuple[int, Any] | tuple[int, Any, dict[str, str]]:
        """(status, JSON body or None[, headers]) of one request; :class:`ApiError` else."""
        m = _ROUTE.match(path.split("?", 1)[0])
        if m is None:
            raise ApiError(HTTPStatus.NOT_FOUND, f"no such resource: {path}")
        if m["health"]:
            return self._only(method, "GET") or (200, {"status": "OK"})
        if m["type"] is None:
            return self._only(method, "GET") or (200, [POLICY_TYPE_ID])
        type_id = self._type_id(m["type"])
        if m["iid"] is None and m["list"] is None:
            return self._type(method, type_id, m["type"], body, ctype)
        if type_id != POLICY_TYPE_ID:
            raise ApiError(HTTPStatus.NOT_FOUND, f"no policy type {m['type'][:40]!r}")
        if m["iid"] is None:
            return self._only(method, "GET") or (200, sorted(self.store.records))
        iid = m["iid"]
        valid_id = _INSTANCE_ID.match(iid) is not None
        if m["status"]:
            self._only(method, "GET")
            return 200, self._record(iid).status()
        if method == "GET":
            return 200, self._record(iid).policy
        if method == "DELETE":
            self._record(iid)
            self.host.a1(self.store.delete(iid))
            return 204, None
        if method == "PUT":
            if not valid_id:
                raise ApiError(
                    HTTPStatus.BAD_REQUEST,
                    f"policy instance id {iid[:80]!r} must match {INSTANCE_ID_PATTERN}",
                )
            policy = self._json_body(body, ctype)
            try:
                validate_policy(policy)
            except PolicyError as exc:
                raise ApiError(HTTPStatus.BAD_REQUEST, str(exc)) from None
            with self.host.lock:  # store and core change together
                existed = iid in self.store.records
                self.host.a1(self.store.put(iid, policy))
            if existed:  # the standard's codes: 200 updated, 201 created with its Location
                return 200, policy
            where = f"{BASE}/policytypes/{POLICY_TYPE_ID}/policies/{iid}"
            return 201, policy, {"Location": where}
        raise ApiError(
            HTTPStatus.METHOD_NOT_ALLOWED, f"{method} not allowed on {path}", "GET, PUT, DELETE"
        )

    # --- helpers ------------------------------------------------------------------------------
    @staticmethod
    def _only(method: str, allowed: str) -> None:
        if method != allowed:
            raise ApiError(
                HTTPStatus.METHOD_NOT_ALLOWED, f"only {allowed} is allowed here", allowed
            )

    @staticmethod
    def _type_id(text: str) -> int | None:
        """The type id of a path, or None if it is not one (no such type: 404, as the
        standard answers for an id it does not have; creating one needs an integer: 400)."""
        if not (text.isascii() and text.isdigit() and len(text) <= 10):
            return None
        value = int(text)
        return value if 1 <= value <= 2**31 - 1 else None

    def _record(self, iid: str):
        rec = self.store.records.get(iid) if _INSTANCE_ID.match(iid) else None
        if rec is None:
            raise ApiError(
                HTTPStatus.NOT_FOUND, f"no policy instance {iid!r} of type {POLICY_TYPE_ID}"
            )
        return rec

    @staticmethod
    def _json_body(body: bytes | None, ctype: str) -> Any:
        if "json" not in ctype.lower():
            raise ApiError(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"content type {ctype or 'none'!r} is not JSON"
            )
        try:  # bounded; non-finite numbers are left for the validator to name
            return safejson.loads(body or b"", "body", MAX_BODY, MAX_REQUEST_DEPTH, finite=False)
        except HafError as exc:
            raise ApiError(HTTPStatus.BAD_REQUEST, str(exc)) from None

    def _type(
        self, method: str, type_id: int | None, text: str, body: bytes | None, ctype: str
    ) -> tuple[int, Any]:
        if method == "GET":
            if type_id != POLICY_TYPE_ID:
                raise ApiError(HTTPStatus.NOT_FOUND, f"no policy type {text[:40]!r}")
            # Both forms at once: the standard's {policySchema, statusSchema} and the OSC
            # mediator's {name, description, policy_type_id, create_schema}.
            return 200, a1ap_policy_type() | osc_policy_type()
        if method == "PUT":
            if type_id is None:
                raise ApiError(
                    HTTPStatus.BAD_REQUEST, f"policy type id {text[:40]!r} is not an integer"
                )
            doc = self._json_body(body, ctype)
            if type_id != POLICY_TYPE_ID:
                raise ApiError(
                    HTTPStatus.BAD_REQUEST,
                    f"this xApp handles only its built-in policy type {POLICY_TYPE_ID}",
                )
            err = next(iter(_TYPE_VALIDATOR.iter_errors(doc)), None)
            if err is not None:
                where = ".".join(str(p) for p in err.absolute_path) or "body"
                raise ApiError(HTTPStatus.BAD_REQUEST, f"policy type {where}: {err.message}")
            return 201, None
        raise ApiError(
            HTTPStatus.METHOD_NOT_ALLOWED,
            f"{method} not allowed on policy types (the built-in type cannot be deleted)",
            "GET, PUT",
        )


class _Handler(QuietHandler):
    api: A1Api  # set on the subclass made by A1Server
    server_version = "haf-xapp-a1"

    def _serve(self, method: str) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self._send(400, {"status": 400, "title": "Bad Request", "detail": "bad Content-Length"})
            return
        if length > MAX_BODY:
            self._send(
                413, {"status": 413, "title": "Payload Too Large", "detail": f"{length} bytes"}
            )
            return
        body = self.rfile.read(length) if length else None
        try:
            status, out, *extra = self.api.dispatch(
                method, self.path, body, self.headers.get("Content-Type", "")
            )
        except ApiError as exc:
            if exc.status >= 400:
                log.info("A1 %s %s -> %d: %s", method, self.path, exc.status, exc.detail)
            self._send(
                int(exc.status),
                {"status": int(exc.status), "title": exc.status.phrase, "detail": exc.detail},
                exc.allow,
            )
            return
        except Exception as exc:  # a bug must not kill the server thread or leak a trace
            log.exception("A1 %s %s failed", method, self.path)
            self._send(
                500, {"status": 500, "title": "Internal Server Error", "detail": type(exc).__name__}
            )
            return
        self._send(status, out, headers=extra[0] if extra else None)

    def _send(
        self, status: int, body: Any, allow: str = "", headers: dict[str, str] | None = None
    ) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if allow:
            self.send_header("Allow", allow)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body is not None:
            problem = status >= 400
            self.send_header(
                "Content-Type", "application/problem+json" if problem else "application/json"
            )
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def __getattr__(self, name: str):
        # Every method token (GET, PUT, ... QUERY, PROPFIND) reaches dispatch, which answers 405
        # where the document lists none (http.server alone would answer 501).
        if name.startswith("do_"):
            return lambda: self._serve(name[3:])
        raise AttributeError(name)


class A1Server(BackgroundServer):
    """Serves :class:`A1Api` on a thread; ``port`` 0 picks a free one."""

    def __init__(self, host: Standalone, address: str = "127.0.0.1", port: int = 10000) -> None:
        handler = type("Handler", (_Handler,), {"api": A1Api(host)})
        super().__init__(handler, address, port, "a1-rest")
