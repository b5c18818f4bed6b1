"""The interface every method implements: a placement policy plus its allocation and dispatch.

The twin calls :meth:`Method.decide` every placement epoch ``Δ`` with the state snapshot (what
the rApp sees) and the feasible candidates of spec §3.1 (``rapp_placement.candidates``). It
returns one candidate (at most one migration per epoch) or ``None`` for the no-op.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from proto.observation import Snapshot
from rapp_placement.candidates import Candidate

Dispatch = Literal["least-backlog", "round-robin"]


class Method:
    name: ClassVar[str] = "method"
    allocation: ClassVar[str] = "haf"  # a key of methods.allocation.RULES
    dispatch: ClassVar[Dispatch] = "least-backlog"

    def decide(self, snap: Snapshot, candidates: list[Candidate]) -> Candidate | None:
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
