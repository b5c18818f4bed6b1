"""gRPC transport (standalone mode and tests): E2 envelopes in, controls out; the snapshot.

``E2Relay.Connect`` is a bidirectional stream of the envelopes RMR would carry (message type,
subscription id, MEID, payload): each inbound envelope goes through the core and its outputs
come back on the same stream. ``E2Relay.Deliver`` is the same for one envelope (an E2 node in
simulated time waits for its control). ``StateService.GetSnapshot`` serves the rApp the state
snapshot (``XappCore.snapshot``). All calls go through one :class:`Standalone`, whose lock
serialises access to the single-threaded core.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent import futures

import grpc

from proto import haf_pb2, haf_pb2_grpc
from xapp_alloc import core as xc
from xapp_alloc.standalone import Standalone


class XappGrpc:
    def __init__(self, host, clock: Callable[[], float] = time.time) -> None:
        """``host``: a :class:`Standalone`, or a core (wrapped in one, without a local A1
        mediator, with ``clock``)."""
        self.host = host if isinstance(host, Standalone) else Standalone(host, clock=clock)
        self.server: grpc.Server | None = None

    def _envelope(self, out: xc.Message) -> haf_pb2.Envelope:
        return haf_pb2.Envelope(
            mtype=out.mtype,
            sub_id=out.sub_id,
            meid=out.meid,
            payload=out.payload,
            timestamp=self.host.now(),
        )

    def _handle(self, env: haf_pb2.Envelope) -> list[xc.Message]:
        return self.host.handle(env.mtype, env.payload, env.timestamp, env.sub_id, env.meid)

    def serve(self, address: str = "127.0.0.1:50051", workers: int = 4) -> int:
        """Start serving; returns the bound port (``address`` may end in ``:0``)."""
        outer = self

        class Relay(haf_pb2_grpc.E2RelayServicer):
            def Connect(self, request_iterator, context) -> Iterator[haf_pb2.Envelope]:
                for env in request_iterator:
                    for out in outer._handle(env):
                        yield outer._envelope(out)

            def Deliver(self, request, context) -> haf_pb2.Envelopes:
                return haf_pb2.Envelopes(
                    envelopes=[outer._envelope(out) for out in outer._handle(request)]
                )

        class State(haf_pb2_grpc.StateServiceServicer):
            def GetSnapshot(self, request, context) -> haf_pb2.StateSnapshot:
                return outer.host.snapshot()

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
