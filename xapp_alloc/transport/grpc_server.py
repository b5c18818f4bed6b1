"""gRPC transport (standalone mode and tests): E2 envelopes in, controls out; the snapshot.

``E2Relay.Connect`` is a bidirectional stream of the envelopes RMR would carry (message type,
subscription id, MEID, payload): each inbound envelope goes through the core and its outputs
come back on the same stream. ``StateService.GetSnapshot`` serves the rApp the state snapshot
(``XappCore.snapshot``). One lock serialises access to the single-threaded core.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures

import grpc

from proto import haf_pb2, haf_pb2_grpc
from xapp_alloc import core as xc


class XappGrpc:
    def __init__(self, core, clock: Callable[[], float] = time.time) -> None:
        """``core``: an :class:`XappCore` or an ``InstrumentedCore`` around one."""
        self.core = core
        self.inner: xc.XappCore = getattr(core, "core", core)
        self.clock = clock
        self.lock = threading.Lock()
        self.server: grpc.Server | None = None

    def _handle(self, env: haf_pb2.Envelope) -> list[xc.Message]:
        with self.lock:
            return self.core.handle(env.mtype, env.payload, self.clock(), env.sub_id, env.meid)

    def serve(self, address: str = "127.0.0.1:50051", workers: int = 4) -> int:
        """Start serving; returns the bound port (``address`` may end in ``:0``)."""
        outer = self

        class Relay(haf_pb2_grpc.E2RelayServicer):
            def Connect(self, request_iterator, context) -> Iterator[haf_pb2.Envelope]:
                for env in request_iterator:
                    for out in outer._handle(env):
                        yield haf_pb2.Envelope(
                            mtype=out.mtype,
                            sub_id=out.sub_id,
                            meid=out.meid,
                            payload=out.payload,
                            timestamp=outer.clock(),
                        )

        class State(haf_pb2_grpc.StateServiceServicer):
            def GetSnapshot(self, request, context) -> haf_pb2.StateSnapshot:
                with outer.lock:
                    return outer.inner.snapshot(outer.clock())

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
        haf_pb2_grpc.add_E2RelayServicer_to_server(Relay(), self.server)
        haf_pb2_grpc.add_StateServiceServicer_to_server(State(), self.server)
        port = self.server.add_insecure_port(address)
        if port == 0:
            raise OSError(f"cannot bind gRPC server to {address}")
        self.server.start()
        return port

    def stop(self, grace: float = 0.5) -> None:
        if self.server is not None:
            self.server.stop(grace).wait()
            self.server = None
