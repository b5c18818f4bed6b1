"""The host every xApp transport talks to: the core behind one lock, a clock, a guard, and —
without a RIC — the A1 store in the mediator's place.

:class:`Standalone` is a :class:`~xapp_alloc.core.Handler`. gRPC (E2 nodes, the rApp's
snapshot), RMR and the A1-P REST adapter all call it, so access to the single-threaded core is
serialised in one place and one guard stands between every peer and the core: an exception
that still escapes the core (a defect: nothing a peer sends should cause one) is counted as
``internal-error``, logged once per interval, and answered with nothing; the state is kept.

With a :class:`PolicyStore` (``haf xapp``) the store plays the A1 mediator: it answers the
start-up A1_POLICY_QUERY with its CREATEs and records the A1_POLICY_RESPs. Without one (the RMR
container) those messages go out to the real mediator. The clock is the wall clock or — when a
digital twin drives the E2 nodes in simulated time — the latest E2 envelope's timestamp.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

from proto import haf_pb2
from xapp_alloc import core as xc
from xapp_alloc.a1.store import PolicyStore

log = logging.getLogger(__name__)


class Standalone:
    def __init__(
        self,
        core: xc.Handler,
        store: PolicyStore | None = None,
        clock: Callable[[], float] = time.time,
        envelope_clock: bool = False,
    ) -> None:
        """``core``: an :class:`XappCore` or an ``InstrumentedCore`` around one; ``store``: the
        local A1 mediator (None: A1 messages go to the transport)."""
        self.core = core
        self.inner: xc.XappCore = getattr(core, "core", core)
        self.store = store
        self.clock = clock
        self.envelope_clock = envelope_clock
        self.last_ts = 0.0
        self.lock = threading.RLock()

    def now(self) -> float:
        return self.last_ts if self.envelope_clock else self.clock()

    def start(self) -> list[xc.Message]:
        """The core's start messages; the local store (if any) answers A1_POLICY_QUERY with the
        stored policies, which are re-applied. What is left goes to the transport."""
        with self.lock:
            return [m for m in self.inner.start() if not self._route(m)]

    def handle(
        self, mtype: int, payload: bytes, now: float, sub_id: int = -1, meid: str = ""
    ) -> list[xc.Message]:
        """One inbound message; its answers go back to the sender (an A1 request relayed the RMR
        way is answered to its relay, not to the store). ``now`` is the sender's timestamp: it
        sets the clock only on envelope time, and only forward."""
        with self.lock:
            if self.envelope_clock and math.isfinite(now) and now > self.last_ts:
                self.last_ts = now
            return self._guarded(mtype, payload, sub_id, meid)

    def _guarded(self, mtype: int, payload: bytes, sub_id: int, meid: str) -> list[xc.Message]:
        try:
            return self.core.handle(mtype, payload, self.now(), sub_id, meid)
        except Exception as exc:  # a defect: count it, keep serving with the state as it was
            log.debug("core raised on type %d", mtype, exc_info=True)
            self.inner.drop("internal-error", f"type {mtype}: {type(exc).__name__}: {exc}")
            return []

    def _route(self, msg: xc.Message) -> bool:
        """Deliver a message meant for the A1 mediator to the local store; False if there is no
        store or the message is for the caller."""
        if self.store is None:
            return False
        if msg.mtype == xc.A1_POLICY_RESP:
            self.store.on_response(msg.payload)
            return True
        if msg.mtype == xc.A1_POLICY_QUERY:
            for req in self.store.recovery_requests():
                self.a1(req)
            return True
        return False

    def a1(self, request: bytes) -> None:
        """An A1_POLICY_REQ from the local store (REST PUT/DELETE), through the core, answered."""
        with self.lock:
            for out in self._guarded(xc.A1_POLICY_REQ, request, xc.POLICY_TYPE_ID, ""):
                self._route(out)

    def snapshot(self) -> haf_pb2.StateSnapshot:
        with self.lock:
            return self.inner.snapshot(self.now())
