"""Lyapunov: single-layer drift-plus-penalty placement with MaxWeight allocation of the residual.

Each node's queue is its backlog in seconds of its own capacity, per resource:
``Q_n = Σ_{i on n} B_i / G_n`` (GPU; CPU alike for CU-UP). The Lyapunov function is
``L = Σ_n Q_n²``. For each candidate the policy predicts the queues one epoch ahead with a fluid
model, ``Q_n(a) = max(B_n + (A_n − G_n) Δ, 0) / G_n`` (``A_n`` the work arrival rate routed to
the node's instances over the last epoch), with the migrated instance's backlog and arrivals on
the destination, and its offline window adding ``A_i · min(τ_i, Δ)`` of work that waits there.
It commits ``argmin_a ΔL(a) + V τ_i`` (drift plus the migration penalty) if that is below the
no-op's 0.
"""

from __future__ import annotations

from airan_twin.methods.base import Method, register
from proto.observation import Snapshot
from rapp_placement.candidates import Candidate

#: Penalty weight V (s): one second of reconfiguration costs as much as one second² of drift.
V_PENALTY = 1.0


def _queues(snap: Snapshot, epoch: float, move: Candidate | None) -> float:
    """``Σ_n Q_n²`` one epoch ahead under action ``move`` (both resources)."""
    backlog: dict[tuple[str, str], float] = {}
    arrivals: dict[tuple[str, str], float] = {}
    for inst in snap.instances:
        res = "cpu" if inst.category == "cu-up" else "gpu"
        b = inst.backlog_cpu if res == "cpu" else inst.backlog_gpu
        node = inst.node_id
        a = inst.arrival_work_rate
        if move is not None and inst.instance_id == move.instance_id:
            node = move.dst
            b += a * min(inst.reconfig_s, epoch)
        key = (node, res)
        backlog[key] = backlog.get(key, 0.0) + b
        arrivals[key] = arrivals.get(key, 0.0) + a
    total = 0.0
    for n in snap.nodes:
        for res, cap in (("gpu", n.gpu_capacity), ("cpu", n.cpu_capacity)):
            key = (n.node_id, res)
            q = max(backlog.get(key, 0.0) + (arrivals.get(key, 0.0) - cap) * epoch, 0.0) / cap
            total += q * q
    return total


class Lyapunov(Method):
    name = "lyapunov"
    allocation = "maxweight"
    dispatch = "least-backlog"

    def __init__(
        self,
        epoch_s: float = 5.0,
        v: float = V_PENALTY,
        movable: frozenset[str] | None = None,
        name: str = "",
    ) -> None:
        self.epoch_s = epoch_s
        self.v = v
        self.movable = movable  # categories it may migrate (None: all)
        if name:
            self.name = name  # type: ignore[misc]

    def decide(self, snap: Snapshot, candidates: list[Candidate]) -> Candidate | None:
        base = _queues(snap, self.epoch_s, None)
        best, best_score = None, 0.0
        for c in candidates:
            if c.is_noop:
                continue
            if (
                self.movable is not None
                and snap.instance(c.instance_id).category not in self.movable
            ):  # type: ignore[arg-type]
                continue
            score = _queues(snap, self.epoch_s, c) - base + self.v * c.reconfig_s
            if score < best_score:
                best, best_score = c, score
        return best


register(
    "lyapunov",
    lambda epoch_s: Lyapunov(epoch_s=epoch_s),
    "drift-plus-penalty placement over every feasible migration, MaxWeight allocation",
    baseline=True,
    order=30,
)

#: What the paper's baselines may migrate ("confined to DU, CU-UP, and small-AI services").
PAPER_MOVABLE = frozenset({"du", "cu-up", "small-ai"})

register(
    "lyapunov-paper",
    lambda epoch_s: Lyapunov(epoch_s=epoch_s, movable=PAPER_MOVABLE, name="lyapunov-paper"),
    "Lyapunov as the paper ran it: migrations confined to DU, CU-UP and small-AI",
    baseline=True,
    order=31,
)
