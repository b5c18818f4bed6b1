"""A standard-library HTTP server on a daemon thread, shared by the xApp's HTTP adapters
(the A1-P REST endpoint, the health/metrics port)."""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger(__name__)


class QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, fmt: str, *args) -> None:  # through logging, not stderr
        log.debug("%s " + fmt, self.address_string(), *args)


class BackgroundServer:
    """``handler`` served on ``(address, port)`` (port 0 picks a free one) until :meth:`stop`."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], address: str, port: int, name: str):
        self.httpd = ThreadingHTTPServer((address, port), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name=name, daemon=True)

    def start(self) -> int:
        self.thread.start()
        return self.port

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
