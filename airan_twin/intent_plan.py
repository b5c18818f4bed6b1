"""From a structured intent to a verified A1 policy (issue 16; after the RIDAS seed's
two-stage planning with verification).

1. **Check** (:func:`rapp_placement.intent.check_intent`): contradictions and rules the cluster
   cannot satisfy end here, with the reasons and no policy.
2. **Pre-allocation**: every instance the rules forbid where it is (an avoided node kind, a pin
   elsewhere) moves to an allowed node that has the memory (eq. 4) — the one with the most idle
   GPU.
3. **Reallocation**, when no allowed node has the memory: the smallest instance(s) with slack
   on an allowed node move to their own allowed node first, to make room.
4. **Weights**: the priority class's weight in J (11) is doubled.
5. **Verification in the twin**: the current state is forked twice — as is, and with the plan
   (migrations, weights, rules in force) — and both run the same future for ``horizon_s``; each
   target is checked on the plan's run. A missed fulfilment floor doubles that class's weight
   for one more round; still missed, the plan is refused with the prediction that shows why.

The output is an A1 policy of the HAF type (``build_policy``): migrations, class weights and
the rules (``constraints``), shown beside the twin's before/after prediction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from airan_twin.metrics import CLASS_NAMES, GROUPS
from proto.observation import ClassWeights, Constraints
from rapp_placement.candidates import Candidate, migration_id
from rapp_placement.critic import DEFAULT_CLASS_WEIGHTS
from rapp_placement.intent import check_intent

_CLASSES = ("large_ai", "small_ai", "ran_only")
#: A class losing more fulfilment than this (points) under the plan is flagged to the operator.
WARN_DROP = 5.0


@dataclass
class Prediction:
    fulfilment: dict[str, float]  # % per group: large_ai, small_ai, ran_only, overall
    p95_ms: dict[str, float]  # of fulfilled requests: large_ai, small_ai
    requests: int


@dataclass
class Plan:
    intent: dict
    migrations: list[tuple[str, str]] = field(default_factory=list)
    weights: tuple[float, float, float] = DEFAULT_CLASS_WEIGHTS
    constraints: Constraints | None = None
    steps: list[str] = field(default_factory=list)  # what the planner did, in words
    problems: list[str] = field(default_factory=list)  # why there is no policy
    warnings: list[str] = field(default_factory=list)  # what the plan costs that no target asked
    before: Prediction | None = None
    after: Prediction | None = None
    checks: list[tuple[str, bool, str]] = field(default_factory=list)  # (target, met, detail)
    rounds: int = 0
    policy: dict | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and self.policy is not None


# --- the twin's prediction ------------------------------------------------------------------
def predict(twin, horizon_s: float, tail_s: float = 60.0) -> Prediction:
    """Run ``twin`` (a fork) ``horizon_s`` on and judge the requests that arrived in that span
    (given ``tail_s`` more to end; one still open then counts as missed)."""
    t0 = twin.now
    twin.run(until=t0 + horizon_s + tail_s)
    reqs = [r for r in twin.arrived if t0 <= r.arrival < t0 + horizon_s]
    cls = np.fromiter((int(r.cls) for r in reqs), dtype=np.int8, count=len(reqs))
    ok = np.fromiter((bool(r.fulfilled) for r in reqs), dtype=bool, count=len(reqs))
    lat = np.fromiter(
        ((r.end - r.arrival) if r.end is not None else np.inf for r in reqs),
        dtype=float,
        count=len(reqs),
    )
    ful = {}
    for g, members in GROUPS.items():
        m = np.isin(cls, [int(c) for c in members])
        ful[g] = 100.0 * float(ok[m].mean()) if m.any() else float("nan")
    p95 = {}
    for c, name in CLASS_NAMES.items():
        if name in ("large_ai", "small_ai"):
            done = lat[(cls == int(c)) & ok]
            p95[name] = 1000.0 * float(np.percentile(done, 95)) if len(done) else float("nan")
    return Prediction(ful, p95, len(reqs))


def _checks(intent: dict, p: Prediction) -> list[tuple[str, bool, str]]:
    out = []
    for t in intent.get("targets", []):
        if t["metric"] == "fulfilment":
            got = p.fulfilment.get(t["class"], float("nan"))
            ok = got >= t["min_percent"]
            out.append((f"{t['class']} fulfilment ≥ {t['min_percent']:g}%", ok, f"{got:.1f}%"))
        else:
            got = p.p95_ms.get(t["class"], float("nan"))
            ok = got <= t["max_ms"]
            out.append((f"{t['class']} p95 ≤ {t['max_ms']:g} ms", ok, f"{got:.0f} ms"))
    return out


# --- stages ---------------------------------------------------------------------------------
def _stage_moves(twin, rules: Constraints, plan: Plan) -> None:
    """Pre-allocation, then reallocation, for every instance the rules forbid where it is."""
    snap = twin.snapshot()
    kinds = {n.node_id: n.kind for n in snap.nodes}
    free_mem = {n.node_id: n.mem_capacity - n.mem_used for n in snap.nodes}
    idle_gpu = {n.node_id: n.gpu_capacity * (1 - n.gpu_util) for n in snap.nodes}
    where = {i.instance_id: i.node_id for i in snap.instances}
    size = {i.instance_id: i.weights + i.kv for i in snap.instances}
    cat = {i.instance_id: i.category for i in snap.instances}
    movable = {c.value for c, spec in twin.sc.categories.items() if spec.migratable}

    def allowed(iid: str, node: str) -> bool:
        return rules.allows(cat[iid], iid, node, kinds[node])

    def move(iid: str, dst: str) -> None:
        free_mem[where[iid]] += size[iid]
        free_mem[dst] -= size[iid]
        where[iid] = dst
        plan.migrations.append((iid, dst))

    violators = sorted((i for i in where if not allowed(i, where[i])), key=lambda i: -size[i])
    for iid in violators:
        if cat[iid] not in movable:
            plan.problems.append(f"{iid} breaks the rules but {cat[iid]} cannot migrate")
            continue
        fits = [
            n for n in kinds if n != where[iid] and allowed(iid, n) and free_mem[n] >= size[iid]
        ]
        if fits:
            dst, src = max(fits, key=lambda n: (idle_gpu[n], n)), where[iid]
            move(iid, dst)
            plan.steps.append(f"pre-allocate: {iid} {src} -> {dst} (idle, allowed, has room)")
            continue
        # Reallocation: make room on an allowed node by moving the smallest instances there
        # that have an allowed home with room elsewhere.
        done = False
        for n in sorted((n for n in kinds if allowed(iid, n)), key=lambda n: -free_mem[n]):
            short = size[iid] - free_mem[n]
            freed, first = 0.0, []
            for other in sorted((o for o in where if where[o] == n and o != iid), key=size.get):
                if cat[other] not in movable or (other, n) in rules.pin:
                    continue
                homes = [
                    m for m in kinds if m != n and allowed(other, m) and free_mem[m] >= size[other]
                ]
                if not homes:
                    continue
                first.append((other, max(homes, key=lambda m: (idle_gpu[m], m))))
                freed += size[other]
                if freed >= short:
                    break
            if freed >= short:
                for other, home in first:
                    move(other, home)
                    plan.steps.append(f"reallocate: {other} {n} -> {home} (room for {iid})")
                move(iid, n)
                plan.steps.append(f"place: {iid} -> {n}")
                done = True
                break
        if not done:
            plan.problems.append(
                f"{iid} ({size[iid] / 1e9:.0f} GB) has no allowed node with room, even after "
                "moving the instances with slack"
            )


def _weights(intent: dict) -> list[float]:
    w = list(DEFAULT_CLASS_WEIGHTS)
    if "priority" in intent:
        w[_CLASSES.index(intent["priority"])] *= 2
    return w


def _fork_with(twin, plan: Plan, weights: list[float]):
    fork = twin.fork()
    fork.class_weights = ClassWeights(*weights)
    fork.constraints = plan.constraints
    for iid, dst in plan.migrations:  # in order: room is made before it is used
        fork.apply(Candidate(migration_id(iid, dst), iid, None, dst))
    return fork


def plan_intent(
    intent: dict, twin, horizon_s: float = 120.0, epoch: int = 0, issued_by: str = "haf-intent"
) -> Plan:
    """The verified plan for ``intent`` from ``twin``'s current state (see the module doc)."""
    from a1_policies.haf_placement import MAX_MIGRATIONS, build_policy

    plan = Plan(intent)
    placement = {iid: inst.node.nid for iid, inst in twin.instances.items()}
    plan.problems = check_intent(intent, twin.sc, placement)
    if plan.problems:
        return plan
    plan.constraints = Constraints.of_policy(intent)
    if plan.constraints is not None:
        _stage_moves(twin, plan.constraints, plan)
    if len(plan.migrations) > MAX_MIGRATIONS:
        plan.problems.append(f"{len(plan.migrations)} migrations, one policy holds 16")
    budget = intent.get("migration_budget")
    if budget is not None and len(plan.migrations) > budget:
        plan.problems.append(
            f"the plan needs {len(plan.migrations)} migrations, the budget is {budget} per hour"
        )
    if plan.problems:
        return plan
    weights = _weights(intent)
    plan.before = predict(twin.fork(), horizon_s)
    for rnd in (1, 2):
        plan.rounds = rnd
        plan.after = predict(_fork_with(twin, plan, weights), horizon_s)
        plan.checks = _checks(intent, plan.after)
        targets = intent.get("targets", [])
        missed = [t for t, (_, ok, _) in zip(targets, plan.checks, strict=True) if not ok]
        if not missed or rnd == 2:
            break
        raised = False
        for t in missed:
            if t["metric"] == "fulfilment" and t["class"] in _CLASSES:
                weights[_CLASSES.index(t["class"])] *= 2
                raised = True
        if not raised:
            break
        plan.steps.append("round 2: weight of the missed classes doubled")
    plan.weights = tuple(weights)  # type: ignore[assignment]
    for g in ("large_ai", "small_ai", "ran_only"):  # what no target guards, the operator sees
        drop = plan.before.fulfilment[g] - plan.after.fulfilment[g]
        if drop > WARN_DROP:
            plan.warnings.append(
                f"{g} fulfilment falls {plan.before.fulfilment[g]:.1f}% -> "
                f"{plan.after.fulfilment[g]:.1f}% in the twin (no target guards it)"
            )
    for label, ok, got in plan.checks:
        if not ok:
            plan.problems.append(f"target {label} not met in the twin: predicted {got}")
    if plan.problems:
        return plan
    plan.policy = build_policy(
        epoch, plan.migrations, issued_by, ClassWeights(*weights), plan.constraints
    )
    return plan
