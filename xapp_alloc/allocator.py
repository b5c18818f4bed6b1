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

Two forms with the same semantics: :func:`solve_share` (one node of a few dozen instances, the
xApp's and the twin's hot path; its passes are ``xapp_alloc/share_kernel.py``, compiled by mypyc
at install where a C compiler is present, :mod:`xapp_alloc.kernels`) and
:func:`solve_share_batch` (numpy, many nodes at once).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from xapp_alloc.kernels import KERNEL as _kernel

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


def _floats(values: Sequence[float], field: str, ids: Sequence[str] | None, resource: str):
    """A list of floats for the kernel (it takes lists), or a ValueError naming the value.
    Only real numbers pass (numpy's included): a string such as "1.5" is not a number here."""
    out = []
    for k, v in enumerate(values):
        if not isinstance(v, numbers.Real):
            raise ValueError(f"{resource} {field} of {_name(ids, k)} must be a number, got {v!r}")
        out.append(float(v))
    return out


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
    try:
        ok = _kernel.inputs_ok(capacity, urgency, work, floors)  # type: ignore[arg-type]
    except TypeError:  # not lists of floats (tuples, arrays, ints, or not numbers at all)
        if not isinstance(capacity, numbers.Real):
            raise ValueError(f"{resource} capacity must be a number, got {capacity!r}") from None
        capacity = float(capacity)
        urgency = _floats(urgency, "urgency", ids, resource)
        work = _floats(work, "work", ids, resource)
        floors = _floats(floors, "floor", ids, resource)
        ok = _kernel.inputs_ok(capacity, urgency, work, floors)
    if not ok or (ids is not None and len(ids) != len(urgency)):
        _validate(capacity, urgency, work, floors, ids, resource)
    return ShareResult._make(_kernel.solve(capacity, urgency, work, floors))  # type: ignore[arg-type]


def solve_share_trusted(
    capacity: float, urgency: list[float], work: list[float], floors: list[float]
) -> ShareResult:
    """:func:`solve_share` without input validation, for callers whose inputs are valid by
    construction (the twin builds them from its own state): lists of floats. Same kernel."""
    return ShareResult._make(_kernel.solve(capacity, urgency, work, floors))


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
    names: list[str] = []
    urg: list[float] = []
    wg: list[float] = []
    fg: list[float] = []
    wc: list[float] = []
    fc: list[float] = []
    for i in node.instances:  # one loop of appends: ~2x faster than six comprehensions here
        names.append(i.instance_id)
        urg.append(i.urgency)
        wg.append(i.work_gpu)
        fg.append(i.floor_gpu)
        wc.append(i.work_cpu)
        fc.append(i.floor_cpu)
    ids = tuple(names)
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
