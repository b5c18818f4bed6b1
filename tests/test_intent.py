"""Operator intents (issue 16): the reader, the checks, the plan verified in the twin, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from a1_policies.haf_placement import validate_policy
from airan_twin.intent_plan import plan_intent
from airan_twin.run import make_twin
from airan_twin.scenario import load_scenario
from proto.observation import Constraints
from rapp_placement.intent import (
    IntentError,
    check_intent,
    llm_intent,
    parse_intent,
    validate_intent,
)
from tests.cli_helpers import run_haf

CORPUS = Path(__file__).resolve().parents[1] / "a1_policies" / "examples" / "intents.jsonl"
ROWS = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]


def test_the_corpus_is_big_enough_and_mixed():
    assert len(ROWS) >= 40
    verdicts = {r.get("verdict") for r in ROWS}
    assert {"contradictory", "infeasible", "unreadable"} <= verdicts


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["text"][:40] or "(empty)")
def test_the_parser_reads_the_corpus(row):
    if row["expected"] is None:
        with pytest.raises(IntentError):
            parse_intent(row["text"])
    else:
        assert parse_intent(row["text"]) == validate_intent(row["expected"])


@pytest.mark.parametrize(
    "row", [r for r in ROWS if r["expected"] is not None], ids=lambda r: r["text"][:40]
)
def test_contradictions_and_impossible_rules_are_found_before_planning(row):
    problems = check_intent(validate_intent(row["expected"]), load_scenario())
    assert bool(problems) == (row.get("verdict") in ("contradictory", "infeasible"))


def test_an_unreadable_clause_is_quoted_not_dropped():
    with pytest.raises(IntentError, match="'make it snappy'"):
        parse_intent("keep large AI fulfilment above 90%, make it snappy")


@given(st.text(max_size=200))
def test_the_parser_never_crashes(text):
    try:
        out = parse_intent(text)
    except IntentError:
        return
    assert validate_intent(out) == out


def test_schema_errors_name_the_field():
    with pytest.raises(IntentError, match="targets/0"):
        validate_intent({"targets": [{"metric": "fulfilment", "class": "large_ai"}]})
    with pytest.raises(IntentError, match="avoid/0/category"):
        validate_intent({"avoid": [{"category": "gpu", "node_kind": "x"}]})
    with pytest.raises(IntentError, match="p95"):
        validate_intent({"targets": [{"metric": "p95_latency", "class": "ran_only", "max_ms": 5}]})


class _Answer:
    name = "scripted"

    def __init__(self, answer: str) -> None:
        self.answer = answer

    def chat_json(self, system, user, schema, max_tokens=200) -> str:
        assert schema["$id"] == "haf-intent/1"  # the reader constrains the model to it
        return self.answer


def test_the_llm_reader_validates_what_the_model_says():
    good = '{"avoid": [{"category": "large-ai", "node_kind": "cpu-heavy"}]}'
    assert (
        llm_intent("no LLMs on weak boxes", _Answer(good))["avoid"][0]["node_kind"] == "cpu-heavy"
    )
    with pytest.raises(IntentError, match="not JSON"):
        llm_intent("x", _Answer("sure! here you go"))
    with pytest.raises(IntentError, match="min_percent"):
        llm_intent(
            "x",
            _Answer(
                '{"targets": [{"metric": "fulfilment", "class": "large_ai", "min_percent": 140}]}'
            ),
        )


# --- planning -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def now():
    sc = load_scenario()
    twin = make_twin(sc, "haf", 0.9, 3, 600.0, method_kwargs={"agent": "heuristic"})
    twin.run(until=60.0)
    return twin


def _placement(twin) -> dict[str, str]:
    return {iid: inst.node.nid for iid, inst in twin.instances.items()}


def test_an_avoid_rule_is_planned_verified_and_becomes_a_valid_policy(now):
    intent = parse_intent("never run AI on cpu-heavy nodes")
    before = _placement(now)
    plan = plan_intent(intent, now, horizon_s=40.0)
    assert plan.ok and plan.migrations
    snap = now.snapshot()
    kinds = {n.node_id: n.kind for n in snap.nodes}
    after = {**before, **dict(plan.migrations)}
    cats = {i.instance_id: i.category for i in snap.instances}
    for iid, node in after.items():  # every AI instance ends off cpu-heavy nodes
        assert not (cats[iid] in ("large-ai", "small-ai") and kinds[node] == "cpu-heavy")
    assert _placement(now) == before  # planning forks: the live twin did not move
    validate_policy(plan.policy)
    assert plan.policy["constraints"]["avoid"] == [{"category": "ai", "node_kind": "cpu-heavy"}]
    assert plan.before is not None and plan.after is not None


def test_reallocation_makes_room_when_no_allowed_node_has_it():
    """Pin an LLM onto a node without the memory for it (a generated topology where another
    LLM sits there): the planner first moves what is in the way to its own allowed node with
    room (the second stage), then the pinned LLM."""
    from airan_twin.topologies import generate

    twin = make_twin(generate(3002), "haf-static", 0.9, 3, 300.0)
    twin.run(until=30.0)
    snap = twin.snapshot()
    llm, node = snap.instance("large-ai-1"), snap.node("balanced-1")
    assert node.mem_capacity - node.mem_used < llm.weights + llm.kv  # no room as things are
    plan = plan_intent({"pin": {"large-ai-1": "balanced-1"}}, twin, horizon_s=20.0)
    assert any(s.startswith("reallocate") for s in plan.steps), plan.steps + plan.problems
    assert plan.migrations[-1] == ("large-ai-1", "balanced-1")
    assert plan.policy is not None
    validate_policy(plan.policy)


def test_an_unreachable_target_gets_the_prediction_and_no_policy(now):
    plan = plan_intent(parse_intent("RAN deadlines at least 99.9%"), now, 60.0)
    assert plan.policy is None and plan.rounds == 2
    assert any("99.9" in p and "predicted" in p for p in plan.problems)


def test_a_migration_budget_too_small_for_the_plan_is_refused(now):
    plan = plan_intent(
        parse_intent("never run AI on cpu-heavy nodes, freeze migrations"), now, 20.0
    )
    assert plan.policy is None and any("budget" in p for p in plan.problems)


def test_contradictory_intent_is_explained_with_no_policy_by_the_cli(tmp_path, capsys):
    out = tmp_path / "plan.json"
    text = "Never place LLMs on gpu-heavy nodes. Pin large-ai-1 to gpu-heavy-1."
    code, stdout, _ = run_haf(["intent", text, "--out", str(out)], capsys)
    assert code == 1
    assert "contradicts avoid" in stdout and "no policy" in stdout
    assert json.loads(out.read_text())["policy"] is None
    code, stdout, stderr = run_haf(["intent", "make it fast", "--reader", "parser"], capsys)
    assert code != 0 and "cannot read" in stdout + stderr


def test_auto_reader_uses_the_parser_and_says_when_no_model_can_read_the_rest(capsys, monkeypatch):
    from haf.intent_cli import _read
    from rapp_placement import models

    assert _read("never place LLMs on cpu-heavy nodes", "auto") == parse_intent(
        "never place LLMs on cpu-heavy nodes"
    )  # no model asked: the parser read it

    def absent(name):
        raise models.ModelError(f"model {name} is not installed")

    monkeypatch.setattr(models, "model_path", absent)
    with pytest.raises(IntentError, match=r"cannot read 'make it fast'.*no embedded model"):
        _read("make it fast", "auto")


def test_constraints_allow_rules():
    c = Constraints(avoid=(("ai", "cpu-heavy"),), pin=(("large-ai-1", "gpu-heavy-1"),))
    assert not c.allows("small-ai", "small-ai-1", "cpu-heavy-1", "cpu-heavy")
    assert c.allows("du", "du-1", "cpu-heavy-1", "cpu-heavy")
    assert not c.allows("large-ai", "large-ai-1", "gpu-heavy-2", "gpu-heavy")
    assert c.allows("large-ai", "large-ai-1", "gpu-heavy-1", "gpu-heavy")


# --- admissions and variants (the second half of issue 16) ---------------------------------
def _xapp_accepts(twin, policy) -> dict:
    """What the xApp answers to the plan's policy, from the twin's state now."""
    from a1_policies.haf_placement import policy_request
    from proto import safejson
    from xapp_alloc import core as xc

    core = xc.XappCore(twin.cluster)
    core.placement = _placement(twin)
    out = core.handle(xc.A1_POLICY_REQ, policy_request("CREATE", "i-1", policy), twin.now)
    return safejson.loads(out[0].payload, "resp")


def test_an_admission_is_pre_allocated_in_idle_memory_and_the_xapp_accepts_it(now):
    plan = plan_intent(parse_intent("add a second LLM for cell 3"), now, horizon_s=20.0)
    assert plan.ok, plan.problems
    (item,) = plan.policy["admit"]
    assert item["category"] == "large-ai" and item["instance_id"] == "large-ai-3"
    assert item["variant"] == "bf16"  # idle memory holds the best-quality variant
    snap = now.snapshot()
    node = snap.node(item["node"])
    assert node.mem_capacity - node.mem_used >= 28e9
    assert any(s.startswith("pre-allocate: new large-ai-3") for s in plan.steps)
    assert _xapp_accepts(now, plan.policy)["status"] == "OK"
    assert "large-ai-3" not in now.instances  # planning forks: the live twin is unchanged


def test_a_quality_floor_limits_the_variants_the_planner_may_choose(now):
    text = "add an LLM, never place LLMs on gpu-heavy nodes"
    loose = plan_intent(parse_intent(text), now, horizon_s=20.0, mode="single")
    assert loose.admissions and loose.admissions[0]["variant"] in ("int8", "int4")
    strict = plan_intent(
        parse_intent(text + " and do not quantise LLMs"), now, horizon_s=20.0, mode="single"
    )
    assert strict.policy is None
    assert any("admit large-ai" in p and "idle" in p for p in strict.problems), strict.problems


def test_reallocation_admits_what_the_single_pass_refuses(now):
    """Four new LLMs, the GPU-heavy nodes kept for the RAN, quality >= 0.99: idle memory holds
    three (INT8); the single pass refuses the fourth, the full planner makes room for it by
    reallocation and the plan holds memory (4) in the twin."""
    from airan_twin.intent_plan import _fork_with

    intent = {
        "admit": [{"category": "large-ai"}] * 4,
        "avoid": [{"category": "large-ai", "node_kind": "gpu-heavy"}],
        "targets": [{"metric": "quality", "class": "large_ai", "min_score": 0.99}],
    }
    single = plan_intent(intent, now, horizon_s=20.0, mode="single")
    assert single.policy is None and any("idle" in p for p in single.problems)
    full = plan_intent(intent, now, horizon_s=20.0)
    assert full.ok, full.problems
    assert len(full.policy["admit"]) == 4
    assert any(s.startswith("reallocate") for s in full.steps)
    assert all(a.get("variant") in ("bf16", "int8") for a in full.policy["admit"])
    fork = _fork_with(now, full, list(full.weights))
    for node in fork.nodes.values():
        assert node.mem_used <= node.mem_cap * (1 + 1e-9)
    assert _xapp_accepts(now, full.policy)["status"] == "OK"


def test_reallocation_reconfigures_a_resident_with_quality_slack_when_moves_cannot():
    from airan_twin.intent_plan import Plan, _make_room, _Room

    sc = load_scenario()
    twin = make_twin(sc, "haf-static", 0.9, 3, 100.0)
    plan = Plan({})
    pins = (("cu-up-3", "balanced-1"), ("du-3", "balanced-1"), ("large-ai-1", "balanced-1"))
    room = _Room(twin, Constraints(pin=pins), plan)  # every resident of balanced-1 pinned
    actions = _make_room(room, "balanced-1", 18e9, {"large-ai": 0.0, "small-ai": 0.0})
    assert actions == [("variant", "large-ai-1", "int4", pytest.approx(18.2e9))]
    floor = {"large-ai": 0.99, "small-ai": 0.0}  # INT8 only: frees 12.4 GB, not 18
    assert _make_room(room, "balanced-1", 18e9, floor) is None
    assert _make_room(room, "balanced-1", 12e9, floor)[0][2] == "int8"


def test_round_two_switches_a_missed_class_to_a_faster_variant():
    from airan_twin.intent_plan import Plan, _faster, _Room

    sc = load_scenario()
    twin = make_twin(sc, "haf-static", 0.9, 3, 100.0)
    plan = Plan({})
    room = _Room(twin, None, plan)
    changed = _faster(room, plan, "large_ai", {"large-ai": 0.98, "small-ai": 0.0})
    # INT8 (quality 0.99, work 0.74) is the fastest variant the 0.98 floor allows.
    assert plan.variants == {"large-ai-1": "int8", "large-ai-2": "int8"}, changed
    plan2 = Plan({})
    _faster(_Room(twin, None, plan2), plan2, "large_ai", {"large-ai": 1.0, "small-ai": 0.0})
    assert plan2.variants == {}  # no slack: nothing to switch
