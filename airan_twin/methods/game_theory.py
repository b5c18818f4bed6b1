"""Game Theory: single-layer best-response placement with proportional market clearing.

The AI services are the players (RAN functions are not strategic). Under proportional market
clearing a player with bid ``b_i = U_i`` (its urgency (14): its budget, not its demand; see
``methods.allocation``) on node ``n`` receives
``G^res_n · b_i / (b_i + Σ_{j≠i on n} b_j)`` of GPU, ``G^res_n`` being what the RAN floors leave.
A player's utility for node ``n`` is the GPU work it can expect over the next epoch,
that share times ``max(Δ − τ_i·[n ≠ current], 0)``. Each epoch the player whose best response
improves its utility the most (by more than ``threshold``, relative) moves; otherwise no-op.
"""

from __future__ import annotations

from airan_twin.methods.base import Method, register
from proto.observation import Snapshot
from rapp_placement.candidates import Candidate


class GameTheory(Method):
    name = "game-theory"
    allocation = "market"
    dispatch = "least-backlog"

    def __init__(
        self,
        epoch_s: float = 5.0,
        threshold: float = 0.1,
        movable: frozenset[str] = frozenset({"large-ai", "small-ai"}),
        name: str = "",
    ) -> None:
        self.epoch_s = epoch_s
        self.threshold = threshold
        self.movable = movable  # the players: AI services (the paper's runs: small-AI only)
        if name:
            self.name = name  # type: ignore[misc]

    def decide(self, snap: Snapshot, candidates: list[Candidate]) -> Candidate | None:
        bids: dict[str, float] = {}
        node_bids: dict[str, float] = {n.node_id: 0.0 for n in snap.nodes}
        for inst in snap.instances:
            if inst.category != "cu-up":
                b = inst.urgency
                bids[inst.instance_id] = b
                node_bids[inst.node_id] += b
        free_gpu = {n.node_id: n.gpu_capacity * (1.0 - n.ran_floor_gpu_util) for n in snap.nodes}

        def utility(iid: str, node: str, here: str, tau: float) -> float:
            b = bids[iid]
            others = node_bids[node] - (b if node == here else 0.0)
            share = free_gpu[node] * (b / (b + others)) if b > 0.0 else 0.0
            window = self.epoch_s - (tau if node != here else 0.0)
            return share * max(window, 0.0)

        best, best_gain = None, 1.0 + self.threshold
        for c in candidates:
            if c.is_noop:
                continue
            inst = snap.instance(c.instance_id)
            if inst.category not in self.movable:
                continue
            now = utility(inst.instance_id, inst.node_id, inst.node_id, inst.reconfig_s)
            new = utility(inst.instance_id, c.dst, inst.node_id, inst.reconfig_s)
            gain = new / now if now > 0.0 else (float("inf") if new > 0.0 else 0.0)
            if gain > best_gain:
                best, best_gain = c, gain
        return best


register(
    "game-theory",
    lambda epoch_s: GameTheory(epoch_s=epoch_s),
    "best-response placement, market (bid-proportional) allocation",
    baseline=True,
    order=40,
)

register(
    "game-theory-paper",
    lambda epoch_s: GameTheory(
        epoch_s=epoch_s, movable=frozenset({"small-ai"}), name="game-theory-paper"
    ),
    "Game Theory as the paper ran it: of the AI services only small-AI migrates",
    baseline=True,
    order=41,
)
