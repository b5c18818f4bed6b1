"""Independent reference solvers for the allocator tests (never used by the project itself)."""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize


def kkt_bisection(capacity: float, urgency, work, floors) -> list[float]:
    """``x_i = max(f_i, √(U_i W_i / λ))`` with ``λ`` found by bisection on ``Σ x_i = X``.

    Written from the KKT conditions, not from the active-set loop: it bisects the water level
    ``t = 1/√λ`` of ``h(t) = Σ max(f_i, s_i t)``, which is increasing in ``t``.
    Only for feasible problems (``Σ f ≤ X``).
    """
    s = [math.sqrt(u * w) for u, w in zip(urgency, work, strict=True)]
    if max(s, default=0.0) == 0.0:
        return list(floors)
    lo, hi = 0.0, capacity / max(s)
    for _ in range(400):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if sum(max(f, si * mid) for f, si in zip(floors, s, strict=True)) > capacity:
            hi = mid
        else:
            lo = mid
    return [max(f, si * lo) for f, si in zip(floors, s, strict=True)]


def slsqp(capacity: float, urgency, work, floors) -> list[float]:
    """scipy SLSQP on (16) for one resource, scaled so that capacity is 1."""
    uw = np.array([u * w for u, w in zip(urgency, work, strict=True)])
    scale = uw.max()
    a = uw / scale
    lb = np.maximum(np.array(floors) / capacity, 1e-12)
    x0 = lb + (1.0 - lb.sum()) / len(lb)

    def obj(y):
        return float(np.sum(a / y))

    def grad(y):
        return -a / y**2

    res = minimize(
        obj,
        x0,
        jac=grad,
        method="SLSQP",
        bounds=[(b, 1.0) for b in lb],
        constraints=[
            {"type": "ineq", "fun": lambda y: 1.0 - y.sum(), "jac": lambda y: -np.ones_like(y)}
        ],
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    return list(res.x * capacity)
