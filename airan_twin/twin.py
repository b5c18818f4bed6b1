"""The digital twin: the cluster of spec §1 under one method, event by event.

The twin is split by concern (docs/twin.md has the full model):

* this module: the :class:`Twin` — its state, the event loop (``run``: pop an event from
  :class:`~airan_twin.events.EventQueue`, call its handler), placement epochs and E2 reporting
  hooks, and the public API (``result``, ``fork``, ``apply``, ``route_decisions``...);
* :mod:`airan_twin.lifecycle`: a request's life — arrival, stage completions, hops, dispatch,
  KV admission, expiry, migrations;
* :mod:`airan_twin.node_alloc`: each node's GPU/CPU allocation with eqs. (13)–(15);
* :mod:`airan_twin.observe`: E2 node reports and the rApp's snapshot.

Arrivals stop at the horizon and the twin drains, so every request ends exactly once.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable
from dataclasses import replace

from airan_twin.entities import Instance, Node, Req, ReqClass
from airan_twin.events import Ev, EventQueue
from airan_twin.lifecycle import Lifecycle
from airan_twin.methods.allocation import RULES
from airan_twin.methods.base import Method
from airan_twin.metrics import Counters, RunResult, summarize
from airan_twin.node_alloc import NodeAllocation
from airan_twin.observe import Observation
from airan_twin.scenario import Category, Scenario, cluster_config
from airan_twin.workload.stream import Workload
from proto.observation import ClassWeights, Constraints, InstanceConfig, Snapshot
from rapp_placement.candidates import Candidate, feasible_candidates
from xapp_alloc.demand import DEFAULT_EPSILON

log = logging.getLogger(__name__)


class Twin(Lifecycle, NodeAllocation, Observation):
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
        resolve: str = "changed",
    ) -> None:
        if resolve not in ("changed", "every-event"):
            raise ValueError(f"resolve must be 'changed' or 'every-event', got {resolve!r}")
        self.sc = scenario
        self.method = method
        self.workload = workload
        self.horizon = horizon
        self.seed = seed
        self.rho = rho
        self.epsilon = epsilon
        # Which sub-problems a request event re-solves (node_alloc module doc, docs/twin.md).
        self.resolve_every_event = resolve == "every-event"
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
            node = self.nodes[spec.node]
            inst = self.new_instance(spec.id, spec.category, node, spec.variant)
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
        # An operator's policy in force, as the xApp would report it (issue 16: intents).
        self.class_weights: ClassWeights | None = None
        self.constraints: Constraints | None = None
        self.epoch_start = 0.0
        self.next_arrival = 0
        self.external: dict[str, tuple[float, float]] = {}
        self.report_hook: Callable[[Twin, str], None] | None = None
        self.report_period: float | None = None
        self.schedule_next_arrival()
        self.q.push(0.0, Ev.EPOCH)
        method.attach(self)  # e.g. CAORA reads node kinds

    # --- public API ----------------------------------------------------------------------------
    def new_instance(
        self, iid: str, cat: Category, node: Node, variant: str | None = None
    ) -> Instance:
        """An instance of ``cat`` on ``node`` running ``variant`` (None: the default)."""
        spec = self.sc.categories[cat]
        v = spec.variant(variant)
        if v is None:
            if variant:
                raise ValueError(f"{cat.value} offers no variants")
            return Instance(iid, cat, node, spec.weights_gb * 1e9, spec.reconfig_s)
        name = variant or spec.default_variant or ""
        return Instance(
            iid,
            cat,
            node,
            v.weights_gb * 1e9,
            spec.reconfig_s,
            name,
            v.work_scale,
            v.kv_scale,
            v.quality,
        )

    def refresh_cluster(self) -> None:
        """Re-state the cluster config after a variant change or an admission (issue 16)."""
        self.cluster = replace(
            self.cluster,
            instances=tuple(
                InstanceConfig(i.iid, i.cat.value, i.weights, i.reconfig_s, i.node.nid, i.variant)
                for i in self.instances.values()
            ),
        )

    def set_variant(self, instance_id: str, variant: str) -> None:
        """Reconfigure an AI instance in place to ``variant`` now (its window, memory (4))."""
        inst = self.instances.get(instance_id)
        if inst is None:
            raise ValueError(f"unknown instance {instance_id!r}")
        self.start_migration(inst, inst.node, self.q.now, variant)

    def admit(self, instance_id: str, category: str, node_id: str, variant: str = "") -> None:
        """Add an AI instance on ``node_id`` now; it serves after loading (its window)."""
        if node_id not in self.nodes:
            raise ValueError(f"unknown node {node_id!r}")
        try:
            cat = Category(category)
        except ValueError:
            raise ValueError(f"unknown category {category!r}") from None
        inst = self.new_instance(instance_id, cat, self.nodes[node_id], variant or None)
        self.admit_instance(inst, self.q.now)

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
                self.on_stage_done(a, b, t)
            elif kind == Ev.ARRIVAL:
                self.on_arrival(a, t)
            elif kind == Ev.EXPIRE:
                self.on_expire(a, t)
            elif kind == Ev.HOP:
                self.on_hop(a, b, t)
            elif kind == Ev.EPOCH:
                self._on_epoch(t)
            elif kind == Ev.MIGRATION_DONE:
                self.on_migration_done(a, t)
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
        self.start_migration(inst, self.nodes[cand.dst], self.q.now)  # type: ignore[index]

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

    def set_allocation(self, node_id: str, shares: dict[str, tuple[float, float]]) -> None:
        """Apply an allocation given from outside (external mode): ``{iid: (g, c)}``."""
        node = self.nodes[node_id]
        for iid in shares:
            if iid not in self.instances or self.instances[iid].node is not node:
                raise ValueError(f"instance {iid!r} is not resident on {node_id!r}")
        self.external.update(shares)
        t = self.q.now
        self.sync(node, t)
        self.reallocate(node, t)

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
