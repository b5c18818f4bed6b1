"""The allocator's hot kernel: eqs. (14) and (17)–(19) on plain lists of floats.

This module is plain, typed Python, and it is also compiled to C by mypyc when the package is
installed on a machine with a C compiler (``setup.py``; docs/performance.md says why mypyc).
Both forms run the same source, so they compute the same floats: explicit loops in a fixed
order (never ``sum()``, which compensates its rounding from Python 3.12 on), no fused
operations. :data:`COMPILED` tells which form was imported; ``tests/test_share_kernel.py``
loads the source a second time, interpreted, and holds the two equal bit for bit.

Callers: :func:`xapp_alloc.allocator.solve_share` (validated) and ``solve_share_trusted`` (the
twin's by-construction inputs) return :func:`solve` as a ``ShareResult``; the twin's
allocation layer sums (14) with :func:`urgency_sum`.
"""

from __future__ import annotations

import math

#: One outcome of :func:`solve`: ``(shares, floor_bound, ran_infeasible, floor_scale,
#: lost_deadline)``, the fields of ``xapp_alloc.allocator.ShareResult`` in order.
Outcome = tuple[tuple[float, ...], tuple[bool, ...], bool, float, tuple[bool, ...]]

INF = math.inf


def inputs_ok(
    capacity: float, urgency: list[float], work: list[float], floors: list[float]
) -> bool:
    """True when every value is valid: capacity finite ≥ 0; urgency and work finite ≥ 0;
    floors ≥ 0 (``inf`` allowed). NaN fails every comparison below. Lengths must match."""
    n = len(urgency)
    if len(work) != n or len(floors) != n:
        return False
    if not (capacity >= 0.0 and capacity < INF):
        return False
    for k in range(n):
        u = urgency[k]
        w = work[k]
        f = floors[k]
        if not (u >= 0.0 and u < INF and w >= 0.0 and w < INF and f >= 0.0):
            return False
    return True


def urgency_sum(deadlines: list[float], now: float, epsilon: float) -> float:
    """Eq. (14): ``Σ_r 1 / max(d_r − t, ε)``, the same arithmetic as
    ``xapp_alloc.demand.urgency`` (which the tests compare it with) on a list of deadlines."""
    cap = 1.0 / epsilon
    total = 0.0
    for d in deadlines:
        slack = d - now
        if slack > epsilon:
            total += 1.0 / slack
        else:
            total += cap
    return total


def _floors_only(floors: list[float], n: int) -> Outcome:
    bound = [False] * n
    for k in range(n):
        bound[k] = floors[k] > 0.0
    return tuple(floors), tuple(bound), False, 1.0, tuple([False] * n)


def ran_infeasible(capacity: float, floors: list[float]) -> Outcome:
    """Floors that cannot all be met (``xapp_alloc.allocator`` module docstring): the finite
    floors are scaled into capacity, or met with the leftover shared by the lost deadlines."""
    n = len(floors)
    n_lost = 0
    fin_sum = 0.0
    for k in range(n):
        if floors[k] == INF:
            n_lost += 1
        else:
            fin_sum += floors[k]
    scale = 1.0 if fin_sum <= capacity else capacity / fin_sum
    leftover = (capacity - fin_sum) / n_lost if (n_lost > 0 and scale == 1.0) else 0.0
    shares = [0.0] * n
    bound = [False] * n
    lost = [False] * n
    for k in range(n):
        f = floors[k]
        if f == INF:
            shares[k] = leftover
            lost[k] = True
        else:
            shares[k] = f * scale
            bound[k] = f > 0.0
    return tuple(shares), tuple(bound), True, scale, tuple(lost)


def solve(capacity: float, urgency: list[float], work: list[float], floors: list[float]) -> Outcome:
    """Eqs. (17)–(19) on valid inputs: the active-set passes of
    :func:`xapp_alloc.allocator.solve_share`, whose docstring states the rules."""
    n = len(urgency)
    floor_sum = 0.0
    for k in range(n):
        floor_sum += floors[k]
    if floor_sum == INF or floor_sum > capacity:
        return ran_infeasible(capacity, floors)

    pull = [0.0] * n
    total = 0.0
    for k in range(n):
        p = math.sqrt(urgency[k] * work[k])
        pull[k] = p
        total += p
    if total == INF:  # U·W overflowed: √U·√W cannot
        total = 0.0
        for k in range(n):
            p = math.sqrt(urgency[k]) * math.sqrt(work[k])
            pull[k] = p
            total += p
    if total <= 0.0:
        return _floors_only(floors, n)
    if floor_sum == 0.0:  # no floors: the square-root rule (17) directly
        shares = [0.0] * n
        for k in range(n):
            shares[k] = capacity * (pull[k] / total)
        return tuple(shares), tuple([False] * n), False, 1.0, tuple([False] * n)

    active = [False] * n
    idle_floors = 0.0
    n_active = 0
    for k in range(n):
        if pull[k] > 0.0:
            active[k] = True
            n_active += 1
        else:
            idle_floors += floors[k]
    residual = capacity - idle_floors  # (19): the floor-bound set starts with the idle
    while True:
        # residual * (pull/total) keeps the ratio ≤ 1, so tiny pulls cannot overflow (18).
        level = residual / total
        finite = level < INF
        clipped = False
        for k in range(n):
            if not active[k]:
                continue
            if pull[k] * level < floors[k] and (finite or residual * (pull[k] / total) < floors[k]):
                active[k] = False
                n_active -= 1
                residual -= floors[k]
                clipped = True
        if not clipped or n_active == 0:
            break
        total = 0.0
        for k in range(n):  # re-summed, not decremented: no drift
            if active[k]:
                total += pull[k]
    if n_active == 0:
        return _floors_only(floors, n)
    shares = [0.0] * n
    bound = [False] * n
    for k in range(n):
        if active[k]:
            shares[k] = residual * (pull[k] / total)
        else:
            shares[k] = floors[k]
            bound[k] = floors[k] > 0.0
    return tuple(shares), tuple(bound), False, 1.0, tuple([False] * n)


try:  # mypyc marks the modules it compiled
    COMPILED: bool = __file__.endswith((".so", ".pyd"))
except NameError:  # pragma: no cover
    COMPILED = False
