"""Feasible candidate actions of one placement epoch (spec §3.1).

The no-op plus every single-instance migration ``(i → n')`` with ``n'`` not ``i``'s node, ``i``'s
category eligible, ``i`` not reconfiguring, and the destination's GPU memory (4) holding ``i``'s
weights and the KV cache of its requests on top of what it holds now. Single migrations keep the
search linear in ``|I|·|N|`` and serialise the offline windows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from proto.observation import Snapshot

NOOP = "noop"
DEFAULT_ELIGIBLE = frozenset({"du", "cu-up", "large-ai", "small-ai"})


@dataclass(frozen=True, slots=True)
class Candidate:
    """One action; ``cid`` is stable and readable (``noop``, ``mig:large-ai-1:gpu-heavy-2``)."""

    cid: str
    instance_id: str | None = None
    src: str | None = None
    dst: str | None = None
    dst_mem_headroom_after: float = 0.0  # bytes left on the destination after the move
    dst_gpu_headroom: float = 0.0  # 1 - GPU utilisation of the destination now
    dst_cpu_headroom: float = 0.0
    reconfig_s: float = 0.0

    @property
    def is_noop(self) -> bool:
        return self.instance_id is None


def migration_id(instance_id: str, dst: str) -> str:
    return f"mig:{instance_id}:{dst}"


def feasible_candidates(
    snap: Snapshot, eligible: Iterable[str] = DEFAULT_ELIGIBLE
) -> list[Candidate]:
    """The no-op first, then migrations in snapshot order (instances, then nodes).

    Placement rules in force (``snap.constraints``: an operator's avoid rules and pins) are
    honoured: no move onto a node they forbid for the instance."""
    allowed = frozenset(eligible)
    rules = snap.constraints
    out = [Candidate(NOOP)]
    for inst in snap.instances:
        if inst.migrating or inst.category not in allowed:
            continue
        need = inst.weights + inst.kv
        for node in snap.nodes:
            if node.node_id == inst.node_id:
                continue
            if rules is not None and not rules.allows(
                inst.category, inst.instance_id, node.node_id, node.kind
            ):
                continue
            # Test eq. (4) in its own form: ``cap - used - need`` can round below zero when
            # ``used + need <= cap`` holds exactly (tiny KV on a full node).
            if node.mem_used + need > node.mem_capacity:
                continue
            after = max(0.0, node.mem_capacity - node.mem_used - need)
            out.append(
                Candidate(
                    migration_id(inst.instance_id, node.node_id),
                    inst.instance_id,
                    inst.node_id,
                    node.node_id,
                    after,
                    1.0 - node.gpu_util,
                    1.0 - node.cpu_util,
                    inst.reconfig_s,
                )
            )
    return out
