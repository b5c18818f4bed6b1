"""Closed-form deadline-aware GPU/CPU allocator of the allocation layer (paper eqs. 16–19).

Per node and per resource the allocator solves (16)::

    minimise Σ_i U_i W_i / x_i   s.t.  Σ_i x_i ≤ X,  x_i ≥ x^min_i

whose exact optimum is ``x_i = max(x^min_i, √(U_i W_i / λ))`` (KKT). :func:`solve_share` finds
it with the active-set clipping of (17)–(19): split the residual capacity in proportion to
``√(U_i W_i)``, move every instance whose share falls below its floor to the floor-bound set,
repeat until stable. Each pass lowers the water level ``X^res / Σ_A √(U W)``, so an instance
once clipped stays clipped and at most ``|I|`` passes are needed.

Rules where the equations are silent (documented in docs/allocator.md):

* An instance with no work or no urgency has no pull on capacity: it gets its floor (often 0).
  If no instance has work, only the floors are applied and the rest stays idle.
* **RAN-infeasible node**: the finite floors alone exceed capacity. Every floor is scaled by
  ``X / Σ x^min`` (so the RAN functions keep their relative needs and capacity (3) holds), and
  the non-RAN instances get nothing. Reported with ``ran_infeasible=True`` and ``floor_scale``.
* **Lost RAN deadline** (eq. 15 with a non-positive denominator, floor ``inf``): the feasible
  floors are honoured first, then the instances with a lost deadline share what is left
  equally ("what the node can"); AI instances get nothing. Also reported as RAN-infeasible.

Two forms with the same semantics: :func:`solve_share` (pure Python; fastest for one node of a
few dozen instances, the xApp's and the twin's hot path) and :func:`solve_share_batch` (numpy,
many nodes at once).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = [
    "BatchShare",
    "InstanceDemand",
    "NodeAllocation",
    "NodeDemand",
    "ShareResult",
    "allocate_node",
    "allocation_objective",
    "solve_share",
    "solve_share_batch",
    "solve_share_trusted",
]


class ShareResult(NamedTuple):
    """One resource (GPU or CPU) of one node, allocated (a NamedTuple: cheap on the hot path)."""

    shares: tuple[float, ...]
    """``g_i`` (FLOP/s) or ``c_i`` (cores), in the order of the inputs."""
    floor_bound: tuple[bool, ...]
    """True where the instance was held at a positive floor (the set F of (19))."""
    ran_infeasible: bool
    """The floors could not all be met: finite floors exceed capacity, or a deadline is lost."""
    floor_scale: float
    """Factor applied to the finite floors (1.0 unless they alone exceeded capacity)."""
    lost_deadline: tuple[bool, ...]
    """True where eq. (15) had a non-positive denominator (floor ``inf``)."""


def _validate(
    capacity: float,
    urgency: Sequence[float],
    work: Sequence[float],
    floors: Sequence[float],
    ids: Sequence[str] | None,
    resource: str,
) -> None:
    n = len(urgency)
    if len(work) != n or len(floors) != n or (ids is not None and len(ids) != n):
        lens = f"urgency={len(urgency)}, work={len(work)}, floors={len(floors)}"
        if ids is not None:
            lens += f", ids={len(ids)}"
        raise ValueError(f"{resource}: mismatched input lengths ({lens})")
    if not (math.isfinite(capacity) and capacity >= 0.0):
        raise ValueError(f"{resource} capacity must be finite and >= 0, got {capacity!r}")
    for k in range(n):
        u, w, f = urgency[k], work[k], floors[k]
        for field, v, ok in (
            ("urgency", u, math.isfinite(u) and u >= 0.0),
            ("work", w, math.isfinite(w) and w >= 0.0),
            ("floor", f, not math.isnan(f) and f >= 0.0),
        ):
            if not ok:
                rule = ">= 0 (inf allowed)" if field == "floor" else "finite and >= 0"
                raise ValueError(f"{resource} {field} of {_name(ids, k)} must be {rule}, got {v!r}")


def _name(ids: Sequence[str] | None, k: int) -> str:
    return f"instance {ids[k]!r}" if ids is not None else f"instance #{k}"


def _inputs_ok(
    capacity: float,
    urgency: Sequence[float],
    work: Sequence[float],
    floors: Sequence[float],
    ids: Sequence[str] | None,
) -> bool:
    """Cheap aggregate check; :func:`_validate` words the error when this says no.

    A NaN poisons the sums, an infinity makes them non-finite and a negative shows in ``min``,
    so together they accept exactly the valid inputs (floors may be ``inf``).
    """
    n = len(urgency)
    if len(work) != n or len(floors) != n or (ids is not None and len(ids) != n):
        return False
    if not (math.isfinite(capacity) and capacity >= 0.0):
        return False
    if n == 0:
        return True
    sf = sum(floors)
    return (
        math.isfinite(sum(urgency) + sum(work))
        and sf == sf
        and min(urgency) >= 0.0
        and min(work) >= 0.0
        and min(floors) >= 0.0
    )


def solve_share(
    capacity: float,
    urgency: Sequence[float],
    work: Sequence[float],
    floors: Sequence[float],
    ids: Sequence[str] | None = None,
    resource: str = "gpu",
) -> ShareResult:
    """Eqs. (17)–(19): the exact optimum of one resource sub-problem of (16) on one node.

    ``urgency`` is ``U_i`` (14), ``work`` is ``W_i`` (13) of this resource, ``floors`` is
    ``x^min_i`` (15; 0 for instances without a floor, ``inf`` for a lost RAN deadline).
    ``ids`` only name instances in error messages. Raises ``ValueError`` on bad input.
    """
    if not _inputs_ok(capacity, urgency, work, floors, ids):
        _validate(capacity, urgency, work, floors, ids, resource)
    return solve_share_trusted(capacity, urgency, work, floors)


def solve_share_trusted(
    capacity: float, urgency: Sequence[float], work: Sequence[float], floors: Sequence[float]
) -> ShareResult:
    """:func:`solve_share` without input validation, for callers whose inputs are valid by
    construction (the twin builds them from its own state). Same algorithm, same results."""
    n = len(urgency)
    floor_sum = sum(floors)
    if floor_sum == math.inf or floor_sum > capacity:
        return _ran_infeasible(capacity, floors)

    no_lost = (False,) * n
    sqrt = math.sqrt
    pull = [sqrt(u * w) for u, w in zip(urgency, work, strict=True)]
    total = sum(pull)
    if total == math.inf:  # U·W overflowed: √U·√W cannot
        pull = [sqrt(u) * sqrt(w) for u, w in zip(urgency, work, strict=True)]
        total = sum(pull)
    if total <= 0.0:
        return ShareResult(tuple(floors), tuple(f > 0.0 for f in floors), False, 1.0, no_lost)
    if floor_sum == 0.0:
        # No floors: the square-root rule (17) directly.
        return ShareResult(
            tuple([capacity * (p / total) for p in pull]), (False,) * n, False, 1.0, no_lost
        )

    active = [p > 0.0 for p in pull]
    residual = capacity - sum(f for f, a in zip(floors, active, strict=True) if not a)  # (19)
    while True:
        # residual * (pull/total) keeps the ratio ≤ 1, so tiny pulls cannot overflow (18).
        level = residual / total
        clip = [k for k in range(n) if active[k] and pull[k] * level < floors[k]]
        if clip and not math.isfinite(level):  # total tiny: compare in the overflow-safe form
            clip = [k for k in clip if residual * (pull[k] / total) < floors[k]]
        if not clip:
            break
        for k in clip:
            active[k] = False
            residual -= floors[k]
            total -= pull[k]
        if not any(active):
            break
        total = sum(p for p, a in zip(pull, active, strict=True) if a)  # no drift from -=
    if not any(active):
        return ShareResult(tuple(floors), tuple(f > 0.0 for f in floors), False, 1.0, no_lost)
    shares = tuple(
        [residual * (p / total) if a else f for p, a, f in zip(pull, active, floors, strict=True)]
    )
    bound = tuple([(not a) and f > 0.0 for a, f in zip(active, floors, strict=True)])
    return ShareResult(shares, bound, False, 1.0, no_lost)


def _ran_infeasible(capacity: float, floors: Sequence[float]) -> ShareResult:
    """Floors that cannot all be met: scale or hand out the leftover (module docstring)."""
    lost = tuple(f == math.inf for f in floors)
    n_lost = sum(lost)
    fin_floor = [0.0 if lo else f for f, lo in zip(floors, lost, strict=True)]
    fin_sum = sum(fin_floor)
    scale = 1.0 if fin_sum <= capacity else capacity / fin_sum
    leftover = (capacity - fin_sum) / n_lost if (n_lost and scale == 1.0) else 0.0
    shares = tuple(leftover if lo else f * scale for f, lo in zip(fin_floor, lost, strict=True))
    return ShareResult(shares, tuple(f > 0.0 for f in fin_floor), True, scale, lost)


def allocation_objective(
    urgency: Sequence[float], work: Sequence[float], shares: Sequence[float]
) -> float:
    """Eq. (16a), one resource: ``Σ_i U_i W_i / x_i`` (a term with ``U W = 0`` counts 0)."""
    total = 0.0
    for u, w, x in zip(urgency, work, shares, strict=True):
        uw = u * w
        if uw == 0.0:
            continue
        total += math.inf if x <= 0.0 else uw / x
    return total


@dataclass(frozen=True, slots=True)
class InstanceDemand:
    """What the allocator needs to know of one resident instance (eqs. 13–15)."""

    instance_id: str
    work_gpu: float
    """``W^g_i`` (FLOP), eq. (13)."""
    work_cpu: float
    """``W^c_i`` (core·s), eq. (13)."""
    urgency: float
    """``U_i`` (1/s), eq. (14)."""
    floor_gpu: float = 0.0
    """``g^min_i`` (FLOP/s), eq. (15); DU only."""
    floor_cpu: float = 0.0
    """``c^min_i`` (cores), eq. (15); CU-UP only."""


@dataclass(frozen=True, slots=True)
class NodeDemand:
    node_id: str
    gpu_capacity: float
    """``G_n`` (FLOP/s)."""
    cpu_capacity: float
    """``C_n`` (cores)."""
    instances: tuple[InstanceDemand, ...]


@dataclass(frozen=True, slots=True)
class NodeAllocation:
    node_id: str
    instance_ids: tuple[str, ...]
    gpu: ShareResult
    cpu: ShareResult

    @property
    def ran_infeasible(self) -> bool:
        return self.gpu.ran_infeasible or self.cpu.ran_infeasible

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {
            iid: {"gpu": g, "cpu": c}
            for iid, g, c in zip(self.instance_ids, self.gpu.shares, self.cpu.shares, strict=True)
        }


def allocate_node(node: NodeDemand) -> NodeAllocation:
    """Eq. (16) on one node: the GPU and CPU sub-problems, solved independently by (17)–(19)."""
    insts = node.instances
    ids = tuple([i.instance_id for i in insts])
    urg = [i.urgency for i in insts]
    wg, fg = [i.work_gpu for i in insts], [i.floor_gpu for i in insts]
    wc, fc = [i.work_cpu for i in insts], [i.floor_cpu for i in insts]
    try:
        gpu = solve_share(node.gpu_capacity, urg, wg, fg, ids)
        cpu = solve_share(node.cpu_capacity, urg, wc, fc, ids, "cpu")
    except ValueError as exc:
        raise ValueError(f"node {node.node_id!r} {exc}") from None
    return NodeAllocation(node.node_id, ids, gpu, cpu)


@dataclass(frozen=True, slots=True)
class BatchShare:
    """One resource of many nodes, allocated; rows are nodes, columns instance slots."""

    shares: npt.NDArray[np.float64]
    floor_bound: npt.NDArray[np.bool_]
    ran_infeasible: npt.NDArray[np.bool_]
    floor_scale: npt.NDArray[np.float64]
    lost_deadline: npt.NDArray[np.bool_]


def _check_array(name: str, a: npt.NDArray[np.float64], allow_inf: bool) -> None:
    bad = np.isnan(a) | (a < 0.0)
    if not allow_inf:
        bad |= ~np.isfinite(a)
    if bad.any():
        idx = tuple(int(v) for v in np.argwhere(bad)[0])
        raise ValueError(f"{name}[node={idx[0]}, instance={idx[1]}] is invalid: {a[idx]!r}")


def solve_share_batch(
    capacity: npt.ArrayLike,
    urgency: npt.ArrayLike,
    work: npt.ArrayLike,
    floors: npt.ArrayLike,
    mask: npt.ArrayLike | None = None,
) -> BatchShare:
    """Eqs. (17)–(19) for ``N`` nodes at once: the same passes as :func:`solve_share`, vectorised.

    ``capacity`` has shape ``(N,)``; ``urgency``, ``work``, ``floors`` and ``mask`` (True where
    a slot holds an instance; default all) have shape ``(N, I)``. Empty slots get 0.
    """
    cap = np.asarray(capacity, dtype=np.float64)
    u = np.asarray(urgency, dtype=np.float64)
    w = np.asarray(work, dtype=np.float64)
    f = np.asarray(floors, dtype=np.float64)
    m = np.ones(u.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if u.ndim != 2 or not (u.shape == w.shape == f.shape == m.shape) or cap.shape != u.shape[:1]:
        raise ValueError(
            "mismatched shapes: capacity "
            f"{cap.shape}, urgency {u.shape}, work {w.shape}, floors {f.shape}, mask {m.shape}"
        )
    if (~np.isfinite(cap) | (cap < 0.0)).any():
        bad = int(np.argwhere(~np.isfinite(cap) | (cap < 0.0))[0][0])
        raise ValueError(f"capacity[node={bad}] must be finite and >= 0, got {cap[bad]!r}")
    u = np.where(m, u, 0.0)
    w = np.where(m, w, 0.0)
    f = np.where(m, f, 0.0)
    _check_array("urgency", u, allow_inf=False)
    _check_array("work", w, allow_inf=False)
    _check_array("floors", f, allow_inf=True)

    lost = np.isinf(f)
    fin = np.where(lost, 0.0, f)
    n_lost = lost.sum(axis=1)
    floor_sum = fin.sum(axis=1)
    infeasible = (n_lost > 0) | (floor_sum > cap)

    pull = np.sqrt(u) * np.sqrt(w)
    active = (pull > 0.0) & ~infeasible[:, None]
    for _ in range(u.shape[1] + 1):
        residual = cap - np.where(active, 0.0, fin).sum(axis=1)
        total = np.where(active, pull, 0.0).sum(axis=1)
        safe_total = np.where(total > 0.0, total, 1.0)
        share = residual[:, None] * (pull / safe_total[:, None])
        clip = active & (share < fin)
        if not clip.any():
            break
        active &= ~clip
    shares = np.where(active, share, fin)

    # RAN-infeasible rows (module docstring): scaled floors, leftover to lost-deadline slots.
    over = floor_sum > cap
    scale = np.ones_like(cap)
    scale[over] = cap[over] / floor_sum[over]
    leftover = np.where(
        (n_lost > 0) & (scale == 1.0), (cap - floor_sum) / np.maximum(n_lost, 1), 0.0
    )
    inf_shares = np.where(lost, leftover[:, None], fin * scale[:, None])
    shares = np.where(infeasible[:, None], inf_shares, shares)
    shares = np.where(m, shares, 0.0)
    bound = m & (fin > 0.0) & (infeasible[:, None] | ~active)
    return BatchShare(shares, bound, infeasible, scale, lost & m)
