"""CAORA's action, state and reward on one node (docs/caora.md).

**Action** ``a ∈ [0, 1]``: the AI share of the capacity left after the RAN floors (15) —
:func:`split_rule`. The RAN instances get their floors; of the residual ``R = C − Σ f``, the AI
class gets ``a R`` and the RAN class ``(1 − a) R``, each shared among its instances with work in
proportion to their residual work (13). A class with no work on the node leaves its slice to
the other ("either class takes full capacity where it alone resides"). Floors that do not fit
follow every method's rule (scaled floors, nothing for AI).

**State** (:func:`node_state`, 13 numbers): RAN and AI backlog in capacity-intervals, RAN and AI
urgency (14), the floors' share of capacity, RAN and AI active requests, the AI share of the
backlog, the node kind (one-hot: gpu-heavy, balanced, cpu-heavy), the split in force, and the
last interval's reward.

**Reward** (:func:`interval_reward`): over the requests that ended on the node during the last
decision interval, ``(fulfilled − missed) / ended``, RAN-only requests weighted twice (their
deadline is the hard constraint); 0 when none ended.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from xapp_alloc.allocator import solve_share_trusted

KINDS = ("gpu-heavy", "balanced", "cpu-heavy")
STATE_DIM = 13
RAN_WEIGHT = 2.0


def split_rule(
    a: float,
    cap: float,
    is_ran: Sequence[bool],
    urgency: Sequence[float],
    work: Sequence[float],
    floors: Sequence[float],
) -> tuple[list[float], bool]:
    """Shares of one resource of one node under split ``a``; ``(shares, ran_infeasible)``."""
    fsum = sum(floors)
    if fsum > cap or fsum == math.inf:
        r = solve_share_trusted(cap, urgency, work, floors)
        return list(r.shares), True
    residual = cap - fsum
    ran_busy = [k for k, w in enumerate(work) if w > 0.0 and is_ran[k]]
    ai_busy = [k for k, w in enumerate(work) if w > 0.0 and not is_ran[k]]
    if not ai_busy:
        a = 0.0
    elif not ran_busy:
        a = 1.0
    shares = list(floors)
    for busy, slice_ in ((ai_busy, a * residual), (ran_busy, (1.0 - a) * residual)):
        total = sum(work[k] for k in busy)
        for k in busy:
            shares[k] += slice_ * (work[k] / total)  # ratio first: no underflow blow-up
    return shares, False


def node_state(
    kind: str,
    cap: float,
    interval_s: float,
    is_ran: Sequence[bool],
    urgency: Sequence[float],
    work: Sequence[float],
    floors: Sequence[float],
    count: Sequence[int],
    current: float,
    last_reward: float,
) -> np.ndarray:
    ran_w = sum(w for w, r in zip(work, is_ran, strict=True) if r)
    ai_w = sum(w for w, r in zip(work, is_ran, strict=True) if not r)
    ran_u = sum(u for u, r in zip(urgency, is_ran, strict=True) if r)
    ai_u = sum(u for u, r in zip(urgency, is_ran, strict=True) if not r)
    ran_n = sum(c for c, r in zip(count, is_ran, strict=True) if r)
    ai_n = sum(c for c, r in zip(count, is_ran, strict=True) if not r)
    scale = cap * interval_s
    floor_frac = min(sum(floors) / cap, 1.0) if cap > 0 else 0.0
    return np.array(
        [
            math.log1p(ran_w / scale),
            math.log1p(ai_w / scale),
            math.log1p(ran_u) / 10.0,
            math.log1p(ai_u) / 10.0,
            floor_frac,
            math.log1p(ran_n),
            math.log1p(ai_n),
            ai_w / (ai_w + ran_w) if ai_w + ran_w > 0 else 0.0,
            *(1.0 if kind == k else 0.0 for k in KINDS),
            current,
            last_reward,
        ],
        np.float32,
    )


def interval_reward(ran_ok: int, ran_missed: int, ai_ok: int, ai_missed: int) -> float:
    w_ok = RAN_WEIGHT * ran_ok + ai_ok
    w_missed = RAN_WEIGHT * ran_missed + ai_missed
    total = w_ok + w_missed
    return (w_ok - w_missed) / total if total > 0 else 0.0
