"""The critic: features, training on a known relationship, save/load, errors, selection rule,
and HAF / HAF-NoCritic in the twin."""

from __future__ import annotations

import numpy as np
import pytest

from airan_twin.methods import make_method
from airan_twin.methods.haf import Haf
from airan_twin.run import make_twin, simulate
from airan_twin.scenario import load_scenario
from rapp_placement.agent import PlacementAgent, heuristic_shortlist
from rapp_placement.candidates import NOOP, Candidate
from rapp_placement.critic import FEATURE_NAMES, WEIGHTS_PATH, Critic, CriticError, features
from rapp_placement.critic_train import train_critic
from rapp_placement.decision import select_action

SC = load_scenario()


@pytest.fixture(scope="module")
def state():
    twin = make_twin(SC, "haf-static", 0.9, 1, 30.0)
    twin.run(until=10.0)
    snap = twin.snapshot()
    return snap, twin.candidates(snap)


def test_features_encode_state_and_action(state):
    snap, cands = state
    by = {c.cid: c for c in cands}
    noop = features(snap, by[NOOP])
    move = features(snap, by["mig:large-ai-1:gpu-heavy-1"])
    assert noop.shape == move.shape == (len(FEATURE_NAMES),)
    f = dict(zip(FEATURE_NAMES, move, strict=True))
    g = dict(zip(FEATURE_NAMES, noop, strict=True))
    assert g["act_noop"] == 1.0 and g["act_window_over_epoch"] == 0.0
    assert f["act_large-ai"] == 1.0 and f["act_window_over_epoch"] == 1.0  # 8 s ≥ Δ
    assert g["large_gpu_after"] == pytest.approx(g["large_gpu_now"])
    # Off-line for the whole epoch: the moved LLM's reach counts zero after the action.
    assert f["large_gpu_after"] < f["large_gpu_now"]
    assert f["act_log_cap_ratio"] == pytest.approx(np.log(2650 / 242.5), rel=1e-5)


def _synthetic(n_runs=8, per_run=60, seed=0):
    rng = np.random.default_rng(seed)
    n = n_runs * per_run
    x = rng.normal(size=(n, len(FEATURE_NAMES))).astype(np.float32)
    logits = np.stack([x[:, 0] - x[:, 3], 0.5 * x[:, 1], -x[:, 14]], axis=1)
    y = (1 / (1 + np.exp(-logits))).astype(np.float32)
    return {
        "X": x,
        "Y": y,
        "M": np.ones_like(y, dtype=bool),
        "run": np.repeat(np.arange(n_runs), per_run).astype(np.int32),
        "epoch": np.tile(np.repeat(np.arange(per_run // 3), 3), n_runs).astype(np.int32),
        "cid": np.asarray(["noop", "mig:a:b", "mig:c:d"] * (n // 3)),
        "feature_names": np.asarray(FEATURE_NAMES),
    }


def test_training_learns_a_known_relationship_and_splits_by_run():
    data = _synthetic()
    critic, rep = train_critic(data, epochs=800, seed=1)
    assert min(rep.r2.values()) > 0.8
    assert rep.val_samples + rep.train_samples == len(data["X"])
    assert set(rep.val_runs) <= set(range(8)) and len(rep.val_runs) == 2
    assert rep.top1_accuracy > 0.6
    # Same seed, same weights.
    again, _ = train_critic(data, epochs=800, seed=1)
    assert np.array_equal(critic.predict(data["X"][:5]), again.predict(data["X"][:5]))


def test_save_load_round_trip_and_clear_errors(tmp_path):
    data = _synthetic(n_runs=2, per_run=30)
    critic, _ = train_critic(data, epochs=50)
    p = tmp_path / "w.pt"
    critic.save(p, meta={"note": "test"})
    back = Critic.load(p)
    np.testing.assert_array_equal(back.predict(data["X"]), critic.predict(data["X"]))
    with pytest.raises(CriticError, match="not found"):
        Critic.load(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(CriticError, match="not a loadable critic weights file"):
        Critic.load(bad)
    import torch

    blob = torch.load(p, weights_only=True)
    blob["features"] = ["something", "else"]
    torch.save(blob, tmp_path / "other.pt")
    with pytest.raises(CriticError, match="other features"):
        Critic.load(tmp_path / "other.pt")


def test_selection_keeps_the_noop_unless_a_move_scores_higher():
    noop, a, b = Candidate(NOOP), Candidate("mig:x:n1", "x", "n0", "n1"), Candidate("mig:y:n2")
    assert select_action([noop, a, b], [0.9, 0.8, 0.7]) is noop  # every move scores lower
    assert select_action([noop, a, b], [0.8, 0.8, 0.7]) is noop  # ties go to the no-op
    assert select_action([noop, a, b], [0.7, 0.8, 0.9]) is b


class FixedCritic:
    """Scores by a table: lets the test decide what the critic thinks."""

    class_weights = (1.0, 1.0, 1.0)

    def __init__(self, table):
        self.table = table

    def score(self, snap, pool, epoch_s=5.0):
        return np.asarray([self.table.get(c.cid, 0.0) for c in pool])


def test_haf_scores_shortlist_plus_noop_and_nocritic_takes_the_first(state):
    snap, cands = state
    short = heuristic_shortlist(snap, cands)
    first = short[0]
    vetoing = Haf(PlacementAgent(None), FixedCritic({NOOP: 0.9, first: 0.5}))
    assert vetoing.decide(snap, cands) is None  # the critic vetoes the move
    assert set(vetoing.last["scores"]) == {NOOP, *[s for s in short if s != NOOP]}
    keen = Haf(PlacementAgent(None), FixedCritic({NOOP: 0.1, first: 0.5}))
    assert keen.decide(snap, cands).cid == first
    nocritic = Haf(PlacementAgent(None), None)
    assert nocritic.name == "haf-nocritic"
    assert nocritic.decide(snap, cands).cid == first


@pytest.mark.skipif(not WEIGHTS_PATH.exists(), reason="no shipped critic weights yet")
def test_haf_end_to_end_in_the_twin_with_the_shipped_critic():
    r = simulate(SC, "haf", 0.9, 3, 20.0, method_kwargs={"agent": "heuristic"})
    assert r.method == "haf" and r.requests > 0
    assert r.counts["overall"] == r.requests
    assert len(r.decisions) == r.migrations["total"]
    m = make_method("haf", 5.0, agent="heuristic")
    assert m.critic is not None


def test_unknown_agent_spec_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown agent 'gpt'"):
        make_method("haf-nocritic", 5.0, agent="gpt")
