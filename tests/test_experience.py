"""The experience pool (prioritised replay, relevance, bound, dedup, persistence), ε-greedy,
and the agent showing past decisions to its model."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proto.errors import InputError
from rapp_placement.agent import PlacementAgent
from rapp_placement.candidates import Candidate
from rapp_placement.experience import (
    SEED_POOL,
    STATE_DIM,
    EpsilonGreedy,
    Experience,
    ExperiencePool,
    experience_of,
)


def _exp(x: float, action: str = "moved du", gain: float = 1.0, pred: float = 0.0) -> Experience:
    return Experience([x] * STATE_DIM, action, gain, pred, f"state {x}")


def test_pool_is_bounded_by_priority_and_deduplicated():
    pool = ExperiencePool(capacity=3)
    pool.add(_exp(0.0, gain=0.1))  # lowest priority: evicted first
    for k in range(1, 4):
        pool.add(_exp(float(k), gain=2.0))
    assert len(pool) == 3 and all(e.state[0] != 0.0 for e in pool.items.values())
    pool.add(_exp(1.0, gain=-3.0))  # same state, same action: replaces, does not grow
    assert len(pool) == 3
    assert [e.gain for e in pool.items.values() if e.state[0] == 1.0] == [-3.0]


def test_priority_is_surprise_plus_magnitude():
    assert _exp(0, gain=2.0, pred=2.0).priority() < _exp(0, gain=2.0, pred=-1.0).priority()
    assert _exp(0, gain=0.0, pred=0.0).priority() < _exp(0, gain=1.0, pred=1.0).priority()


def test_prioritised_selection_prefers_relevant_and_surprising_examples():
    pool = ExperiencePool(capacity=100)
    for k in range(40):
        pool.add(_exp(float(k), action=f"a{k}", gain=0.2, pred=0.2))
    pool.add(_exp(20.0, action="surprise", gain=3.0, pred=-2.0))
    rng = random.Random(0)
    near = [e.action for _ in range(200) for e in pool.select([20.0] * STATE_DIM, 1, rng)]
    far = [e.action for _ in range(200) for e in pool.select([0.0] * STATE_DIM, 1, rng)]
    # Relevance: examples near the current state dominate; priority: the surprise stands out.
    assert near.count("surprise") > 1.5 * far.count("surprise")
    assert sum(a in ("a0", "a1", "a2") for a in far) > sum(a in ("a0", "a1", "a2") for a in near)
    # Random selection ignores both; "none" shows nothing.
    assert len(pool.select([0.0] * STATE_DIM, 3, rng, "random")) == 3
    assert pool.select([0.0] * STATE_DIM, 3, rng, "none") == []


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 30), st.integers(0, 5), st.integers(0, 10**6))
def test_selection_draws_distinct_pool_items(n, m, seed):
    pool = ExperiencePool(capacity=50)
    for k in range(n):
        pool.add(_exp(float(k % 7), action=f"a{k}", gain=float(k % 3)))
    got = pool.select([1.0] * STATE_DIM, m, random.Random(seed))
    assert len(got) == min(m, len(pool)) and len({e.key for e in got}) == len(got)
    again = pool.select([1.0] * STATE_DIM, m, random.Random(seed))
    assert [e.key for e in again] == [e.key for e in got]  # seeded: reproducible


def test_pool_persists_and_rejects_bad_files(tmp_path):
    pool = ExperiencePool()
    pool.add(_exp(1.0))
    pool.add(_exp(2.0, gain=-1.5))
    path = tmp_path / "pool.json"
    pool.save(path)
    back = ExperiencePool.load(path)
    assert [e.text() for e in back.items.values()] == [e.text() for e in pool.items.values()]
    bad = tmp_path / "bad.json"
    for text, msg in [
        ("{", "not JSON"),
        ('{"format": "other"}', "not an experience pool"),
        ('{"format": "haf-experience/1", "items": [{"state": [1]}]}', "item 0"),
        (
            json.dumps(
                {
                    "format": "haf-experience/1",
                    "items": [
                        {
                            "state": [1.0] * STATE_DIM,
                            "action": "x",
                            "gain": "nan",
                            "predicted": 0,
                            "context": "c",
                        }
                    ],
                }
            ),
            "finite",
        ),
    ]:
        bad.write_text(text)
        with pytest.raises(InputError, match=msg):
            ExperiencePool.load(bad)


def test_the_shipped_seed_pool_loads_and_is_not_empty():
    pool = ExperiencePool.load(SEED_POOL)
    assert len(pool) >= 50
    gains = [e.gain for e in pool.items.values()]
    assert min(gains) < 0 < max(gains)  # good and bad outcomes both


def test_epsilon_decays_and_exploration_adds_a_feasible_move():
    eg = EpsilonGreedy(eps0=1.0, decay=0.5, eps_min=0.1)
    cands = [Candidate("noop"), *(Candidate(f"mig:i{k}:n", f"i{k}", "m", "n") for k in range(5))]
    rng = random.Random(0)
    out, picked = eg.apply(["mig:i0:n", "noop"], cands, rng, k=3)
    assert picked in {c.cid for c in cands[2:]} and out == ["mig:i0:n", "noop", picked]
    full, picked = EpsilonGreedy(eps0=1.0).apply(["a", "b", "c"], cands, rng, k=3)
    assert full[:2] == ["a", "b"] and full[2] == picked  # the last entry gives way
    for _ in range(10):
        eg.apply([], cands, rng, 3)
    assert eg.epsilon() == pytest.approx(0.1)


def test_agent_shows_examples_and_logs_them(state, tmp_path):
    snap, cands = state
    pool = ExperiencePool()
    noop = cands[0]
    for c in cands[1:6]:
        pool.add(experience_of(snap, c, 1.0, 0.0))
    pool.add(experience_of(snap, noop, 0.0, 0.0))
    seen = []

    class Echo:
        name = "echo"

        def complete(self, prompt):
            seen.append(prompt)
            return json.dumps({"shortlist": [prompt.labels[0]]})

    log = tmp_path / "calls.jsonl"
    agent = PlacementAgent(Echo(), pool=pool, examples=2, log_path=log, seed=1)
    res = agent.shortlist(snap, cands, 0)
    assert len(res.examples) == 2 and all(e in seen[0].user for e in res.examples)
    assert seen[0].user.index("Past decisions") < seen[0].user.index("Layout:")
    assert json.loads(log.read_text())["examples"] == res.examples
    # No pool: no examples section.
    bare = PlacementAgent(Echo())
    bare.shortlist(snap, cands, 0)
    assert "Past decisions" not in seen[-1].user


def test_an_example_is_named_by_its_analogue_in_this_cluster(state):
    """A DU moved from a slow to a fast GPU elsewhere is shown as the same-shaped move here."""
    snap, cands = state
    from rapp_placement.experience import analogue
    from rapp_placement.prompt import build_prompt, move_label

    du_move = next(
        c
        for c in cands
        if not c.is_noop
        and snap.instance(c.instance_id).category == "du"
        and snap.node(c.dst).gpu_capacity > 10 * snap.node(c.src).gpu_capacity
    )
    e = experience_of(snap, du_move, 1.2, 0.1)
    twin = analogue(e, snap, cands)
    assert twin is not None and snap.instance(twin.instance_id).category == "du"
    assert snap.node(twin.src).gpu_capacity == snap.node(du_move.src).gpu_capacity
    assert snap.node(twin.dst).gpu_capacity == snap.node(du_move.dst).gpu_capacity
    label = move_label(snap, twin)
    p = build_prompt(snap, cands)
    assert p.cid_of(label) == twin.cid  # the label the example shows is a valid answer
    assert e.text(label).startswith(e.context) and f"{label} (du " in e.text(label)
    # No same-shaped move (no such kind here): no label; "stay" examples have none either.
    assert analogue(Experience(e.state, "x", 1, 0, "c", "du", 1e9, 1e9), snap, cands) is None
    assert analogue(experience_of(snap, cands[0], 0.0, 0.0), snap, cands) is None


def test_examples_are_redrawn_every_refresh_calls_only(state):
    snap, cands = state
    pool = ExperiencePool()
    for k, c in enumerate(cands[1:30]):
        pool.add(experience_of(snap, c, float(k % 5) - 2, 0.0))
    seen = []

    class Echo:
        name = "echo"

        def complete(self, prompt):
            seen.append(prompt.user.split("Layout:")[0])
            return json.dumps({"shortlist": ["stay"]})

    agent = PlacementAgent(Echo(), pool=pool, examples=3, refresh=3, seed=4)
    for _ in range(6):
        agent.shortlist(snap, cands, 0)
    assert seen[0] == seen[1] == seen[2] and seen[3] == seen[4] == seen[5]
    assert seen[0] != seen[3]  # a new draw (29 examples, 3 shown: another set)
