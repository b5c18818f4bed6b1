"""The twin's event core: a heap of ``(time, seq, kind, a, b)`` and nothing else (cf. SimPy).

``seq`` is a monotone counter, so simultaneous events run in the order they were scheduled and
every run is deterministic. The model never touches the heap directly: it calls
:meth:`EventQueue.push`, looks ahead with :meth:`EventQueue.peek_time` and receives events from
:meth:`EventQueue.pop`.
"""

from __future__ import annotations

import heapq
from enum import IntEnum
from typing import Any


class Ev(IntEnum):
    """Event kinds, in the order the model handles simultaneous ones when scheduled together."""

    ARRIVAL = 0  # a: Request — enters its cell's DU
    HOP = 1  # a: Request, b: Instance — arrives at the next instance after delta
    STAGE_DONE = 2  # a: Instance, b: version — the instance's next completion
    EXPIRE = 3  # a: Request — its deadline passed
    MIGRATION_DONE = 4  # a: Instance — reconfiguration window over
    EPOCH = 5  # placement epoch (every Delta)
    REPORT = 6  # a: node id — E2 reporting period (hook for the xApp)


class EventQueue:
    __slots__ = ("_heap", "_seq", "now")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, int, Any, Any]] = []
        self._seq = 0
        self.now = 0.0

    def push(self, time: float, kind: int, a: Any = None, b: Any = None) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (time, self._seq, kind, a, b))

    def pop(self) -> tuple[float, int, Any, Any]:
        time, _, kind, a, b = heapq.heappop(self._heap)
        self.now = time
        return time, kind, a, b

    def peek_time(self) -> float:
        """Time of the next event; ``inf`` when none is left."""
        return self._heap[0][0] if self._heap else float("inf")

    def __len__(self) -> int:
        return len(self._heap)
