"""Per-instance demand terms of the allocation layer: workload (13), urgency (14), floors (15).

Each equation is one function here, called by the twin (per event), the xApp core (per E2
report), the snapshot builder and replay alike. They compute on trusted values: whatever a peer
or a file supplies is range-checked where it enters (``proto.observation``), never here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

#: Default ε of (14): 1 µs. Smaller than any deadline in the model (URLLC is 1 ms), so it only
#: guards the division when a deadline has been reached.
DEFAULT_EPSILON = 1e-6


def aggregate_workload(residual_work: Iterable[float]) -> float:
    """Eq. (13): aggregate residual work ``W_i = Σ_r ŵ_{r,i}(t)`` of the requests active on ``i``.

    Works for GPU work (FLOP) and CPU work (core·s) alike. (The twin's processor-sharing
    instances keep the same sum incrementally, ``Instance.workload``; a test holds them equal.)
    """
    return math.fsum(residual_work)


def urgency(deadlines: Iterable[float], now: float, epsilon: float = DEFAULT_EPSILON) -> float:
    """Eq. (14): ``U_i = Σ_r 1 / max(d_r − t, ε)`` over the requests active on ``i``.

    ``deadlines`` are absolute (seconds, same clock as ``now``). A request past its deadline
    contributes ``1/ε``: it is as urgent as anything can be.
    """
    cap = 1.0 / epsilon
    total = 0.0
    for d in deadlines:  # a plain loop: ~3x faster than sum(genexpr) with max()
        slack = d - now
        total += 1.0 / slack if slack > epsilon else cap
    return total


def ran_pending(
    residual_work: Sequence[float],
    deadlines: Sequence[float],
    now: float,
    downstream_time: Sequence[float] | None = None,
) -> tuple[float, float]:
    """The two terms of eq. (15) from the pending RAN-only requests of an instance:
    ``(Σ_r ŵ_r, min_r (d_r − t − T̂^down_r))``; ``(0, inf)`` when none is pending.

    ``downstream_time`` is the DU's expected CU-UP time still ahead of each request (None for a
    CU-UP, the last RAN stage). These two numbers are what an E2 node reports
    (``RanPendingWork``, ``RanMinSlack``) and what :func:`ran_floor` turns into a floor.
    """
    if not deadlines:
        return 0.0, math.inf
    if downstream_time is None:
        slack = min(deadlines) - now
    else:
        slack = min(d - t for d, t in zip(deadlines, downstream_time, strict=True)) - now
    return math.fsum(residual_work), slack


def ran_floor(pending_work: float, min_slack: float) -> float:
    """Eq. (15): ``x^min_i = Σ_{r∈P_i} ŵ_{r,i} / min_{r∈P_i}(d_r − t − T̂^down_{r,i})``.

    The same form serves the DU's GPU floor ``g^min`` (with the downstream CU-UP time) and the
    CU-UP's CPU floor ``c^min`` (no downstream time). No pending work (or none pending,
    ``min_slack`` = inf): floor 0. A non-positive minimum slack returns ``math.inf``: the
    deadline is lost under this placement, and the allocator then gives the instance all the
    capacity that the node's feasible floors leave (and reports the node).
    """
    if pending_work <= 0.0 or min_slack == math.inf:
        return 0.0
    if min_slack <= 0.0:
        return math.inf
    return pending_work / min_slack


def ran_floor_gpu(
    residual_work: Sequence[float],
    deadlines: Sequence[float],
    now: float,
    downstream_time: Sequence[float],
) -> float:
    """Eq. (15) for a DU from its pending requests: :func:`ran_floor` of :func:`ran_pending`."""
    return ran_floor(*ran_pending(residual_work, deadlines, now, downstream_time))


def ran_floor_cpu(residual_work: Sequence[float], deadlines: Sequence[float], now: float) -> float:
    """Eq. (15) for a CU-UP (no downstream time): :func:`ran_floor` of :func:`ran_pending`."""
    return ran_floor(*ran_pending(residual_work, deadlines, now))
