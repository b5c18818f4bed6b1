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
    code, stdout, stderr = run_haf(["intent", "make it fast"], capsys)
    assert code != 0 and "cannot read" in stdout + stderr


def test_constraints_allow_rules():
    c = Constraints(avoid=(("ai", "cpu-heavy"),), pin=(("large-ai-1", "gpu-heavy-1"),))
    assert not c.allows("small-ai", "small-ai-1", "cpu-heavy-1", "cpu-heavy")
    assert c.allows("du", "du-1", "cpu-heavy-1", "cpu-heavy")
    assert not c.allows("large-ai", "large-ai-1", "gpu-heavy-2", "gpu-heavy")
    assert c.allows("large-ai", "large-ai-1", "gpu-heavy-1", "gpu-heavy")
