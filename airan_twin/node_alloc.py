"""The twin's allocation layer: each node's GPU and CPU split among its resident instances.

After any event that changes what a node serves, :meth:`NodeAllocation.reallocate` advances the
node's servers to ``now``, runs the method's allocation rule with eqs. (13)–(15) (or, in
external mode, applies the xApp's last shares with the RAN floors kept locally) and
reschedules each instance's next completion. Completion events carry a version number; a
reallocation bumps it, so stale completions are skipped.

A request's arrival, completion or expiry changes one sub-problem of (16) — the GPU one (DU, AI
services) or the CPU one (CU-UP) — and :meth:`NodeAllocation.reallocate_changed` re-solves only
that one; the other keeps its shares, which stay feasible (docs/twin.md, "What a reallocation
re-solves", states why and how far they drift). ``resolve="every-event"`` re-solves both at
every event, the spec's literal reading, for comparison.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from airan_twin.entities import Instance, Node, Req
from airan_twin.events import Ev
from airan_twin.scenario import Category
from xapp_alloc.demand import ran_floor, ran_pending
from xapp_alloc.kernels import KERNEL

#: One core's worth: a request's PDCP work runs on one core, so its CU-UP stage cannot take
#: less than ``w^c / 1 core``; used for the DU floor's downstream estimate ``T̂^down`` (15).
CU_REFERENCE_CORES = 1.0

#: External mode: the node serves pending RAN work at this multiple of its floor (15).
LOCAL_FLOOR_GUARD = 2.0


class NodeAllocation:
    """The per-node allocation layer (mixed into the Twin, whose nodes it allocates)."""

    # --- allocation layer -------------------------------------------------------------------------
    @staticmethod
    def sync(node: Node, t: float) -> None:
        for inst in node.instances:
            inst.advance(t)

    @staticmethod
    def sync_instance(inst: Instance, t: float) -> None:
        inst.advance(t)

    def urgency_of(self, inst: Instance, t: float) -> float:
        """Eq. (14) over the instance's active requests (their deadlines, kept by ``Instance``)."""
        return KERNEL.urgency_sum(inst.deadlines, t, self.epsilon)

    def _downstream(self, req: Req, du: Instance) -> float:
        """``T̂^down`` of a request at the DU: its CU-UP stage at one core, plus a hop if apart."""
        cu = self.cu_of_cell[req.cell]
        return req.cu_work / CU_REFERENCE_CORES + (self.hop if cu.node is not du.node else 0.0)

    def ran_pending_of(self, inst: Instance, t: float) -> tuple[float, float]:
        """The two terms of eq. (15) over the instance's pending RAN-only requests."""
        if not inst.ran_active:
            return 0.0, math.inf
        reqs = inst.ran_active.values()
        down = [self._downstream(r, inst) for r in reqs] if inst.cat == Category.DU else None
        return ran_pending([r.residual for r in reqs], [r.deadline for r in reqs], t, down)

    def floor_of(self, inst: Instance, t: float) -> float:
        """Eq. (15): ``inf`` when the minimum slack is non-positive (deadline lost)."""
        return ran_floor(*self.ran_pending_of(inst, t))

    def reallocate_changed(self, node: Node, t: float) -> None:
        """After a request came or went: re-solve the sub-problems it changed (module doc)."""
        if self.resolve_every_event:
            self.reallocate(node, t)
        else:
            self.reallocate(node, t, node.gpu_changed, node.cpu_changed)

    def reallocate(
        self, node: Node, t: float, gpu_side: bool = True, cpu_side: bool = True
    ) -> None:
        """Re-solve the node's GPU and/or CPU sub-problem at ``t`` (both by default)."""
        gpu: list[Instance] = []
        cpu: list[Instance] = []
        for inst in node.instances:
            if inst.uses_gpu:
                if not gpu_side:
                    continue
            elif not cpu_side:
                continue
            if inst.is_migrating(t):
                inst.rate = 0.0
                continue
            (gpu if inst.uses_gpu else cpu).append(inst)
        if gpu_side:
            node.gpu_changed = False
        if cpu_side:
            node.cpu_changed = False
        serving = gpu + cpu
        if self.external_allocation:
            self._apply_external(gpu, node.gpu_cap, t)
            self._apply_external(cpu, node.cpu_cap, t)
        else:
            self._run_rule(gpu, node.gpu_cap, t)
            self._run_rule(cpu, node.cpu_cap, t)
        q = self.q
        for inst in serving:
            inst.version += 1  # voids the completion scheduled at the old rate
            if not inst.active:
                continue
            dt = inst.time_to_next_completion()
            if dt != math.inf:
                q.push(t + dt, Ev.STAGE_DONE, inst, inst.version)

    def _apply_external(self, insts: Sequence[Instance], cap: float, t: float) -> None:
        """The xApp's last shares, with the RAN floors (15) kept by the node between reports.

        A near-RT loop (10 ms-1 s) cannot see a RAN request with a 1-4 ms deadline before it
        is due, so the node tops a RAN instance up to its floor at every event (the RAN has
        priority on the accelerator, as a DU's L1 does) and scales the AI shares into what is
        left; without local floors the RAN misses what arrives between reports. The node aims at
        half the slack (:data:`LOCAL_FLOOR_GUARD`): at exactly eq. (15)'s rate the work would end
        on the deadline itself, with AI shares beside it that are already stale.
        """
        if not insts:
            return
        shares = []
        for inst in insts:
            g, c = self.external.get(inst.iid, (0.0, 0.0))
            shares.append(g if inst.uses_gpu else c)
        if self.local_ran_floors:
            ran = [bool(inst.ran_active) for inst in insts]
            floors = [
                min(LOCAL_FLOOR_GUARD * self.floor_of(inst, t), cap) if r else 0.0
                for inst, r in zip(insts, ran, strict=True)
            ]
            for k, f in enumerate(floors):
                shares[k] = max(shares[k], f)
            total = sum(shares)
            if total > cap:
                kept = sum(s for s, r in zip(shares, ran, strict=True) if r)
                if kept > cap:  # floors alone exceed capacity: scale them (AI gets nothing)
                    shares = [
                        s * cap / kept if r else 0.0 for s, r in zip(shares, ran, strict=True)
                    ]
                else:
                    scale = (cap - kept) / (total - kept)
                    shares = [s if r else s * scale for s, r in zip(shares, ran, strict=True)]
        if self.local_work_conserving:
            # Capacity given to instances that have since gone idle, or given to nobody, goes
            # to those with work: first to any the last control left without a share (they
            # were idle at the report), else in proportion to the shares sent.
            busy = [k for k, inst in enumerate(insts) if inst.active]
            spare = cap - sum(shares[k] for k in busy)
            if busy and spare > 1e-12 * cap:
                starving = [k for k in busy if shares[k] <= 0.0]
                if starving:
                    for k in starving:
                        shares[k] = spare / len(starving)
                else:
                    total = sum(shares[k] for k in busy)
                    for k in busy:
                        shares[k] += spare * shares[k] / total
                for k, inst in enumerate(insts):
                    if not inst.active:
                        shares[k] = 0.0
        for inst, s in zip(insts, shares, strict=True):
            inst.rate = s

    def _run_rule(self, insts: Sequence[Instance], cap: float, t: float) -> None:
        if not insts:
            return
        urgency_sum = KERNEL.urgency_sum
        eps = self.epsilon
        inv_mean_work = self.inv_mean_work
        urg: list[float] = []
        work: list[float] = []
        floors: list[float] = []
        count: list[int] = []
        mu: list[float] = []
        for inst in insts:  # one pass of appends: the hot path of every twin run
            mu.append(inv_mean_work[inst.cat])
            if not inst.active:  # idle: no urgency, no work, no floor
                urg.append(0.0)
                work.append(0.0)
                floors.append(0.0)
                count.append(0)
                continue
            urg.append(urgency_sum(inst.deadlines, t, eps))  # (14)
            work.append(inst.workload())  # (13)
            floors.append(self.floor_of(inst, t) if inst.ran_active else 0.0)  # (15)
            count.append(len(inst.active))
        counters = self.counters
        counters.solves += 1
        if math.inf in floors:
            counters.lost_ran_deadlines += 1
        if self.node_rule is not None:
            first = insts[0]
            is_ran = [inst.cat.is_ran for inst in insts]
            resource = "gpu" if first.uses_gpu else "cpu"
            shares, infeasible = self.node_rule(
                first.node.nid, resource, t, cap, is_ran, urg, work, floors, count
            )
        else:
            shares, infeasible = self.rule(cap, urg, work, floors, count, mu)
        if infeasible:
            counters.ran_infeasible_events += 1
        for inst, s in zip(insts, shares, strict=True):
            inst.rate = s
