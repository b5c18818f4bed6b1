"""The request lifecycle in the twin: arrival → DU → CU-UP → (AI service) → fulfilled or missed.

A request enters its cell's DU on arrival, moves stage by stage (a hop of ``δ`` between nodes),
and ends once: at its last stage's completion (fulfilled if before its deadline) or at its
deadline (missed: its work is discarded, its KV freed). AI requests need their KV cache on the
AI instance's node (4): one that does not fit waits in the instance's FIFO admission queue.
A migration takes the instance off-line for its window: its requests pause and keep their
progress and KV, which move with it.

:class:`Lifecycle` holds these event handlers; :class:`~airan_twin.twin.Twin` owns the state
they change and calls them from its event loop. They re-allocate a node through
:class:`~airan_twin.node_alloc.NodeAllocation` whenever what it serves changes.
"""

from __future__ import annotations

import math

from airan_twin.entities import Instance, Node, Req, ReqClass
from airan_twin.events import Ev
from airan_twin.scenario import Category


class Lifecycle:
    """Event handlers of a request's life (mixed into the Twin, whose state they change)."""

    def schedule_next_arrival(self) -> None:
        reqs = self.workload.requests
        k = self.next_arrival
        if k < len(reqs) and reqs[k].arrival < self.horizon:
            item = reqs[k]
            req = item if isinstance(item, Req) else Req(k, *item)
            self.arrived.append(req)
            self.q.push(req.arrival, Ev.ARRIVAL, req)
            self.next_arrival = k + 1

    def on_arrival(self, req: Req, t: float) -> None:
        self.schedule_next_arrival()
        self.q.push(req.deadline, Ev.EXPIRE, req)
        du = self.du_of_cell[req.cell]
        self.arrival_work[du.iid] += req.du_work
        if self._enter(req, du, t):
            self.reallocate_changed(du.node, t)

    def on_hop(self, req: Req, inst: Instance, t: float) -> None:
        if req.state == Req.DONE:
            return
        if self._enter(req, inst, t):
            self.reallocate_changed(inst.node, t)

    def _enter(self, req: Req, inst: Instance, t: float) -> bool:
        """Put ``req`` on ``inst``; True if the node's service changed (caller reallocates)."""
        node = inst.node
        if inst.is_migrating(t) or (
            inst.ps and (self._has_waiting(inst) or node.mem_used + req.kv > node.mem_cap)
        ):
            if inst.ps and not inst.is_migrating(t):
                self.counters.kv_waits += 1
            req.state = Req.QUEUED
            req.inst = inst
            inst.queue.append(req)
            inst.queued_work += req.residual
            return False
        self.sync(node, t)
        if inst.ps:
            node.mem_used += req.kv
            inst.kv_held += req.kv
        inst.add(req)
        return True

    @staticmethod
    def _has_waiting(inst: Instance) -> bool:
        q = inst.queue
        while q and q[0].state != Req.QUEUED:
            q.pop(0)
        return bool(q)

    def on_stage_done(self, inst: Instance, version: int, t: float) -> None:
        if version != inst.version:
            return
        node = inst.node
        self.sync(node, t)
        req = inst.head()
        if req is None:  # pragma: no cover - a versioned event always has a head
            return
        inst.remove(req)
        freed = False
        if inst.ps:
            node.mem_used -= req.kv
            inst.kv_held -= req.kv
            freed = True
        touched = self._next_stage(req, inst, t)
        if freed:
            self._admit_waiting(node, t)
        self.reallocate_changed(node, t)
        if touched is not None and touched is not node:
            self.reallocate_changed(touched, t)

    def _next_stage(self, req: Req, inst: Instance, t: float) -> Node | None:
        """Move ``req`` past the stage it just finished; return the node it entered, if any."""
        if req.stage == 0:
            nxt = self.cu_of_cell[req.cell]
        elif req.stage == 1 and not req.cls.is_ran_only:
            nxt = self._dispatch(req, t)
            # The variant it lands on sets its work, KV and the quality it is served at.
            if nxt.work_scale != 1.0:
                req.ai_work *= nxt.work_scale
            if nxt.kv_scale != 1.0:
                req.kv *= nxt.kv_scale
            req.quality = nxt.quality
        else:
            self._finish(req, t, fulfilled=t <= req.deadline)
            return None
        req.stage += 1
        req.residual = req.stage_work()
        self.arrival_work[nxt.iid] += req.residual
        if nxt.node is inst.node:
            return nxt.node if self._enter(req, nxt, t) else None
        req.state = Req.HOP
        req.inst = nxt
        self.q.push(t + self.hop, Ev.HOP, req, nxt)
        return None

    def _dispatch(self, req: Req, t: float) -> Instance:
        cat = Category.LARGE_AI if req.cls == ReqClass.LARGE_AI else Category.SMALL_AI
        pool = self.by_service[cat]
        ready = [i for i in pool if not i.is_migrating(t)] or pool
        if self.method.dispatch == "round-robin":
            k = self.rr_next[cat]
            self.rr_next[cat] = k + 1
            return ready[k % len(ready)]
        best, best_b = ready[0], math.inf
        for inst in ready:  # first of the least backlogged: deterministic tie-break
            self.sync_instance(inst, t)
            b = inst.backlog()
            if b < best_b:
                best, best_b = inst, b
        return best

    def _finish(self, req: Req, t: float, fulfilled: bool) -> None:
        if self.finish_hook is not None and req.inst is not None:
            self.finish_hook(req.inst.node.nid, req.cls, t, fulfilled)
        req.state = Req.DONE
        req.end = t
        req.fulfilled = fulfilled
        req.inst = None
        self.outcomes[req.cls][0 if fulfilled else 1] += 1

    def on_expire(self, req: Req, t: float) -> None:
        state = req.state
        if state == Req.DONE:
            return
        inst = req.inst
        if state == Req.ACTIVE:
            node = inst.node
            self.sync(node, t)
            inst.remove(req)
            if inst.ps:
                node.mem_used -= req.kv
                inst.kv_held -= req.kv
            self._finish(req, t, fulfilled=False)
            if inst.ps:
                self._admit_waiting(node, t)
            self.reallocate_changed(node, t)
            return
        if state == Req.QUEUED:
            inst.queued_work = max(inst.queued_work - req.residual, 0.0)
        elif state == Req.PAUSED:
            inst.paused.remove(req)
            if inst.ps:
                inst.node.mem_used -= req.kv
                inst.kv_held -= req.kv
        self._finish(req, t, fulfilled=False)

    def _admit_waiting(self, node: Node, t: float) -> None:
        for inst in node.instances:
            if not inst.ps or inst.is_migrating(t):
                continue
            q = inst.queue
            while q:
                req = q[0]
                if req.state != Req.QUEUED:
                    q.pop(0)
                    continue
                if node.mem_used + req.kv > node.mem_cap:
                    break
                q.pop(0)
                inst.queued_work = max(inst.queued_work - req.residual, 0.0)
                self.sync_instance(inst, t)
                node.mem_used += req.kv
                inst.kv_held += req.kv
                inst.add(req)

    # --- migrations -----------------------------------------------------------------------------
    def start_migration(self, inst: Instance, dst: Node, t: float, variant: str = "") -> None:
        """Take ``inst`` off-line for its window and move it to ``dst``; with ``variant`` (issue
        16) it also swaps its weights for that variant's — ``dst`` may then be where it is (a
        reconfiguration in place). Memory (4) is checked with the new weights."""
        src = inst.node
        spec = self.sc.categories[inst.cat].variant(variant) if variant else None
        if variant and spec is None:
            raise ValueError(f"{inst.cat.value} offers no variants")
        changes = spec is not None and variant != inst.variant
        if dst is src and not changes:
            raise ValueError(
                f"{inst.iid} is already on {dst.nid}" + (f" as {variant}" if variant else "")
            )
        if inst.is_migrating(t):
            raise ValueError(f"{inst.iid} is already migrating")
        weights = spec.weights_gb * 1e9 if changes else inst.weights
        held = inst.weights + inst.kv_held
        need = weights + inst.kv_held
        free = dst.mem_cap * (1 + 1e-12) - dst.mem_used + (held if dst is src else 0.0)
        if need > free:
            what = f"{inst.iid} as {variant}" if changes else f"moving {inst.iid}"
            raise ValueError(f"{what} on {dst.nid} breaks GPU memory (4)")
        self.sync(src, t)
        self.external.pop(inst.iid, None)  # an outside share was for the source node
        for req in list(inst.active.values()):
            inst.remove(req)
            req.state = Req.PAUSED
            inst.paused.append(req)
        src.mem_used -= held
        dst.mem_used += need
        if dst is not src:
            src.instances.remove(inst)
            dst.instances.append(inst)
            inst.node = dst
            self.counters.migrations += 1
            if inst.cat == Category.LARGE_AI:
                self.counters.large_migrations += 1
        if changes:
            inst.variant = variant
            inst.weights = weights
            inst.work_scale, inst.kv_scale, inst.quality = (
                spec.work_scale,
                spec.kv_scale,
                spec.quality,
            )
            self.counters.reconfigurations += 1
            self.refresh_cluster()
        inst.migrating_until = t + inst.reconfig_s
        inst.rate = 0.0
        inst.version += 1
        self.reallocate(src, t)
        if dst is not src:
            self.sync(dst, t)
            self.reallocate(dst, t)
        self.q.push(inst.migrating_until, Ev.MIGRATION_DONE, inst)

    def admit_instance(self, inst: Instance, t: float) -> None:
        """A new AI instance (issue 16) joins its node: it loads its weights for its window
        and takes requests after that."""
        node = inst.node
        if inst.iid in self.instances:
            raise ValueError(f"instance {inst.iid!r} exists already")
        if not inst.cat.is_ai:
            raise ValueError(f"only AI services are admitted, not {inst.cat.value}")
        if node.mem_used + inst.weights > node.mem_cap * (1 + 1e-12):
            raise ValueError(f"admitting {inst.iid} on {node.nid} breaks GPU memory (4)")
        self.sync(node, t)
        node.instances.append(inst)
        node.mem_used += inst.weights
        self.instances[inst.iid] = inst
        self.by_service[inst.cat].append(inst)
        self.arrival_work[inst.iid] = 0.0
        inst.last_t = t
        inst.migrating_until = t + inst.reconfig_s
        self.counters.admissions += 1
        self.refresh_cluster()
        self.reallocate(node, t)
        self.q.push(inst.migrating_until, Ev.MIGRATION_DONE, inst)

    def on_migration_done(self, inst: Instance, t: float) -> None:
        node = inst.node
        self.sync(node, t)
        inst.migrating_until = -1.0
        inst.last_t = t
        for req in inst.paused:
            inst.add(req)
        inst.paused = []
        # Requests that waited for the window, in arrival order; AI ones need KV room.
        waiting = [r for r in inst.queue if r.state == Req.QUEUED]
        inst.queue = []
        inst.queued_work = 0.0
        for req in waiting:
            if inst.ps and (inst.queue or node.mem_used + req.kv > node.mem_cap):
                inst.queue.append(req)
                inst.queued_work += req.residual
                continue
            if inst.ps:
                node.mem_used += req.kv
                inst.kv_held += req.kv
            inst.add(req)
        self.reallocate(node, t)
