"""From a structured intent to a verified A1 policy (issue 16; after the RIDAS seed's
two-stage planning with verification).

1. **Check** (:func:`rapp_placement.intent.check_intent`): contradictions and rules the cluster
   cannot satisfy end here, with the reasons and no policy.
2. **Pre-allocation** from what is idle: every instance the rules forbid where it is (an
   avoided node kind, a pin elsewhere) moves to an allowed node that has the memory (eq. 4) —
   the one with the most idle GPU; every new service (``admit``) gets the best-quality variant
   its quality floor allows that fits, with room for its share of the service's KV now (the
   service's KV over one more instance, at most the 8 GB a node keeps for an LLM's KV), on an
   allowed node (its cell's node first, then the most idle GPU).
3. **Reallocation**, when nothing idle is enough: services already running make room —
   the smallest movable instances move to an allowed home elsewhere (no quality lost), and
   when moves alone are not enough, AI instances with quality slack (above their class's
   floor) also reconfigure to a smaller variant.
4. **Weights**: the priority class's weight in J (11) is doubled.
5. **Verification in the twin**: the current state is forked twice — as is, and with the plan
   (variant changes, migrations, admissions, weights, rules) — and both run the same future for
   ``horizon_s``; each target is checked on the plan's run. A missed target of an AI class
   triggers one more reallocation round: its weight doubles and its instances switch to the
   fastest variant the quality floor allows. Still missed, the plan is refused with the
   prediction that shows why.

``mode="single"`` is the ablation the RIDAS seed compares against: one pass of pre-allocation,
no reallocation, no verification gate (the policy is issued whatever the twin predicts; the
prediction is still made, to measure it).

The output is an A1 policy of the HAF type (``build_policy``): migrations, variants,
admissions, class weights and the rules (``constraints``), shown beside the twin's
before/after prediction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from airan_twin.metrics import CLASS_NAMES, GROUPS
from airan_twin.scenario import Category
from airan_twin.topologies import KV_ROOM_GB
from proto.observation import ClassWeights, Constraints
from rapp_placement.critic import DEFAULT_CLASS_WEIGHTS
from rapp_placement.intent import check_intent

_CLASSES = ("large_ai", "small_ai", "ran_only")
_CLASS_OF_CAT = {"large-ai": "large_ai", "small-ai": "small_ai"}
GB = 1e9
#: A class losing more fulfilment than this (points) under the plan is flagged to the operator.
WARN_DROP = 5.0
MODES = ("full", "single")


@dataclass
class Prediction:
    fulfilment: dict[str, float]  # % per group: large_ai, small_ai, ran_only, overall
    p95_ms: dict[str, float]  # of fulfilled requests: large_ai, small_ai
    requests: int
    quality: dict[str, float] = field(default_factory=dict)  # lowest served: large_ai, small_ai
    mean_quality: dict[str, float] = field(default_factory=dict)  # mean over fulfilled


@dataclass
class Plan:
    intent: dict
    mode: str = "full"
    migrations: list[tuple[str, str]] = field(default_factory=list)
    variants: dict[str, str] = field(default_factory=dict)  # instance -> variant
    admissions: list[dict] = field(default_factory=list)  # instance_id, category, node, variant
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

    @property
    def targets_met(self) -> bool:
        return bool(self.checks) and all(ok for _, ok, _ in self.checks)


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
        ((r.end - r.arrival) if r.end >= 0 else np.inf for r in reqs), dtype=float, count=len(reqs)
    )
    qual = np.fromiter((r.quality for r in reqs), dtype=float, count=len(reqs))
    ful = {}
    for g, members in GROUPS.items():
        m = np.isin(cls, [int(c) for c in members])
        ful[g] = 100.0 * float(ok[m].mean()) if m.any() else float("nan")
    p95, low, mean = {}, {}, {}
    for c, name in CLASS_NAMES.items():
        if name in ("large_ai", "small_ai"):
            m = (cls == int(c)) & ok
            p95[name] = 1000.0 * float(np.percentile(lat[m], 95)) if m.any() else float("nan")
            low[name] = float(qual[m].min()) if m.any() else float("nan")
            mean[name] = float(qual[m].mean()) if m.any() else float("nan")
    return Prediction(ful, p95, len(reqs), low, mean)


def _checks(intent: dict, p: Prediction) -> list[tuple[str, bool, str]]:
    out = []
    for t in intent.get("targets", []):
        if t["metric"] == "fulfilment":
            got = p.fulfilment.get(t["class"], float("nan"))
            ok = got >= t["min_percent"]
            out.append((f"{t['class']} fulfilment ≥ {t['min_percent']:g}%", ok, f"{got:.1f}%"))
        elif t["metric"] == "quality":
            got = p.quality.get(t["class"], float("nan"))
            ok = math.isnan(got) or got >= t["min_score"] - 1e-12  # none served: none too low
            out.append((f"{t['class']} quality ≥ {t['min_score']:g}", ok, f"{got:.3f}"))
        else:
            got = p.p95_ms.get(t["class"], float("nan"))
            ok = got <= t["max_ms"]
            out.append((f"{t['class']} p95 ≤ {t['max_ms']:g} ms", ok, f"{got:.0f} ms"))
    return out


def _floors(intent: dict) -> dict[str, float]:
    """Quality floor per AI category (0: none)."""
    out = {"large-ai": 0.0, "small-ai": 0.0}
    for t in intent.get("targets", []):
        if t["metric"] == "quality":
            out[{v: k for k, v in _CLASS_OF_CAT.items()}[t["class"]]] = t["min_score"]
    return out


# --- the planner's view of the cluster ------------------------------------------------------
class _Room:
    """Memory, idle GPU and residency as the plan changes them (weights + KV per instance)."""

    def __init__(self, twin, rules: Constraints | None, plan: Plan) -> None:
        snap = twin.snapshot()
        self.sc = twin.sc
        self.plan = plan
        self.rules = rules
        self.kinds = {n.node_id: n.kind for n in snap.nodes}
        self.free = {n.node_id: n.mem_capacity - n.mem_used for n in snap.nodes}
        self.idle = {n.node_id: n.gpu_capacity * (1 - n.gpu_util) for n in snap.nodes}
        self.where = {i.instance_id: i.node_id for i in snap.instances}
        self.size = {i.instance_id: i.weights + i.kv for i in snap.instances}
        self.cat = {i.instance_id: i.category for i in snap.instances}
        self.variant = {iid: inst.variant for iid, inst in twin.instances.items()}
        # KV a new instance of a category is sized for: the category's KV now, shared over
        # one more instance (dispatch balances backlog across a service's instances).
        self.kv_share = {
            c: sum(i.kv for i in snap.instances if i.category == c)
            / (1 + sum(1 for i in snap.instances if i.category == c))
            for c in ("large-ai", "small-ai")
        }
        self.movable = {c.value for c, spec in twin.sc.categories.items() if spec.migratable}
        self.cell_node = {c: inst.node.nid for c, inst in twin.du_of_cell.items()}

    def allowed(self, iid: str, cat: str, node: str) -> bool:
        return self.rules is None or self.rules.allows(cat, iid, node, self.kinds[node])

    def move(self, iid: str, dst: str) -> None:
        self.free[self.where[iid]] += self.size[iid]
        self.free[dst] -= self.size[iid]
        self.where[iid] = dst
        self.plan.migrations.append((iid, dst))

    def variants_of(self, cat: str, floor: float) -> list[tuple[str, float, float, float]]:
        """(name, weights, quality, work_scale) of the variants of ``cat`` at or above
        ``floor``, best quality first; [("", weights, 1, 1)] when it offers none."""
        spec = self.sc.categories[Category(cat)]
        if not spec.variants:
            return [("", spec.weights_gb * GB, 1.0, 1.0)]
        out = [
            (n, v.weights_gb * GB, v.quality, v.work_scale)
            for n, v in spec.variants.items()
            if v.quality >= floor - 1e-12
        ]
        return sorted(out, key=lambda o: (-o[2], o[1], o[0]))

    def reconfigure(self, iid: str, name: str, weights: float) -> float:
        """Plan a variant change in place; the memory it frees (negative: takes)."""
        old = self.size[iid] - self._kv(iid)
        freed = old - weights
        self.free[self.where[iid]] += freed
        self.size[iid] -= freed
        self.variant[iid] = name
        self.plan.variants[iid] = name
        return freed

    def _kv(self, iid: str) -> float:
        spec = self.sc.categories[Category(self.cat[iid])]
        v = spec.variant(self.variant[iid])
        weights = (v.weights_gb if v is not None else spec.weights_gb) * GB
        return self.size[iid] - weights


# --- stages ---------------------------------------------------------------------------------
def _make_room(room: _Room, node: str, short: float, floors: dict[str, float], keep: str = ""):
    """Reallocation on ``node``: the actions that free ``short`` bytes, or None (nothing is
    changed). Moves alone first — movable residents, smallest first, to an allowed home with
    room elsewhere: no quality is lost; then, if that is not enough, AI residents with quality
    slack (above their class's floor) reconfigure to a smaller variant, and moves make up the
    rest."""
    if short <= 0:
        return []
    for reconfigure in (False, True):
        actions = _room_actions(room, node, short, floors, keep, reconfigure)
        if actions is not None:
            return actions
    return None


def _room_actions(room, node, short, floors, keep, reconfigure):
    actions: list[tuple[str, str, str, float]] = []  # (kind, instance, variant|node, bytes)
    freed = 0.0
    new = {a["instance_id"] for a in room.plan.admissions}  # planned here: not resident yet
    residents = sorted(
        (o for o in room.where if room.where[o] == node and o != keep and o not in new),
        key=lambda o: -room.size[o],
    )
    for other in residents if reconfigure else ():
        if freed >= short:
            break
        cat = room.cat[other]
        if cat not in _CLASS_OF_CAT or other in room.plan.variants:
            continue
        current = room.size[other] - room._kv(other)
        smaller = [o for o in room.variants_of(cat, floors[cat]) if o[1] < current]
        if smaller:
            name, weights, _, _ = min(smaller, key=lambda o: (o[1], o[0]))
            actions.append(("variant", other, name, current - weights))
            freed += current - weights
    planned_free = dict(room.free)
    for other in sorted(residents, key=lambda o: room.size[o]):
        if freed >= short:
            break
        cat = room.cat[other]
        pinned = room.rules is not None and (other, node) in room.rules.pin
        if cat not in room.movable or pinned or any(a[1] == other for a in actions):
            continue
        homes = [
            m
            for m in room.kinds
            if m != node and room.allowed(other, cat, m) and planned_free[m] >= room.size[other]
        ]
        if not homes:
            continue
        home = max(homes, key=lambda m: (room.idle[m], m))
        planned_free[home] -= room.size[other]
        actions.append(("move", other, home, room.size[other]))
        freed += room.size[other]
    return actions if freed >= short else None


def _apply_actions(room: _Room, actions, why: str) -> None:
    for kind, other, target, _ in actions:
        if kind == "variant":
            spec = room.sc.categories[Category(room.cat[other])].variants[target]
            room.reconfigure(other, target, spec.weights_gb * GB)
            room.plan.steps.append(f"reallocate: {other} -> {target} in place ({why})")
        else:
            src = room.where[other]
            room.move(other, target)
            room.plan.steps.append(f"reallocate: {other} {src} -> {target} ({why})")


def _stage_moves(room: _Room, plan: Plan, floors: dict[str, float], realloc: bool) -> None:
    """Pre-allocation, then reallocation, for every instance the rules forbid where it is."""
    violators = sorted(
        (i for i in room.where if not room.allowed(i, room.cat[i], room.where[i])),
        key=lambda i: -room.size[i],
    )
    for iid in violators:
        cat = room.cat[iid]
        if cat not in room.movable:
            plan.problems.append(f"{iid} breaks the rules but {cat} cannot migrate")
            continue
        allowed = [n for n in room.kinds if n != room.where[iid] and room.allowed(iid, cat, n)]
        fits = [n for n in allowed if room.free[n] >= room.size[iid]]
        if fits:
            dst, src = max(fits, key=lambda n: (room.idle[n], n)), room.where[iid]
            room.move(iid, dst)
            plan.steps.append(f"pre-allocate: {iid} {src} -> {dst} (idle, allowed, has room)")
            continue
        done = False
        for n in sorted(allowed, key=lambda n: -room.free[n]) if realloc else ():
            actions = _make_room(room, n, room.size[iid] - room.free[n], floors, keep=iid)
            if actions is not None:
                _apply_actions(room, actions, f"room for {iid}")
                room.move(iid, n)
                plan.steps.append(f"place: {iid} -> {n}")
                done = True
                break
        if not done:
            plan.problems.append(
                f"{iid} ({room.size[iid] / 1e9:.0f} GB) has no allowed node with room"
                + (", even after reallocation" if realloc else "")
            )


def _new_id(room: _Room, cat: str) -> str:
    taken = set(room.where) | {a["instance_id"] for a in room.plan.admissions}
    k = 1
    while f"{cat}-{k}" in taken:
        k += 1
    return f"{cat}-{k}"


def _stage_admit(room: _Room, plan: Plan, floors: dict[str, float], realloc: bool) -> None:
    """Pre-allocation, then reallocation, for every new service of the intent."""
    for a in plan.intent.get("admit", []):
        cat = a["category"]
        iid = _new_id(room, cat)
        near = room.cell_node.get(a.get("near_cell", -1), "")
        options = room.variants_of(cat, floors[cat])
        # Its share of the service's KV now, at most the KV room a node keeps for an LLM
        # (topologies.KV_ROOM_GB): an overloaded service's KV is its queue, and a newcomer with
        # less room still serves (requests wait for KV memory, they are not refused).
        reserve = min(room.kv_share[cat], KV_ROOM_GB * GB)
        allowed = [n for n in room.kinds if room.allowed(iid, cat, n)]
        order = sorted(allowed, key=lambda n: (n != near, -room.idle[n], n))
        placed = None
        for name, weights, q, _ in options:  # pre-allocation: best quality that fits idle
            fits = [n for n in order if room.free[n] >= weights + reserve]
            if fits:
                placed = (fits[0], name, weights, q)
                plan.steps.append(
                    f"pre-allocate: new {iid} ({name or cat}, {weights / 1e9:.1f} GB, quality "
                    f"{q:g}) -> {fits[0]}"
                )
                break
        if placed is None and realloc:
            for name, weights, q, _ in options:
                for n in order:
                    actions = _make_room(room, n, weights + reserve - room.free[n], floors)
                    if actions is not None:
                        _apply_actions(room, actions, f"room for new {iid}")
                        placed = (n, name, weights, q)
                        plan.steps.append(
                            f"place: new {iid} ({name or cat}, {weights / 1e9:.1f} GB) -> {n}"
                        )
                        break
                if placed is not None:
                    break
        if placed is None:
            smallest = min(o[1] for o in options)
            plan.problems.append(
                f"admit {cat}: no allowed node has {(smallest + reserve) / 1e9:.1f} GB for it "
                f"(its smallest variant within the quality floor, with KV room)"
                + (", even after reallocation" if realloc else " idle")
            )
            continue
        node, name, weights, _ = placed
        room.free[node] -= weights
        room.where[iid], room.size[iid], room.cat[iid] = node, weights, cat
        room.variant[iid] = name
        item = {"instance_id": iid, "category": cat, "node": node}
        if name:
            item["variant"] = name
        plan.admissions.append(item)


def _faster(room: _Room, plan: Plan, cls: str, floors: dict[str, float]) -> list[str]:
    """Round 2 for a missed AI target: the class's instances switch to the fastest variant
    its quality floor allows (when faster than what they run and it fits)."""
    cat = {v: k for k, v in _CLASS_OF_CAT.items()}.get(cls)
    if cat is None:
        return []
    changed = []
    options = room.variants_of(cat, floors[cat])
    for iid in sorted(i for i in room.where if room.cat[i] == cat):
        spec = room.sc.categories[Category(cat)]
        cur = spec.variant(room.variant.get(iid) or None)
        if cur is None:
            continue
        name, weights, _, scale = min(options, key=lambda o: (o[3], -o[2], o[0]))
        if scale >= cur.work_scale or weights - cur.weights_gb * GB > room.free[room.where[iid]]:
            continue
        admitted = next((a for a in plan.admissions if a["instance_id"] == iid), None)
        if admitted is not None:
            room.free[room.where[iid]] += cur.weights_gb * GB - weights
            admitted["variant"] = name
            room.variant[iid] = name
        else:
            room.reconfigure(iid, name, weights)
        changed.append(f"{iid} -> {name}")
    return changed


def _weights(intent: dict) -> list[float]:
    w = list(DEFAULT_CLASS_WEIGHTS)
    if "priority" in intent:
        w[_CLASSES.index(intent["priority"])] *= 2
    return w


def _fork_with(twin, plan: Plan, weights: list[float]):
    """The twin's state with the plan applied now: variant changes in place first (they free
    memory), then the migrations in order (room is made before it is used), then the new
    services — the order the xApp checks them in. Raises ValueError if the twin refuses."""
    fork = twin.fork()
    fork.class_weights = ClassWeights(*weights)
    fork.constraints = plan.constraints
    moved = dict(plan.migrations)
    for iid, name in plan.variants.items():
        if iid not in moved:
            fork.set_variant(iid, name)
    for iid, dst in plan.migrations:
        inst = fork.instances[iid]
        fork.start_migration(inst, fork.nodes[dst], fork.now, plan.variants.get(iid, ""))
    for a in plan.admissions:
        fork.admit(a["instance_id"], a["category"], a["node"], a.get("variant", ""))
    return fork


def plan_intent(
    intent: dict,
    twin,
    horizon_s: float = 120.0,
    epoch: int = 0,
    issued_by: str = "haf-intent",
    mode: str = "full",
) -> Plan:
    """The verified plan for ``intent`` from ``twin``'s current state (see the module doc)."""
    from a1_policies.haf_placement import MAX_MIGRATIONS, build_policy

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    full = mode == "full"
    plan = Plan(intent, mode)
    placement = {iid: inst.node.nid for iid, inst in twin.instances.items()}
    plan.problems = check_intent(intent, twin.sc, placement)
    if plan.problems:
        return plan
    plan.constraints = Constraints.of_policy(intent)
    floors = _floors(intent)
    room = _Room(twin, plan.constraints, plan)
    if plan.constraints is not None:
        _stage_moves(room, plan, floors, realloc=full)
    _stage_admit(room, plan, floors, realloc=full)
    if len(plan.migrations) > MAX_MIGRATIONS or len(plan.variants) > MAX_MIGRATIONS:
        plan.problems.append(f"{len(plan.migrations)} migrations, one policy holds 16")
    budget = intent.get("migration_budget")
    changes = len(plan.migrations) + len(set(plan.variants) - set(dict(plan.migrations)))
    if budget is not None and changes > budget:
        plan.problems.append(
            f"the plan needs {changes} migrations/reconfigurations, the budget is {budget} per hour"
        )
    if plan.problems:
        return plan
    weights = _weights(intent)
    plan.before = predict(twin.fork(), horizon_s)
    for rnd in (1, 2):
        plan.rounds = rnd
        try:
            plan.after = predict(_fork_with(twin, plan, weights), horizon_s)
        except ValueError as exc:
            plan.problems.append(f"the twin cannot apply the plan: {exc}")
            return plan
        plan.checks = _checks(intent, plan.after)
        targets = intent.get("targets", [])
        missed = [t for t, (_, ok, _) in zip(targets, plan.checks, strict=True) if not ok]
        if not missed or rnd == 2 or not full:
            break
        raised = []
        for t in missed:
            if t["metric"] == "fulfilment" and t["class"] in _CLASSES:
                weights[_CLASSES.index(t["class"])] *= 2
                raised.append(f"weight of {t['class']} doubled")
            if t["metric"] in ("fulfilment", "p95_latency"):
                raised += _faster(room, plan, t["class"], floors)
        if not raised:
            break
        plan.steps.append("round 2 (reallocation): " + ", ".join(raised))
    plan.weights = tuple(weights)  # type: ignore[assignment]
    for g in ("large_ai", "small_ai", "ran_only"):  # what no target guards, the operator sees
        drop = plan.before.fulfilment[g] - plan.after.fulfilment[g]
        if drop > WARN_DROP:
            plan.warnings.append(
                f"{g} fulfilment falls {plan.before.fulfilment[g]:.1f}% -> "
                f"{plan.after.fulfilment[g]:.1f}% in the twin (no target guards it)"
            )
    if full:  # the ablation issues its policy unverified
        for label, ok, got in plan.checks:
            if not ok:
                plan.problems.append(f"target {label} not met in the twin: predicted {got}")
    if plan.problems:
        return plan
    plan.policy = build_policy(
        epoch,
        plan.migrations,
        issued_by,
        ClassWeights(*weights),
        plan.constraints,
        variants=plan.variants,
        admit=plan.admissions,
    )
    return plan
