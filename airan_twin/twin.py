"""The digital twin: the cluster of spec §1 under one method, event by event.

Event handling (docs/twin.md has the full model):

* Every event that changes what a node serves (arrival, completion, expiry, admission,
  migration start/end) first advances the node's servers to ``now``, applies the change, then
  re-runs the method's allocation rule on that node with eqs. (13)–(15) (``_reallocate``) and
  reschedules each instance's next completion. Completion events carry a version number;
  a reallocation bumps it, so stale completions are skipped.
* A request is missed at its deadline: it leaves the system then (work discarded, KV memory
  freed). Arrivals stop at the horizon and the twin drains, so every request ends exactly once.
* AI requests need their KV cache ``κ_r`` on the AI instance's node (4); one that does not fit
  waits in the instance's FIFO admission queue (head-of-line: a waiting request blocks later
  ones, so large requests are not starved).
* A migration takes the instance off-line for ``τ_i``: its admitted requests pause (keeping
  their progress and their KV, which moves with the instance), requests routed to it wait, its
  weights and KV count on the destination from the start. Dispatch avoids a migrating instance
  unless every instance of the service is migrating.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Sequence

from airan_twin.entities import Instance, Node, Req, ReqClass
from airan_twin.events import Ev, EventQueue
from airan_twin.methods.allocation import RULES
from airan_twin.methods.base import Method
from airan_twin.metrics import Counters, RunResult, summarize
from airan_twin.scenario import Category, Scenario, cluster_config
from airan_twin.workload.stream import Workload
from proto.observation import InstanceMeasurement, Snapshot
from rapp_placement.candidates import Candidate, feasible_candidates
from xapp_alloc.demand import DEFAULT_EPSILON, ran_floor, ran_pending, urgency
from xapp_alloc.observation import build_snapshot

log = logging.getLogger(__name__)

#: One core's worth: a request's PDCP work runs on one core, so its CU-UP stage cannot take
#: less than ``w^c / 1 core``; used for the DU floor's downstream estimate ``T̂^down`` (15).
CU_REFERENCE_CORES = 1.0

#: External mode: the node serves pending RAN work at this multiple of its floor (15).
LOCAL_FLOOR_GUARD = 2.0


class Twin:
    """One run: scenario + method + workload. ``run()`` simulates to the end and drains."""

    def __init__(
        self,
        scenario: Scenario,
        method: Method,
        workload: Workload,
        horizon: float,
        *,
        seed: int = 0,
        rho: float = float("nan"),
        external_allocation: bool = False,
        local_ran_floors: bool = True,
        local_work_conserving: bool = True,
        epsilon: float = DEFAULT_EPSILON,
    ) -> None:
        self.sc = scenario
        self.method = method
        self.workload = workload
        self.horizon = horizon
        self.seed = seed
        self.rho = rho
        self.epsilon = epsilon
        self.external_allocation = external_allocation
        self.local_ran_floors = local_ran_floors  # external mode: the node keeps RAN floors
        self.local_work_conserving = local_work_conserving  # ...and lends idle capacity
        self.rule = RULES[method.allocation]
        # A method may allocate per node itself (CAORA's learned RAN/AI split) and watch
        # requests end (its reward); both hooks are optional (None in Method).
        self.node_rule = method.node_rule
        self.finish_hook = method.on_finish
        # Where placement decisions come from and go to (route_decisions): the method, here.
        self._decide = method.decide
        self._commit = self.apply
        self._label = method.name
        self._summary = method.summary
        self.hop = scenario.hop_delay
        self.cluster = cluster_config(scenario)  # what the xApp's config says of this cluster
        self.q = EventQueue()
        self.counters = Counters()
        self.nodes: dict[str, Node] = {
            n.id: Node(n.id, n.kind, n.gpu_capacity, n.cpu_cores, n.gpu_memory)
            for n in scenario.nodes
        }
        self.instances: dict[str, Instance] = {}
        self.du_of_cell: dict[int, Instance] = {}
        self.cu_of_cell: dict[int, Instance] = {}
        self.by_service: dict[Category, list[Instance]] = {
            Category.LARGE_AI: [],
            Category.SMALL_AI: [],
        }
        for spec in scenario.instances:
            cat_spec = scenario.categories[spec.category]
            node = self.nodes[spec.node]
            inst = Instance(
                spec.id, spec.category, node, cat_spec.weights_gb * 1e9, cat_spec.reconfig_s
            )
            node.instances.append(inst)
            node.mem_used += inst.weights
            self.instances[spec.id] = inst
            if spec.category == Category.DU:
                self.du_of_cell[spec.cell] = inst
            elif spec.category == Category.CU_UP:
                self.cu_of_cell[spec.cell] = inst
            else:
                self.by_service[spec.category].append(inst)
        for node in self.nodes.values():
            if node.mem_used > node.mem_cap:
                raise ValueError(
                    f"initial placement breaks GPU memory (4) on {node.nid}: "
                    f"{node.mem_used / 1e9:.1f} GB > {node.mem_cap / 1e9:.1f} GB"
                )
        # μ_i = 1 / mean stage work of the category (MaxWeight's service rate per capacity).
        ai_large = [r.ai_work for r in workload.requests if r.cls == ReqClass.LARGE_AI]
        ai_small = [r.ai_work for r in workload.requests if r.cls == ReqClass.SMALL_AI]
        self.mean_work = {
            Category.DU: scenario.ran.du_gflop_mean * 1e9,
            Category.CU_UP: scenario.ran.cu_core_us_mean * 1e-6,
            Category.LARGE_AI: (sum(ai_large) / len(ai_large)) if ai_large else 1.0,
            Category.SMALL_AI: (sum(ai_small) / len(ai_small)) if ai_small else 1.0,
        }
        self.inv_mean_work = {c: 1.0 / w for c, w in self.mean_work.items()}
        self.rr_next = {Category.LARGE_AI: 0, Category.SMALL_AI: 0}
        self.arrived: list[Req] = []  # every request made so far, in arrival order
        # outcomes[class] = [fulfilled, missed] of requests ended so far (critic labels: O(1)).
        self.outcomes: list[list[int]] = [[0, 0] for _ in ReqClass]
        self.arrival_work: dict[str, float] = dict.fromkeys(self.instances, 0.0)
        self.epoch = 0
        self.epoch_start = 0.0
        self.next_arrival = 0
        self.external: dict[str, tuple[float, float]] = {}
        self.report_hook: Callable[[Twin, str], None] | None = None
        self.report_period: float | None = None
        self._schedule_next_arrival()
        self.q.push(0.0, Ev.EPOCH)
        method.attach(self)  # e.g. CAORA reads node kinds

    # --- public API ----------------------------------------------------------------------------
    def run(self, until: float | None = None, progress: Callable[[float], None] | None = None):
        """Process events up to time ``until`` (default: to the end, draining)."""
        q = self.q
        limit = math.inf if until is None else until
        counters = self.counters
        next_tick = 0.0
        while q and q.peek_time() <= limit:
            t, kind, a, b = q.pop()
            counters.events += 1
            if kind == Ev.STAGE_DONE:
                self._on_stage_done(a, b, t)
            elif kind == Ev.ARRIVAL:
                self._on_arrival(a, t)
            elif kind == Ev.EXPIRE:
                self._on_expire(a, t)
            elif kind == Ev.HOP:
                self._on_hop(a, b, t)
            elif kind == Ev.EPOCH:
                self._on_epoch(t)
            elif kind == Ev.MIGRATION_DONE:
                self._on_migration_done(a, t)
            elif kind == Ev.REPORT:
                self._on_report(a, t)
            if progress is not None and t >= next_tick:
                progress(min(t, self.horizon))
                next_tick = t + 1.0
        if until is not None:
            q.now = max(q.now, until)

    def result(self, wall_s: float = 0.0) -> RunResult:
        """Metrics of a finished run (raises if a request has not ended: run() to the end)."""
        summary = self._summary()
        return summarize(
            self._label,
            self.seed,
            self.rho,
            self.horizon,
            self.sc.epoch_s,
            self.workload.source,
            self.arrived,
            self.counters,
            wall_s,
            summary or None,
        )

    def fork(self) -> Twin:
        """A copy of the whole state that runs on independently (critic rollouts).

        Deep-copies the live state only: the scenario, the method, the workload's future (made
        into requests on arrival) and every finished request (final) are shared.
        """
        memo: dict[int, object] = {
            id(self.sc): self.sc,
            id(self.method): self.method,
            id(self.workload): self.workload,
        }
        for r in self.arrived:
            if r.state == Req.DONE:
                memo[id(r)] = r
        arrived, self.arrived = self.arrived, []
        try:
            clone = copy.deepcopy(self, memo)
        finally:
            self.arrived = arrived
        # Every live request is reachable from an instance or the event heap, so it is in memo.
        clone.arrived = [memo[id(r)] for r in arrived]  # type: ignore[misc]
        return clone

    @property
    def now(self) -> float:
        return self.q.now

    def snapshot(self) -> Snapshot:
        """The per-epoch state the placement layer sees (spec §3.2): every node's report now,
        through the one builder the xApp also uses (``xapp_alloc.observation``)."""
        reports = {nid: self.node_report(nid) for nid in self.nodes}
        placement = {iid: inst.node.nid for iid, inst in self.instances.items()}
        return build_snapshot(self.cluster, reports, placement, (), self.epoch, self.q.now)

    def candidates(self, snap: Snapshot | None = None) -> list[Candidate]:
        snap = snap or self.snapshot()
        eligible = {c.value for c, spec in self.sc.categories.items() if spec.migratable}
        return feasible_candidates(snap, eligible)

    def apply(self, cand: Candidate | None) -> None:
        """Commit a placement action now (None or the no-op does nothing)."""
        if cand is None or cand.is_noop:
            return
        inst = self.instances.get(cand.instance_id)  # type: ignore[arg-type]
        if inst is None:
            raise ValueError(f"unknown instance {cand.instance_id!r}")
        if cand.dst not in self.nodes:
            raise ValueError(f"unknown node {cand.dst!r}")
        self._start_migration(inst, self.nodes[cand.dst], self.q.now)  # type: ignore[index]

    def route_decisions(
        self,
        decide: Callable[[Snapshot, list[Candidate]], Candidate | None] | None = None,
        commit: Callable[[Candidate], None] | None = None,
        label: str | None = None,
        summary: Callable[[], dict] | None = None,
    ) -> None:
        """Take placement decisions from ``decide`` instead of the method, and/or hand them to
        ``commit`` instead of applying them here (the twin as E2 nodes: decisions go to the
        xApp as A1 policies, or come from an rApp process). Only before the run starts; the
        method itself is never swapped."""
        if self.counters.events:
            raise RuntimeError("route decisions before the run starts")
        self._decide = decide or self._decide
        self._commit = commit or self._commit
        self._label = label or self._label
        self._summary = summary or self._summary

    # --- hooks for the xApp (E2 node view) -------------------------------------------------------
    def enable_reports(self, period_s: float, hook: Callable[[Twin, str], None]) -> None:
        """Call ``hook(twin, node_id)`` every ``period_s`` for every node (E2 reporting)."""
        self.report_period = period_s
        self.report_hook = hook
        for nid in self.nodes:
            self.q.push(self.q.now + period_s, Ev.REPORT, nid)

    def node_report(self, node_id: str) -> list[InstanceMeasurement]:
        """What the E2 node ``node_id`` reports now of each resident instance (docs/e2-kpm.md)."""
        t = self.q.now
        node = self.nodes[node_id]
        self._sync(node, t)
        span = max(t - self.epoch_start, 1e-3)
        out = []
        for inst in node.instances:
            w = inst.workload()
            pend, slack = self._ran_pending(inst, t)
            out.append(
                InstanceMeasurement(
                    inst.iid,
                    w if inst.uses_gpu else 0.0,
                    0.0 if inst.uses_gpu else w,
                    self._urgency(inst, t),
                    pend,
                    slack,
                    inst.kv_held,
                    inst.is_migrating(t),
                    len(inst.active),
                    sum(1 for r in inst.queue if r.state == Req.QUEUED),
                    self.arrival_work[inst.iid] / span,
                    inst.queued_work + sum(r.residual for r in inst.paused),
                    inst.rate,
                )
            )
        return out

    def set_allocation(self, node_id: str, shares: dict[str, tuple[float, float]]) -> None:
        """Apply an allocation given from outside (external mode): ``{iid: (g, c)}``."""
        node = self.nodes[node_id]
        for iid in shares:
            if iid not in self.instances or self.instances[iid].node is not node:
                raise ValueError(f"instance {iid!r} is not resident on {node_id!r}")
        self.external.update(shares)
        t = self.q.now
        self._sync(node, t)
        self._reallocate(node, t)

    # --- events -------------------------------------------------------------------------------
    def _schedule_next_arrival(self) -> None:
        reqs = self.workload.requests
        k = self.next_arrival
        if k < len(reqs) and reqs[k].arrival < self.horizon:
            item = reqs[k]
            req = item if isinstance(item, Req) else Req(k, *item)
            self.arrived.append(req)
            self.q.push(req.arrival, Ev.ARRIVAL, req)
            self.next_arrival = k + 1

    def _on_arrival(self, req: Req, t: float) -> None:
        self._schedule_next_arrival()
        self.q.push(req.deadline, Ev.EXPIRE, req)
        du = self.du_of_cell[req.cell]
        self.arrival_work[du.iid] += req.du_work
        if self._enter(req, du, t):
            self._reallocate(du.node, t)

    def _on_hop(self, req: Req, inst: Instance, t: float) -> None:
        if req.state == Req.DONE:
            return
        if self._enter(req, inst, t):
            self._reallocate(inst.node, t)

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
        self._sync(node, t)
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

    def _on_stage_done(self, inst: Instance, version: int, t: float) -> None:
        if version != inst.version:
            return
        node = inst.node
        self._sync(node, t)
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
        self._reallocate(node, t)
        if touched is not None and touched is not node:
            self._reallocate(touched, t)

    def _next_stage(self, req: Req, inst: Instance, t: float) -> Node | None:
        """Move ``req`` past the stage it just finished; return the node it entered, if any."""
        if req.stage == 0:
            nxt = self.cu_of_cell[req.cell]
        elif req.stage == 1 and not req.cls.is_ran_only:
            nxt = self._dispatch(req, t)
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
            self._sync_instance(inst, t)
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

    def _on_expire(self, req: Req, t: float) -> None:
        state = req.state
        if state == Req.DONE:
            return
        inst = req.inst
        if state == Req.ACTIVE:
            node = inst.node
            self._sync(node, t)
            inst.remove(req)
            if inst.ps:
                node.mem_used -= req.kv
                inst.kv_held -= req.kv
            self._finish(req, t, fulfilled=False)
            if inst.ps:
                self._admit_waiting(node, t)
            self._reallocate(node, t)
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
                self._sync_instance(inst, t)
                node.mem_used += req.kv
                inst.kv_held += req.kv
                inst.add(req)

    # --- migrations -----------------------------------------------------------------------------
    def _start_migration(self, inst: Instance, dst: Node, t: float) -> None:
        src = inst.node
        if dst is src:
            raise ValueError(f"{inst.iid} is already on {dst.nid}")
        if inst.is_migrating(t):
            raise ValueError(f"{inst.iid} is already migrating")
        need = inst.weights + inst.kv_held
        if dst.mem_used + need > dst.mem_cap * (1 + 1e-12):
            raise ValueError(f"moving {inst.iid} to {dst.nid} breaks GPU memory (4)")
        self._sync(src, t)
        self.external.pop(inst.iid, None)  # an outside share was for the source node
        for req in list(inst.active.values()):
            inst.remove(req)
            req.state = Req.PAUSED
            inst.paused.append(req)
        src.mem_used -= need
        dst.mem_used += need
        src.instances.remove(inst)
        dst.instances.append(inst)
        inst.node = dst
        inst.migrating_until = t + inst.reconfig_s
        inst.rate = 0.0
        inst.version += 1
        self.counters.migrations += 1
        if inst.cat == Category.LARGE_AI:
            self.counters.large_migrations += 1
        self._reallocate(src, t)
        self._sync(dst, t)
        self._reallocate(dst, t)
        self.q.push(inst.migrating_until, Ev.MIGRATION_DONE, inst)

    def _on_migration_done(self, inst: Instance, t: float) -> None:
        node = inst.node
        self._sync(node, t)
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
        self._reallocate(node, t)

    # --- placement epochs -------------------------------------------------------------------------
    def _on_epoch(self, t: float) -> None:
        if t > 0.0:
            snap = self.snapshot()
            cands = self.candidates(snap)
            choice = self._decide(snap, cands)
            if choice is not None and not choice.is_noop:
                self.counters.decisions.append({"t": t, "epoch": self.epoch, "action": choice.cid})
                self._commit(choice)
        self.arrival_work = dict.fromkeys(self.instances, 0.0)
        self.epoch_start = t
        self.epoch += 1
        nxt = t + self.sc.epoch_s
        if nxt < self.horizon:
            self.q.push(nxt, Ev.EPOCH)

    def _on_report(self, node_id: str, t: float) -> None:
        if self.report_hook is not None:
            self.report_hook(self, node_id)
        if self.report_period is not None and t + self.report_period < self.horizon:
            self.q.push(t + self.report_period, Ev.REPORT, node_id)

    # --- allocation layer -------------------------------------------------------------------------
    @staticmethod
    def _sync(node: Node, t: float) -> None:
        for inst in node.instances:
            inst.advance(t)

    @staticmethod
    def _sync_instance(inst: Instance, t: float) -> None:
        inst.advance(t)

    def _urgency(self, inst: Instance, t: float) -> float:
        """Eq. (14) over the instance's active requests."""
        return urgency((r.deadline for r in inst.active.values()), t, self.epsilon)

    def _downstream(self, req: Req, du: Instance) -> float:
        """``T̂^down`` of a request at the DU: its CU-UP stage at one core, plus a hop if apart."""
        cu = self.cu_of_cell[req.cell]
        return req.cu_work / CU_REFERENCE_CORES + (self.hop if cu.node is not du.node else 0.0)

    def _ran_pending(self, inst: Instance, t: float) -> tuple[float, float]:
        """The two terms of eq. (15) over the instance's pending RAN-only requests."""
        if not inst.ran_active:
            return 0.0, math.inf
        reqs = inst.ran_active.values()
        down = [self._downstream(r, inst) for r in reqs] if inst.cat == Category.DU else None
        return ran_pending([r.residual for r in reqs], [r.deadline for r in reqs], t, down)

    def _floor(self, inst: Instance, t: float) -> float:
        """Eq. (15): ``inf`` when the minimum slack is non-positive (deadline lost)."""
        return ran_floor(*self._ran_pending(inst, t))

    def _reallocate(self, node: Node, t: float) -> None:
        gpu: list[Instance] = []
        cpu: list[Instance] = []
        for inst in node.instances:
            if inst.is_migrating(t):
                inst.rate = 0.0
                continue
            (gpu if inst.uses_gpu else cpu).append(inst)
        serving = gpu + cpu
        if self.external_allocation:
            self._apply_external(gpu, node.gpu_cap, t)
            self._apply_external(cpu, node.cpu_cap, t)
        else:
            self._run_rule(gpu, node.gpu_cap, t)
            self._run_rule(cpu, node.cpu_cap, t)
        q = self.q
        for inst in serving:
            inst.version += 1
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
                min(LOCAL_FLOOR_GUARD * self._floor(inst, t), cap) if r else 0.0
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
        urgency = self._urgency
        urg = [urgency(inst, t) for inst in insts]
        work = [inst.workload() for inst in insts]
        floors = [self._floor(inst, t) if inst.ran_active else 0.0 for inst in insts]
        if math.inf in floors:
            self.counters.lost_ran_deadlines += 1
        count = [len(inst.active) for inst in insts]
        if self.node_rule is not None:
            first = insts[0]
            is_ran = [inst.cat.is_ran for inst in insts]
            resource = "gpu" if first.uses_gpu else "cpu"
            shares, infeasible = self.node_rule(
                first.node.nid, resource, t, cap, is_ran, urg, work, floors, count
            )
        else:
            mu = [self.inv_mean_work[inst.cat] for inst in insts]
            shares, infeasible = self.rule(cap, urg, work, floors, count, mu)
        if infeasible:
            self.counters.ran_infeasible_events += 1
        for inst, s in zip(insts, shares, strict=True):
            inst.rate = s
