"""Per-instance demand terms of the allocation layer: workload (13), urgency (14), floors (15).

The twin and the xApp both compute an instance's demand from the requests active on it with
these functions, so the two can never disagree on what the allocator is fed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: Default ε of (14): 1 µs. Smaller than any deadline in the model (URLLC is 1 ms), so it only
#: guards the division when a deadline has been reached.
DEFAULT_EPSILON = 1e-6


def _check_finite_nonneg(field: str, values: Sequence[float], where: str) -> None:
    for k, v in enumerate(values):
        if not math.isfinite(v) or v < 0.0:
            raise ValueError(f"{field}[{k}] of {where} must be finite and >= 0, got {v!r}")


def _check_finite(field: str, values: Sequence[float], where: str) -> None:
    for k, v in enumerate(values):
        if not math.isfinite(v):
            raise ValueError(f"{field}[{k}] of {where} must be finite, got {v!r}")


def aggregate_workload(residual_work: Sequence[float], instance: str = "instance") -> float:
    """Eq. (13): aggregate residual work ``W_i = Σ_r ŵ_{r,i}(t)`` of the requests active on ``i``.

    Works for GPU work (FLOP) and CPU work (core·s) alike.
    """
    _check_finite_nonneg("residual_work", residual_work, instance)
    return math.fsum(residual_work)


def urgency(
    deadlines: Sequence[float],
    now: float,
    epsilon: float = DEFAULT_EPSILON,
    instance: str = "instance",
) -> float:
    """Eq. (14): ``U_i = Σ_r 1 / max(d_r − t, ε)`` over the requests active on ``i``.

    ``deadlines`` are absolute (seconds, same clock as ``now``). A request past its deadline
    contributes ``1/ε``: it is as urgent as anything can be.
    """
    if not (math.isfinite(epsilon) and epsilon > 0.0):
        raise ValueError(f"epsilon of {instance} must be finite and > 0, got {epsilon!r}")
    if not math.isfinite(now):
        raise ValueError(f"now of {instance} must be finite, got {now!r}")
    _check_finite("deadlines", deadlines, instance)
    return math.fsum(1.0 / max(d - now, epsilon) for d in deadlines)


def _ran_floor(
    residual_work: Sequence[float],
    deadlines: Sequence[float],
    now: float,
    downstream_time: Sequence[float] | None,
    instance: str,
) -> float:
    if len(residual_work) != len(deadlines):
        raise ValueError(
            f"residual_work and deadlines of {instance} differ in length "
            f"({len(residual_work)} != {len(deadlines)})"
        )
    if downstream_time is not None and len(downstream_time) != len(deadlines):
        raise ValueError(
            f"downstream_time and deadlines of {instance} differ in length "
            f"({len(downstream_time)} != {len(deadlines)})"
        )
    _check_finite_nonneg("residual_work", residual_work, instance)
    _check_finite("deadlines", deadlines, instance)
    if downstream_time is not None:
        _check_finite_nonneg("downstream_time", downstream_time, instance)
    if not math.isfinite(now):
        raise ValueError(f"now of {instance} must be finite, got {now!r}")
    if not deadlines:
        return 0.0
    down = downstream_time if downstream_time is not None else [0.0] * len(deadlines)
    slack = min(d - now - t for d, t in zip(deadlines, down, strict=True))
    if slack <= 0.0:
        # The RAN deadline can no longer be met under this placement: the allocator gives this
        # instance everything the node can (see allocator.solve_share) and reports the node.
        return math.inf
    return math.fsum(residual_work) / slack


def ran_floor_gpu(
    residual_work: Sequence[float],
    deadlines: Sequence[float],
    now: float,
    downstream_time: Sequence[float],
    instance: str = "DU",
) -> float:
    """Eq. (15), DU: ``g^min_i = Σ_{r∈P_i} ŵ^g_{r,i} / min_{r∈P_i}(d_r − t − T̂^down_{r,i})``.

    ``residual_work``, ``deadlines`` and ``downstream_time`` (the expected CU-UP time still
    ahead of each request) are per pending RAN-only request. No pending request: floor 0.
    A non-positive minimum slack returns ``math.inf``: the deadline is lost under this
    placement, and the allocator then gives the instance all the capacity that the node's
    feasible floors leave.
    """
    return _ran_floor(residual_work, deadlines, now, downstream_time, instance)


def ran_floor_cpu(
    residual_work: Sequence[float],
    deadlines: Sequence[float],
    now: float,
    instance: str = "CU-UP",
) -> float:
    """Eq. (15), CU-UP: ``c^min_i = Σ_{r∈P_i} ŵ^c_{r,i} / min_{r∈P_i}(d_r − t)``.

    CU-UP is the last RAN stage, so there is no downstream time. Same conventions as
    :func:`ran_floor_gpu`.
    """
    return _ran_floor(residual_work, deadlines, now, None, instance)
