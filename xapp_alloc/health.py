"""The xApp's HTTP port (8080 in the descriptor): OSC health probes and Prometheus metrics.

``GET /ric/v1/health/alive`` and ``/ric/v1/health/ready`` are the paths the descriptor's
liveness and readiness probes call (as ricxappframe xApps serve them); ``/metrics`` is the
registry of :class:`~xapp_alloc.metrics.InstrumentedCore`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from xapp_alloc.httpd import BackgroundServer, QuietHandler

log = logging.getLogger(__name__)

ALIVE, READY = "/ric/v1/health/alive", "/ric/v1/health/ready"
SUB_RESPONSE = "/ric/v1/subscriptions/response"


class HealthServer(BackgroundServer):
    def __init__(
        self,
        registry: CollectorRegistry,
        ready: Callable[[], bool] = lambda: True,
        address: str = "0.0.0.0",
        port: int = 8080,
    ) -> None:
        class Handler(QuietHandler):
            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0].rstrip("/")
                if path == "/metrics":
                    self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
                elif path == ALIVE:
                    self._send(200, b'{"status": "alive"}', "application/json")
                elif path == READY:
                    ok = ready()
                    body = json.dumps({"status": "ready" if ok else "not ready"}).encode()
                    self._send(200 if ok else 503, body, "application/json")
                else:
                    self._send(404, b'{"detail": "no such resource"}', "application/json")

            def do_POST(self) -> None:
                # The subscription manager reports each subscription's result here.
                if self.path.split("?", 1)[0].rstrip("/") != SUB_RESPONSE:
                    self._send(404, b'{"detail": "no such resource"}', "application/json")
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, 65536)) if length > 0 else b""
                log.info("subscription response: %s", body[:500].decode(errors="replace"))
                self._send(200, b"{}", "application/json")

        super().__init__(Handler, address, port, "http")
