"""The xApp without a RIC: the core, one lock, a clock, and the A1 store in the mediator's place.

Every adapter of the standalone process goes through it: gRPC (E2 nodes, the rApp's
snapshot) calls :meth:`Standalone.handle`, the A1-P REST adapter calls :meth:`Standalone.a1`,
whose answers (A1_POLICY_RESP) and the start-up A1_POLICY_QUERY are answered by the
:class:`PolicyStore` in the mediator's place. The clock is the wall clock, or — when a
digital twin drives the E2 nodes in simulated time — the latest E2 envelope's timestamp.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from proto import haf_pb2
from xapp_alloc import core as xc
from xapp_alloc.a1.store import PolicyStore


class Standalone:
    def __init__(
        self,
        core,
        store: PolicyStore | None = None,
        clock: Callable[[], float] = time.time,
        envelope_clock: bool = False,
    ) -> None:
        """``core``: an :class:`XappCore` or an ``InstrumentedCore`` around one."""
        self.core = core
        self.inner: xc.XappCore = getattr(core, "core", core)
        self.store = store or PolicyStore()
        self.clock = clock
        self.envelope_clock = envelope_clock
        self.last_ts = 0.0
        self.lock = threading.RLock()

    def now(self) -> float:
        return self.last_ts if self.envelope_clock else self.clock()

    def start(self) -> None:
        """Send the core's start messages (A1_POLICY_QUERY): stored policies are re-applied."""
        with self.lock:
            for msg in self.inner.start():
                self._route(msg)

    def handle(
        self, mtype: int, payload: bytes, sub_id: int = -1, meid: str = "", ts: float = 0.0
    ) -> list[xc.Message]:
        """One inbound message from an adapter; its answers go back to the sender (an A1 request
        relayed the RMR way, as envelope, is answered to its relay, not to the store)."""
        with self.lock:
            if self.envelope_clock and ts > self.last_ts:
                self.last_ts = ts
            return self.core.handle(mtype, payload, self.now(), sub_id, meid)

    def _route(self, msg: xc.Message) -> bool:
        """Deliver a message meant for the A1 mediator; False if it is for the caller."""
        if msg.mtype == xc.A1_POLICY_RESP:
            self.store.on_response(msg.payload)
            return True
        if msg.mtype == xc.A1_POLICY_QUERY:
            for req in self.store.recovery_requests():
                self.a1(req)
            return True
        return False

    def a1(self, request: bytes) -> None:
        """An A1_POLICY_REQ from the store (REST PUT/DELETE), through the core, answered."""
        with self.lock:
            for out in self.core.handle(
                xc.A1_POLICY_REQ, request, self.now(), xc.POLICY_TYPE_ID, ""
            ):
                self._route(out)

    def snapshot(self) -> haf_pb2.StateSnapshot:
        with self.lock:
            return self.inner.snapshot(self.now())
