"""Allocation rules of the methods, one resource of one node at a time.

Every rule takes ``(capacity, urgency, work, floors, count, mu)`` per resident instance and
returns ``(shares, ran_infeasible)``. All share the RAN floors of eq. (15) and the allocator's
rule for floors that do not fit (scaled floors, nothing for AI: ``xapp_alloc.solve_share``).

* ``haf`` — the closed form (17)–(19): floors as lower bounds, the rest by ``√(U W)``.
* The baselines give every instance its floor first and split the **residual** on top:
  ``equal`` (Round-Robin) equally among instances with work; ``maxweight`` (Lyapunov) all of it
  to the instance of largest ``Q_i μ_i`` (active requests × service rate per unit capacity,
  ``μ_i = 1 / mean stage work`` of its category); ``market`` (Game Theory) in proportion to bids
  ``b_i = U_i`` (proportional market clearing, the Kelly mechanism: a player's bid is its
  budget — how urgently it needs service, eq. (14) — not its demand; bidding ``U_i W_i`` let the
  largest backlog buy nearly all of a shared node and starved the small services, 69.6 %
  small-AI against the paper's 99.9 %).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from xapp_alloc.allocator import solve_share_trusted as solve_share
from xapp_alloc.kernels import KERNEL

Shares = tuple[Sequence[float], bool]
AllocationRule = Callable[
    [float, Sequence[float], Sequence[float], Sequence[float], Sequence[int], Sequence[float]],
    Shares,
]


def haf_rule(cap, urgency, work, floors, count, mu) -> Shares:
    shares, _, infeasible, _, _ = KERNEL.solve(cap, urgency, work, floors)  # (17)-(19)
    return shares, infeasible


def _floors_then(split: Callable[[float, list[int]], list[float]]) -> AllocationRule:
    def rule(cap, urgency, work, floors, count, mu) -> Shares:
        fsum = sum(floors)
        if fsum > cap or fsum == math.inf:
            r = solve_share(cap, urgency, work, floors)
            return r.shares, True
        busy = [k for k, w in enumerate(work) if w > 0.0]
        shares = list(floors)
        if busy:
            for k, extra in zip(busy, split(cap - fsum, busy), strict=True):
                shares[k] += extra
        return shares, False

    return rule


def equal_share_rule(cap, urgency, work, floors, count, mu) -> Shares:
    return _floors_then(lambda residual, busy: [residual / len(busy)] * len(busy))(
        cap, urgency, work, floors, count, mu
    )


def maxweight_rule(cap, urgency, work, floors, count, mu) -> Shares:
    def split(residual: float, busy: list[int]) -> list[float]:
        best = max(busy, key=lambda k: count[k] * mu[k])
        return [residual if k == best else 0.0 for k in busy]

    return _floors_then(split)(cap, urgency, work, floors, count, mu)


def market_rule(cap, urgency, work, floors, count, mu) -> Shares:
    def split(residual: float, busy: list[int]) -> list[float]:
        bids = [urgency[k] for k in busy]
        total = sum(bids)
        if total <= 0.0:
            return [residual / len(busy)] * len(busy)
        return [residual * (b / total) for b in bids]

    return _floors_then(split)(cap, urgency, work, floors, count, mu)


RULES: dict[str, AllocationRule] = {
    "haf": haf_rule,
    "equal": equal_share_rule,
    "maxweight": maxweight_rule,
    "market": market_rule,
}
