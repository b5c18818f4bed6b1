"""Each method's rule: allocation rules, dispatch, and the placement decisions."""

from __future__ import annotations

import math

import pytest

from airan_twin.methods import make_method
from airan_twin.methods.allocation import (
    equal_share_rule,
    haf_rule,
    market_rule,
    maxweight_rule,
)
from airan_twin.methods.game_theory import GameTheory
from airan_twin.methods.lyapunov import Lyapunov
from airan_twin.run import simulate
from airan_twin.scenario import load_scenario
from proto.observation import InstanceView, NodeView, Snapshot
from rapp_placement.candidates import feasible_candidates
from tests.twin_helpers import ai_req, twin_for, two_llm_scenario

# Node of 100 units: a DU with floor 20, an LLM with lots of work, a small model with a little.
CAP, URG, WORK, FLOORS = 100.0, [50.0, 1.0, 4.0], [1.0, 900.0, 10.0], [20.0, 0.0, 0.0]
COUNT, MU = [2, 30, 5], [1.0, 0.01, 0.5]


def test_baselines_give_floors_first_then_split_the_residual():
    eq, inf = equal_share_rule(CAP, URG, WORK, FLOORS, COUNT, MU)
    assert not inf and eq == pytest.approx([20 + 80 / 3, 80 / 3, 80 / 3])
    mw, _ = maxweight_rule(CAP, URG, WORK, FLOORS, COUNT, MU)
    # Q·μ: 2·1 = 2 (DU) beats 30·0.01 = 0.3 and 5·0.5 = 2.5? No: the small model wins at 2.5.
    assert mw == pytest.approx([20.0, 0.0, 80.0])
    mk, _ = market_rule(CAP, URG, WORK, FLOORS, COUNT, MU)
    # Bids are the urgencies (budgets), not urgency × backlog: the LLM's 900 units of work do
    # not buy it the node.
    assert mk == pytest.approx([20 + 80 * 50 / 55, 80 * 1 / 55, 80 * 4 / 55])
    for shares in (eq, mw, mk):
        assert sum(shares) == pytest.approx(CAP)


def test_haf_rule_is_the_closed_form_and_differs_from_baselines():
    haf, _ = haf_rule(CAP, URG, WORK, FLOORS, COUNT, MU)
    pulls = [math.sqrt(u * w) for u, w in zip(URG, WORK, strict=True)]
    # Unclipped, the DU would get 100·√50/Σ = 16.3 < its floor 20: it is clipped to 20 and
    # the other 80 split by √(U W) — the active-set step of (18)–(19).
    assert 100 * pulls[0] / sum(pulls) < 20.0
    rest = pulls[1] + pulls[2]
    assert haf == pytest.approx([20.0, 80 * pulls[1] / rest, 80 * pulls[2] / rest])
    eq, _ = equal_share_rule(CAP, URG, WORK, FLOORS, COUNT, MU)
    assert haf != pytest.approx(eq)


def test_every_rule_uses_the_same_infeasible_floor_rule():
    for rule in (haf_rule, equal_share_rule, maxweight_rule, market_rule):
        shares, infeasible = rule(
            10.0, [1, 1, 1], [1, 1, 1], [15.0, 5.0, 0.0], [1, 1, 1], [1, 1, 1]
        )
        assert infeasible
        assert shares == pytest.approx([7.5, 2.5, 0.0])


def test_round_robin_dispatch_alternates_and_static_least_backlog():
    sc = two_llm_scenario()
    reqs = [ai_req(k, 0.001 * k, work=1e13, deadline=30.0) for k in range(6)]
    rr = twin_for(sc, reqs, method="round-robin")
    rr.run(until=0.0055)
    placed = [r.inst.iid for r in reqs]
    assert placed == ["large-ai-1", "large-ai-2"] * 3
    reqs2 = [ai_req(k, 0.001 * k, work=1e13, deadline=30.0) for k in range(6)]
    st = twin_for(sc, reqs2, method="haf-static")
    st.run(until=0.0055)
    # Least backlog: the faster node a drains more, but each new request lands on the less
    # loaded instance, so both get some and never the same one three times running.
    placed2 = [r.inst.iid for r in reqs2]
    assert set(placed2) == {"large-ai-1", "large-ai-2"}


def test_haf_static_and_round_robin_never_migrate():
    sc = load_scenario()
    for m in ("haf-static", "round-robin"):
        r = simulate(sc, m, 1.2, 1, 12.0)
        assert r.migrations == {"large": 0, "total": 0}


def _snap(backlog_a: float, backlog_b: float, cat: str = "large-ai", tau: float = 8.0) -> Snapshot:
    nodes = (
        NodeView("a", "balanced", 100.0, 8.0, 80e9, 40e9, 1.0, 0.0, 0.0, 0.0, 10),
        NodeView("b", "gpu-heavy", 1000.0, 8.0, 320e9, 10e9, 0.1, 0.0, 0.0, 0.0, 1),
    )
    insts = (
        InstanceView("x", cat, "a", 28e9, 1e9, False, tau, backlog_a, 0.0, 10, 0, 5.0, 150.0),
        InstanceView("y", "small-ai", "b", 1e9, 0.0, False, 0.5, backlog_b, 0.0, 1, 0, 1.0, 10.0),
    )
    return Snapshot(10.0, 2, nodes, insts)


def test_lyapunov_moves_the_backlog_to_capacity_and_otherwise_stays():
    lyap = Lyapunov(epoch_s=5.0)
    snap = _snap(backlog_a=2000.0, backlog_b=10.0)
    choice = lyap.decide(snap, feasible_candidates(snap))
    assert choice is not None and choice.cid == "mig:x:b"
    calm = _snap(backlog_a=1.0, backlog_b=1.0)
    calm = Snapshot(
        calm.time,
        calm.epoch,
        calm.nodes,
        tuple(
            InstanceView(*(getattr(i, f) for f in i.__slots__[:-1]), 0.0) for i in calm.instances
        ),
    )
    assert lyap.decide(calm, feasible_candidates(calm)) is None


def test_game_theory_never_moves_when_the_window_exceeds_the_epoch():
    gt = GameTheory(epoch_s=5.0)
    snap = _snap(backlog_a=2000.0, backlog_b=10.0, tau=8.0)  # τ = 8 s > Δ = 5 s
    assert gt.decide(snap, feasible_candidates(snap)) is None
    quick = _snap(backlog_a=2000.0, backlog_b=10.0, cat="small-ai", tau=0.5)
    choice = gt.decide(quick, feasible_candidates(quick))
    assert choice is not None and choice.cid == "mig:x:b"


def test_unknown_method_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown method 'magic'"):
        make_method("magic", 5.0)


def test_paper_configured_baselines_never_move_an_llm():
    """The paper's Table III baselines: migrations "confined to DU, CU-UP, and small-AI"."""
    lyap = make_method("lyapunov-paper", 5.0)
    snap = _snap(backlog_a=2000.0, backlog_b=10.0)  # the free Lyapunov moves the LLM here
    assert lyap.decide(snap, feasible_candidates(snap)) is None
    small = _snap(backlog_a=2000.0, backlog_b=10.0, cat="small-ai", tau=0.5)
    choice = lyap.decide(small, feasible_candidates(small))
    assert choice is not None and choice.cid == "mig:x:b"
    gt = make_method("game-theory-paper", 5.0)
    assert gt.name == "game-theory-paper" and gt.movable == frozenset({"small-ai"})
    assert gt.decide(snap, feasible_candidates(snap)) is None


def test_critic_only_scores_every_candidate_and_commits_the_argmax():
    import numpy as np

    from airan_twin.methods.haf import HafCriticOnly
    from rapp_placement.critic import Assessment, commit_index

    class Fixed:
        margin = 0.0

        def choose(self, snap, pool, epoch_s):
            assert pool[0].is_noop  # the commit rule measures advantages from the no-op
            j = np.asarray(
                [0.5 if c.is_noop else (0.9 if c.cid == "mig:y:a" else 0.1) for c in pool]
            )
            return commit_index(j - j[0], np.zeros_like(j), 0.0, self.margin), Assessment(
                j, j - j[0], np.zeros_like(j)
            )

    m = HafCriticOnly(Fixed(), 5.0)  # type: ignore[arg-type]
    snap = _snap(backlog_a=2000.0, backlog_b=10.0)
    cands = feasible_candidates(snap)
    assert m.decide(snap, cands).cid == "mig:y:a" and m.scored == len(cands)
    m.critic.margin = 0.5  # the best move gains 0.4 over the no-op: not enough
    assert m.decide(snap, list(reversed(cands))) is None
    assert make_method("haf-critic-only", 5.0).name == "haf-critic-only"  # the shipped critic


def test_oracle_commits_the_realised_best_and_workers_agree():
    """Every candidate is rolled out from a fork; the committed one has the highest realised J,
    and forked worker processes give the same scores as the serial loop."""
    sc = two_llm_scenario()
    reqs = [ai_req(k, 0.05 * k, work=8e12, deadline=6.0) for k in range(40)]
    results = []
    for workers in (1, 2):
        twin = twin_for(sc, reqs, "haf-static", horizon=12.0)
        from airan_twin.methods.oracle import Oracle

        oracle = Oracle(window_s=5.0, workers=workers)
        oracle.attach(twin)
        twin.run(until=5.0)
        snap = twin.snapshot()
        cands = twin.candidates(snap)
        scores = oracle.evaluate(cands)
        choice = oracle.decide(snap, cands)
        best = max(range(len(cands)), key=lambda k: (scores[k], -k))
        assert (choice.cid if choice else "noop") == cands[best].cid
        assert oracle.regret_log[-1]["j_best"] == max(scores)
        results.append(scores)
    assert results[0] == results[1] and len(results[0]) > 2
    # The rollouts did not touch the twin itself: running on gives the plain run's result.
    assert twin.now == 5.0
