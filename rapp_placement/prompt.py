"""The agent's prompt (spec §3.2): system policy, per-epoch state snapshot, candidate ids.

Compact on purpose: a small model spends most of its time reading the prompt, so the state is a
few fixed-width tables with short units (GPU-seconds of backlog, GB, %), not JSON.

Position bias: small models favour the first listed candidates. The migrations are listed in
an order shuffled with a seed derived from the epoch, so no instance or node is favoured
systematically, and the no-op comes **last**: the critic scores the no-op whatever the agent
says (12), so a biased pick of the first lines still yields migrations for the critic to judge.
Measured (docs/results.md): SmolLM2-135M chose the no-op in 29 of 29 epochs when it was listed
first, and still in nearly every epoch when listed last — its bias is towards the no-op, not a
position. The chosen positions are logged (`rapp_placement.agent.position_histogram`).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from proto.observation import Snapshot
from rapp_placement.candidates import Candidate

K_DEFAULT = 3

SYSTEM_POLICY = """\
You place services on an AI-RAN edge cluster. Each epoch you shortlist up to {k} candidate
actions, best first, from the ids given. Priorities, in order:
1. Protect RAN deadlines: do not add load to nodes whose RAN floors are high; relieve GPU/CPU
   pressure on RAN-critical nodes.
2. Raise end-to-end AI fulfilment: move AI services with a large backlog to nodes with free
   GPU, CPU and VRAM.
3. Count the reconfiguration cost: a moved instance is offline for its window (large-AI 8 s,
   small-AI 0.5 s, RAN 0.05 s); avoid moves whose offline time will not be recovered.
Answer with JSON only: {{"shortlist": ["id", ...]}}."""


@dataclass(frozen=True)
class Prompt:
    system: str
    user: str
    candidate_ids: tuple[str, ...]  # in the order shown
    k: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256((self.system + "\n\n" + self.user).encode()).hexdigest()

    def schema(self) -> dict:
        """JSON Schema of the answer: 1..k items, each an ``enum`` of the candidate ids."""
        return {
            "type": "object",
            "properties": {
                "shortlist": {
                    "type": "array",
                    "items": {"type": "string", "enum": list(self.candidate_ids)},
                    "minItems": 1,
                    "maxItems": self.k,
                }
            },
            "required": ["shortlist"],
        }


def order_candidates(candidates: list[Candidate], seed: int) -> list[Candidate]:
    """Migrations shuffled by ``seed``, then the no-op (see the module docstring)."""
    noop = [c for c in candidates if c.is_noop]
    moves = [c for c in candidates if not c.is_noop]
    random.Random(seed).shuffle(moves)
    return moves + noop


def build_prompt(
    snap: Snapshot, candidates: list[Candidate], seed: int, k: int = K_DEFAULT
) -> Prompt:
    gpu_cap = {n.node_id: n.gpu_capacity for n in snap.nodes}
    cpu_cap = {n.node_id: n.cpu_capacity for n in snap.nodes}
    lines = [
        f"t={snap.time:.0f}s epoch={snap.epoch}",
        "nodes: id gpu% floor% cpu% vramfreeGB active",
    ]
    for n in snap.nodes:
        lines.append(
            f"{n.node_id} {100 * n.gpu_util:.0f} {100 * n.ran_floor_gpu_util:.0f} "
            f"{100 * n.cpu_util:.0f} {n.mem_headroom / 1e9:.0f} {n.active_requests}"
        )
    lines.append("instances: id node backlog_s active queued kvGB state")
    for i in snap.instances:
        if i.category == "cu-up":
            backlog_s = i.backlog_cpu / cpu_cap[i.node_id]
        else:
            backlog_s = i.backlog_gpu / gpu_cap[i.node_id]
        state = "migrating" if i.migrating else "up"
        lines.append(
            f"{i.instance_id} {i.node_id} {backlog_s:.2f} {i.active_requests} "
            f"{i.queued_requests} {i.kv / 1e9:.1f} {state}"
        )
    ordered = order_candidates(candidates, seed)
    lines.append("candidates: id dst_vramfree_afterGB dst_gpufree%")
    for c in ordered:
        if c.is_noop:
            lines.append("noop")
        else:
            lines.append(
                f"{c.cid} {c.dst_mem_headroom_after / 1e9:.0f} {100 * c.dst_gpu_headroom:.0f}"
            )
    return Prompt(SYSTEM_POLICY.format(k=k), "\n".join(lines), tuple(c.cid for c in ordered), k)
