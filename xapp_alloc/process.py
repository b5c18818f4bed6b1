"""One function assembles the xApp process: config → core → metrics → host → gRPC and HTTP.

Both entry points call :func:`assemble`: the RMR container (``python -m
xapp_alloc.transport.rmr``, A1 through the RIC's mediator over RMR) and ``haf xapp`` (standalone:
A1-P REST with a local policy store in the mediator's place). What differs between them is
what they pass, not how the pieces are wired.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from proto import safejson
from proto.errors import ConfigError, HafError
from proto.observation import ClusterConfig
from xapp_alloc.core import XappCore
from xapp_alloc.metrics import InstrumentedCore
from xapp_alloc.standalone import Standalone

DEFAULT_CONFIG = Path(__file__).parent / "deploy" / "config-file.json"


def load_config(path: str | Path | None = None) -> ClusterConfig:
    """The cluster from an xApp descriptor (its ``controls``) or a bare controls JSON file;
    :class:`HafError` naming the file and the field otherwise."""
    p = Path(path) if path is not None else DEFAULT_CONFIG
    data = safejson.load_file(p, "xApp config")
    if isinstance(data, dict) and "controls" in data:
        data = data["controls"]
    try:
        return ClusterConfig.from_dict(data)
    except HafError as exc:
        raise ConfigError(f"{p}: {exc}") from None


@dataclass
class XappProcess:
    host: Standalone
    instrumented: InstrumentedCore
    grpc_port: int
    http_port: int
    a1_port: int | None
    _servers: tuple

    def stop(self) -> None:
        for server in self._servers:
            server.stop()


def assemble(
    config: ClusterConfig,
    *,
    grpc_address: str,
    http_address: str,
    http_port: int,
    a1_port: int | None = None,
    state: str | Path | None = None,
    local_mediator: bool = True,
    envelope_clock: bool = False,
    clock: Callable[[], float] = time.time,
    ready: Callable[[], bool] = lambda: True,
) -> XappProcess:
    """Build and start the xApp's servers: gRPC (E2Relay, StateService) on ``grpc_address``,
    health probes and ``/metrics`` on ``http_address:http_port``, and, with ``a1_port``, the
    A1-P REST subset on loopback. ``local_mediator``: a policy store (persisted at ``state``)
    answers A1 in the mediator's place; its stored policies are re-applied now. ``ready`` is
    what the readiness probe reports (the RMR container: RMR is up)."""
    from xapp_alloc.a1.store import PolicyStore
    from xapp_alloc.health import HealthServer
    from xapp_alloc.transport.grpc_server import XappGrpc

    inst = InstrumentedCore(XappCore(config))
    store = PolicyStore(state) if local_mediator else None
    host = Standalone(inst, store, clock=clock, envelope_clock=envelope_clock)
    inst.track_staleness(host.now)
    if store is not None:
        host.start()  # A1_POLICY_QUERY answered by the store: stored policies are re-applied
    grpc = XappGrpc(host)
    grpc_port = grpc.serve(grpc_address)
    health = HealthServer(inst.registry, ready=ready, address=http_address, port=http_port)
    health.start()
    servers: list = [grpc, health]
    if a1_port is not None:
        from xapp_alloc.a1.rest import A1Server

        a1 = A1Server(host, port=a1_port)
        a1_port = a1.start()
        servers.insert(0, a1)
    return XappProcess(host, inst, grpc_port, health.port, a1_port, tuple(servers))
