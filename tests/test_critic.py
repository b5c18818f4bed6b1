"""The critic: features (and their size independence), training on a known relationship, the
ensemble and its commit rule, save/load, errors, and HAF / HAF-NoCritic in the twin."""

from __future__ import annotations

import numpy as np
import pytest

from airan_twin.methods import make_method
from airan_twin.methods.haf import Haf
from airan_twin.run import make_twin, simulate
from airan_twin.scenario import load_scenario
from rapp_placement.agent import PlacementAgent, heuristic_shortlist
from rapp_placement.candidates import NOOP, Candidate
from rapp_placement.critic import (
    FEATURE_NAMES,
    WEIGHTS_PATH,
    Assessment,
    Critic,
    CriticError,
    commit_index,
    features,
)
from rapp_placement.critic_train import evaluate, train_critic

SC = load_scenario()


@pytest.fixture(scope="module")
def state():
    twin = make_twin(SC, "haf-static", 0.9, 1, 30.0)
    twin.run(until=9.99)  # before the epoch's reset: the arrival rates of the epoch are seen
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
    assert all(v == 0.0 for k, v in g.items() if k.startswith("act_") and k != "act_noop")
    assert f["act_large-ai"] == 1.0 and f["act_window_over_epoch"] == 1.0  # 8 s ≥ Δ
    assert g["large_load_after"] == pytest.approx(g["large_load_now"])
    # Off-line for the whole epoch: the class loses this LLM's node, its load rises.
    assert f["large_load_after"] > f["large_load_now"] > 0.0
    assert f["large_log_reach_ratio"] < 0.0
    assert f["act_log_gpu_cap_ratio"] == pytest.approx(np.log(2650 / 242.5), rel=1e-5)
    assert f["act_dst_llms_after"] == 1.0  # no LLM on gpu-heavy-1 yet
    assert 0.0 < f["act_moved_arrival_share"] < 1.0  # one of the two LLMs


def _doubled(snap):
    """The same cluster twice over: every node and its instances copied under a new name."""
    from dataclasses import replace

    nodes = snap.nodes + tuple(replace(n, node_id=n.node_id + "-b") for n in snap.nodes)
    insts = snap.instances + tuple(
        replace(i, instance_id=i.instance_id + "-b", node_id=i.node_id + "-b")
        for i in snap.instances
    )
    return replace(snap, nodes=nodes, instances=insts)


def test_state_features_do_not_grow_with_the_cluster(state):
    """Size independence: a cluster and two copies of it side by side are the same state."""
    snap, cands = state
    big = _doubled(snap)
    assert np.allclose(features(snap, Candidate(NOOP)), features(big, Candidate(NOOP)), atol=1e-6)
    # A move's own features are the same too, but for its share of its class's arrivals,
    # which halves: moving one of twice as many instances matters half as much.
    by = {c.cid: c for c in cands}
    for cid in ("mig:cu-up-1:cpu-heavy-1", "mig:large-ai-1:gpu-heavy-1"):
        small, large = features(snap, by[cid]), features(big, by[cid])
        share = FEATURE_NAMES.index("act_moved_arrival_share")
        same = [k for k, n in enumerate(FEATURE_NAMES) if n.startswith("act_") and k != share]
        assert np.allclose(small[same], large[same], atol=1e-6), cid
        assert large[share] == pytest.approx(small[share] / 2, rel=1e-5)


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
    critic, rep = train_critic(data, epochs=800, seed=1, members=2)
    assert min(rep.r2.values()) > 0.8
    assert rep.val_samples + rep.train_samples == len(data["X"])
    assert len(rep.val_groups) == 2 and all(g.startswith("run") for g in rep.val_groups)
    assert rep.pools["all"].top1 > 0.6
    # Same seed, same weights.
    again, _ = train_critic(data, epochs=800, seed=1, members=2)
    assert np.array_equal(critic.predict(data["X"][:5]), again.predict(data["X"][:5]))


def test_split_is_by_topology_when_the_data_has_several():
    data = _synthetic(n_runs=8)
    data["topology"] = np.repeat(np.array([1000, 1000, 1001, 1001, 1002, 1002, 1003, 1003]), 60)
    _, rep = train_critic(data, epochs=20, seed=0, members=1)
    assert len(rep.val_groups) == 1 and rep.val_groups[0].startswith("topo")
    assert rep.val_samples == 120  # both runs of the held-out topology, nothing else


def _noop_vs_move(y_move: float, n_runs: int = 6, per_run: int = 60, seed: int = 0):
    """Epochs of (no-op, move, move): the no-op realises 0.9 on every class, moves ``y_move``."""
    data = _synthetic(n_runs, per_run, seed)
    is_noop = data["cid"] == "noop"
    data["X"][:] = 0.0
    data["X"][:, FEATURE_NAMES.index("act_noop")] = is_noop
    data["Y"][:] = np.where(is_noop[:, None], 0.9, y_move).astype(np.float32)
    return data


def test_commit_rule_is_chosen_on_validation_to_veto_moves_the_critic_overrates():
    # Trained where moves gain 0.3 points; validated where they lose five: only a margin
    # above the predicted gain keeps the no-op, and the grid search must find one.
    critic, rep = train_critic(
        _noop_vs_move(0.903), _noop_vs_move(0.85, seed=1), epochs=400, members=3
    )
    adv = rep.calibration.bins
    assert all(b["predicted"] > 0 for b in adv)  # the critic believes in the moves ...
    assert all(b["realised"] < 0 for b in adv)  # ... which lose
    assert critic.margin > 0.0 and rep.pools["all"].migrate_share == 0.0
    assert rep.pools["all"].regret == pytest.approx(0.0, abs=1e-9)
    best = min(g["regret_shortlist"] for g in rep.grid)
    assert rep.pools["all"].regret == pytest.approx(best, abs=1e-9)


def test_ensemble_members_differ_and_the_sd_is_reported():
    critic, _ = train_critic(_synthetic(), epochs=100, seed=2, members=3)
    x = _synthetic(n_runs=1, per_run=12, seed=5)["X"]
    per = critic.predict_members(x)
    assert per.shape == (3, 12, 3)
    assert np.ptp(per, axis=0).max() > 1e-4  # bootstrap + seeds: members disagree
    np.testing.assert_allclose(critic.predict(x), per.mean(axis=0), rtol=1e-6)
    pools, calib, _, _ = evaluate(critic, _synthetic(n_runs=2, seed=6))
    assert pools["all"].epochs == 40 and 0.0 <= calib.coverage_2sd <= 1.0


def test_save_load_round_trip_and_clear_errors(tmp_path):
    data = _synthetic(n_runs=2, per_run=30)
    critic, _ = train_critic(data, epochs=50, members=2)
    critic.kappa, critic.margin = 1.0, 0.002
    p = tmp_path / "w.pt"
    critic.save(p, meta={"note": "test"})
    back = Critic.load(p)
    np.testing.assert_array_equal(back.predict(data["X"]), critic.predict(data["X"]))
    assert (back.members, back.kappa, back.margin) == (2, 1.0, 0.002)
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


def test_commit_rule_keeps_the_noop_unless_a_move_clears_the_margin():
    adv, sd = np.array([0.0, -0.01, 0.02]), np.array([0.0, 0.001, 0.004])
    assert commit_index(adv, sd, 0.0, 0.0) == 2
    assert commit_index(np.array([0.0, 0.0, -0.1]), sd, 0.0, 0.0) == 0  # ties: the no-op
    assert commit_index(adv, sd, 0.0, 0.02) == 0  # must exceed the margin, not equal it
    assert commit_index(adv, sd, 2.0, 0.011) == 2  # 0.02 − 2·0.004 = 0.012 > 0.011 ...
    assert commit_index(adv, sd, 2.0, 0.0121) == 0  # ... and not above 0.0121
    # κ trades a larger but uncertain advantage for a smaller sure one.
    adv2, sd2 = np.array([0.0, 0.010, 0.012]), np.array([0.0, 0.0005, 0.006])
    assert commit_index(adv2, sd2, 0.0, 0.0) == 2
    assert commit_index(adv2, sd2, 1.0, 0.0) == 1
    assert commit_index(np.array([0.0]), np.array([0.0]), 0.0, 0.0) == 0


class FixedCritic:
    """Scores by a table: lets the test decide what the critic thinks (certain, κ = m = 0)."""

    def __init__(self, table):
        self.table = table

    def choose(self, snap, pool, epoch_s=5.0):
        j = np.asarray([self.table.get(c.cid, 0.0) for c in pool])
        a = Assessment(j, j - j[0], np.zeros_like(j))
        return commit_index(a.adv, a.adv_sd, 0.0, 0.0), a


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


def test_a_feature_constant_in_training_keeps_unit_scale():
    """A feature that never varied in training (CPU load, say) must not blow up at run time."""
    data = _synthetic(n_runs=4, per_run=30)
    k = FEATURE_NAMES.index("act_src_cpu_util")
    data["X"][:, k] = 0.0
    critic, _ = train_critic(data, epochs=20, members=1)
    assert float(critic.model.std[k]) == 1.0
    x = data["X"][:3].copy()
    x[:, k] = 0.9  # first busy CU-UP node: a bounded change of the inputs, not ±1e6
    assert np.isfinite(critic.predict(x)).all()
    z = (x[:, k] - float(critic.model.mean[k])) / float(critic.model.std[k])
    assert np.abs(z).max() < 1.0


def test_numpy_inference_matches_the_torch_model():
    """The run-time path (numpy on frozen weights) computes what the trained torch model does."""
    import torch

    critic, _ = train_critic(_synthetic(n_runs=4, per_run=30), epochs=30, members=3)
    x = (np.random.default_rng(7).normal(size=(50, len(FEATURE_NAMES))) * 50).astype(np.float32)
    with torch.no_grad():
        ref = critic.model(torch.as_tensor(x)).numpy()
    got = critic.predict_members(x)
    assert got.shape == ref.shape and np.isfinite(got).all()
    np.testing.assert_allclose(got, ref, atol=1e-5)
