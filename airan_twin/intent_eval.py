"""The RIDAS-style ablation (issue 16): the full planner (pre-allocation, reallocation,
verification) against a single pass (pre-allocation only, no reallocation, no verification)
on admissions of new AI services.

Cases are drawn from generated topologies (``airan_twin.topologies.generate``: 4–9 nodes,
hardware the paper's testbed does not have; LLMs on the weakest GPUs that hold them) — never
from the paper testbed the planner was written against. Each case is one topology, a twin
warmed up under HAF-Static (its state is "now"; it makes no moves of its own, so the plan's
are the only ones) and an intent that admits one to three LLMs, with, drawn from the case's
seed, a quality floor, a cell to be near, an LLM fulfilment floor and, half the time, the
GPU-heavy nodes kept for the RAN. A case *needs reallocation* when the single pass cannot place
every new service in idle memory. For each case and planner: was a policy issued, how many new
services it starts (and the twin starts), whether every target is met in the twin's run of the
policy, and the quality served (mean score of the fulfilled LLM requests).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from airan_twin.intent_plan import (
    MODES,
    Plan,
    _floors,
    _Room,
    _stage_admit,
    _stage_moves,
    plan_intent,
    predict,
)
from airan_twin.run import make_twin
from airan_twin.topologies import generate
from proto.observation import Constraints
from rapp_placement.intent import check_intent, validate_intent


@dataclass
class Case:
    seed: int
    intent: dict
    needs_reallocation: bool


@dataclass
class Outcome:
    seed: int
    mode: str
    needs_reallocation: bool
    policy: bool
    asked: int  # new services the intent asks for
    admitted: int  # new services the policy starts
    targets_met: bool  # every target met in the twin's run of the policy (False: no policy)
    quality: float  # mean quality score of the fulfilled LLM requests (NaN: none)
    large_ai: float  # LLM fulfilment % in the twin's run of what is issued (as is: no policy)
    problems: list[str]


def draw_intent(seed: int, cells: list[int]) -> dict:
    """The admission intent of case ``seed``: one to three new LLMs (half of them near a
    cell), a quality floor, an LLM fulfilment floor, and half the time the GPU-heavy nodes kept
    for the RAN (LLMs there must move off, a new one may not go there)."""
    rng = random.Random(seed * 7919 + 16)
    intent: dict = {"admit": []}
    near = rng.choice(cells)
    for _ in range(rng.choice((1, 2, 3))):
        item = {"category": "large-ai"}
        if rng.random() < 0.5:
            item["near_cell"] = near
        intent["admit"].append(item)
    targets = []
    floor = rng.choice((None, 0.95, 0.99, 1.0))
    if floor is not None:
        targets.append({"metric": "quality", "class": "large_ai", "min_score": floor})
    ful = rng.choice((None, 50.0, 80.0))
    if ful is not None:
        targets.append({"metric": "fulfilment", "class": "large_ai", "min_percent": ful})
    if targets:
        intent["targets"] = targets
    if rng.random() < 0.5:
        intent["avoid"] = [{"category": "large-ai", "node_kind": "gpu-heavy"}]
    return validate_intent(intent)


def _twin(seed: int, warmup_s: float, horizon_s: float, rho: float):
    # LLMs start on the weakest GPUs that hold them (as on the paper testbed) and stay there
    # (HAF-Static: no placement moves of its own), so the planner's changes are the only ones.
    sc = generate(seed, llms_on_weak=True)
    twin = make_twin(sc, "haf-static", rho, seed, warmup_s + horizon_s + 120.0)
    twin.run(until=warmup_s)
    return twin


def needs_reallocation(intent: dict, twin) -> bool:
    """Whether a single pre-allocation pass leaves an instance without a node."""
    plan = Plan(intent, "single")
    rules = Constraints.of_policy(intent)
    room = _Room(twin, rules, plan)
    if rules is not None:
        _stage_moves(room, plan, _floors(intent), realloc=False)
    _stage_admit(room, plan, _floors(intent), realloc=False)
    return bool(plan.problems)


def draw_cases(
    n: int,
    first_seed: int = 1,
    warmup_s: float = 30.0,
    rho: float = 0.9,
    realloc_share: float = 0.5,
    horizon_s: float = 60.0,
) -> list[Case]:
    """``n`` cases, about ``realloc_share`` of them needing reallocation: seeds are scanned in
    order from ``first_seed`` and kept while their kind's quota is open (deterministic)."""
    want = {True: round(n * realloc_share), False: n - round(n * realloc_share)}
    out: list[Case] = []
    seed = first_seed
    while len(out) < n and seed < first_seed + 20 * n:
        twin = _twin(seed, warmup_s, horizon_s, rho)  # the state run_case plans from
        intent = draw_intent(seed, twin.sc.cells)
        placement = {iid: inst.node.nid for iid, inst in twin.instances.items()}
        if not check_intent(intent, twin.sc, placement):  # not one that fails on its face
            need = needs_reallocation(intent, twin)
            if want[need] > 0:
                want[need] -= 1
                out.append(Case(seed, intent, need))
        seed += 1
    return out


def run_case(case: Case, mode: str, warmup_s: float, horizon_s: float, rho: float) -> Outcome:
    twin = _twin(case.seed, warmup_s, horizon_s, rho)
    plan = plan_intent(case.intent, twin, horizon_s, mode=mode)
    asked = len(case.intent.get("admit", []))
    issued = plan.policy is not None
    if issued:
        admitted = len(plan.admissions)
        after = plan.after
        met = plan.targets_met or not plan.checks
    else:
        admitted = 0
        after = plan.before or predict(twin.fork(), horizon_s)
        met = False
    return Outcome(
        case.seed,
        mode,
        case.needs_reallocation,
        issued,
        asked,
        admitted,
        met,
        after.mean_quality.get("large_ai", float("nan")),
        after.fulfilment["large_ai"],
        plan.problems,
    )


def compare(
    cases: Iterable[Case],
    modes: Iterable[str] = MODES,
    warmup_s: float = 30.0,
    horizon_s: float = 60.0,
    rho: float = 0.9,
    on_done: Callable[[], None] | None = None,
) -> list[Outcome]:
    out = []
    for case in cases:
        for mode in modes:
            out.append(run_case(case, mode, warmup_s, horizon_s, rho))
            if on_done is not None:
                on_done()
    return out


def summarise(outcomes: list[Outcome]) -> list[dict]:
    """Per (subset, mode): cases, policies issued, services admitted of asked, targets met,
    mean quality served and LLM fulfilment."""
    rows = []
    for subset, keep in (("needs reallocation", True), ("fits idle", False), ("all", None)):
        for mode in MODES:
            sel = [
                o
                for o in outcomes
                if o.mode == mode and (keep is None or o.needs_reallocation == keep)
            ]
            if not sel:
                continue
            q = [o.quality for o in sel if o.quality == o.quality]
            rows.append(
                {
                    "subset": subset,
                    "mode": mode,
                    "cases": len(sel),
                    "policies": sum(o.policy for o in sel),
                    "admitted": sum(o.admitted for o in sel),
                    "asked": sum(o.asked for o in sel),
                    "targets_met": sum(o.targets_met for o in sel),
                    "quality": sum(q) / len(q) if q else float("nan"),
                    "large_ai": sum(o.large_ai for o in sel) / len(sel),
                }
            )
    return rows
