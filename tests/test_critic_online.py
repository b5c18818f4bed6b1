"""The critic that keeps learning (rapp_placement/critic_online.py): the guard, rollback,
checkpoints, metrics — and that it learns what a shifted world teaches."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from rapp_placement.critic import WEIGHTS_PATH, Critic, features_batch
from rapp_placement.critic_online import OnlineConfig, OnlineCritic, concordance


def test_concordance_is_harrells_c():
    real = np.array([0.1, 0.2, 0.3, 0.4])
    assert concordance(real, real) == 1.0
    assert concordance(-real, real) == 0.0
    assert concordance(np.zeros(4), real) == 0.5
    assert concordance(real, np.zeros(4)) == 0.5  # no pair to order


def _scrambled(critic: Critic, seed: int = 1) -> dict:
    torch.manual_seed(seed)
    sd = copy.deepcopy(critic.model.state_dict())
    for k, v in sd.items():
        if k.startswith("members"):
            sd[k] = torch.randn_like(v) * 2.0
    return sd


@pytest.fixture()
def samples(state):
    """Realistic inputs (every candidate's features at a twin state, jittered) labelled by a
    'world' that differs from the critic's: a scrambled copy of it."""
    snap, cands = state
    x0 = features_batch(snap, cands, 5.0)
    rng = np.random.default_rng(0)
    x = np.concatenate([x0 * rng.uniform(0.7, 1.3, x0.shape) for _ in range(8)]).astype(np.float32)
    world = Critic.load(WEIGHTS_PATH)
    world.model.load_state_dict(_scrambled(world))
    world._frozen = None
    y = world.predict(x)
    m = np.ones_like(y, dtype=bool)
    return x, y, m


def _mse(critic: Critic, x, y) -> float:
    return float(((critic.predict(x) - y) ** 2).mean())


def test_online_critic_learns_a_shifted_world_and_never_gets_worse_on_validation(samples):
    x, y, m = samples
    cut = len(x) * 3 // 4
    frozen = Critic.load(WEIGHTS_PATH)
    online = OnlineCritic(Critic.load(WEIGHTS_PATH), OnlineConfig(steps=60, lr=3e-3))
    for k in range(cut):
        rec = online.observe(x[k], y[k], m[k])
        if rec is not None and rec["result"] == "accepted":
            assert rec["concordance_after"] >= rec["concordance_before"]
            assert rec["mse_after"] <= rec["mse_before"]
    s = online.summary()
    assert s["accepted"] >= 1 and s["version"] >= 1
    # On samples it never saw, the online critic is closer to the world than the frozen one.
    assert _mse(online.critic, x[cut:], y[cut:]) < 0.8 * _mse(frozen, x[cut:], y[cut:])
    text = online.metrics.registry.get_sample_value(
        "haf_critic_updates_total", {"result": "accepted"}
    )
    assert text == s["accepted"]


def test_an_update_that_worsens_validation_is_rejected(samples, monkeypatch):
    x, y, m = samples
    online = OnlineCritic(Critic.load(WEIGHTS_PATH), OnlineConfig(update_every=10**6))
    for k in range(60):
        online.observe(x[k], y[k], m[k])
    online._install(_scrambled(online.critic))  # the world's own weights: it ranks perfectly
    before = copy.deepcopy(online.critic.model.state_dict())
    # The candidate predicts 1 − ŷ: every order the current critic gets right, it gets wrong.
    bad = copy.deepcopy(online.critic)
    with torch.no_grad():
        for member in bad.model.members:
            member.out.weight.neg_()
            member.out.bias.neg_()
    bad._frozen = None
    assert online.score()[0] > 0.5  # so the reversed one ranks worse
    monkeypatch.setattr(online, "_fine_tuned", lambda: bad)
    rec = online.update()
    assert rec["result"] == "rejected" and online.version == 0
    after = online.critic.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert (
        online.metrics.registry.get_sample_value("haf_critic_updates_total", {"result": "rejected"})
        == 1
    )


def test_rollback_to_an_earlier_version_that_validates_better(samples, monkeypatch, tmp_path):
    x, y, m = samples
    online = OnlineCritic(
        Critic.load(WEIGHTS_PATH), OnlineConfig(update_every=10**6), checkpoints=tmp_path
    )
    for k in range(60):
        online.observe(x[k], y[k], m[k])
    # Suppose v1 was accepted on an early, small validation buffer but is poor on today's.
    v1 = _scrambled(online.critic, seed=3)
    online.versions[1] = v1
    online._install(v1)
    online.version = 1
    monkeypatch.setattr(online, "_fine_tuned", lambda: copy.deepcopy(online.critic))
    rec = online.update()
    assert rec.get("rollback_to") == 0 and online.version == 0
    assert (
        online.metrics.registry.get_sample_value("haf_critic_updates_total", {"result": "rollback"})
        == 1
    )
    # Every version is a loadable checkpoint; every update a JSON line.
    assert Critic.load(tmp_path / "v0000.pt").members == online.critic.members
    lines = (tmp_path / "updates.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["rollback_to"] == 0


def test_samples_without_outcomes_or_with_nan_are_ignored():
    online = OnlineCritic(Critic.load(WEIGHTS_PATH))
    x = np.zeros(len(online.critic.model.mean), np.float32)
    assert online.observe(x, np.zeros(3), np.zeros(3, bool)) is None
    x[0] = np.nan
    assert online.observe(x, np.zeros(3), np.ones(3, bool)) is None
    assert len(online.train) + len(online.val) == 0


def test_the_twin_feeds_the_online_critic_reproducibly():
    from airan_twin.run import simulate
    from airan_twin.scenario import load_scenario

    sc = load_scenario()
    kw = {"critic_online": True}
    a = simulate(sc, "haf-critic-only", 0.9, 2, 200.0, method_kwargs=kw)
    b = simulate(sc, "haf-critic-only", 0.9, 2, 200.0, method_kwargs=kw)
    online = a.agent["critic_online"]
    assert online["samples"] >= 25  # one per epoch whose label window has passed
    assert a.agent == b.agent and a.fulfilment == b.fulfilment
