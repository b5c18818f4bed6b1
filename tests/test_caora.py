"""CAORA: the SAC math on tiny problems, the split applied as documented, weights, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from airan_twin.methods.caora import CaoraError, FixedSplit, load_actor
from airan_twin.methods.caora.method import save_actor
from airan_twin.methods.caora.sac import Actor, Sac, SacConfig, soft_update, squash_log_prob
from airan_twin.methods.caora.split import STATE_DIM, interval_reward, node_state, split_rule
from airan_twin.methods.caora.train import TrainConfig, train
from airan_twin.run import make_twin
from airan_twin.scenario import load_scenario

SC = load_scenario(None)


# --- SAC math -------------------------------------------------------------------------------
def test_squashed_log_prob_integrates_to_one_over_the_action_interval():
    """π(a|s) on [0, 1] from the change of variables is a density: ∫ π(a) da = 1."""
    mu, log_std = torch.tensor([[0.3]]), torch.tensor([[-0.4]])
    a = torch.linspace(1e-6, 1 - 1e-6, 200_001).unsqueeze(-1)
    u = torch.atanh(2 * a - 1)
    dens = squash_log_prob(u, mu.expand_as(u), log_std.expand_as(u)).exp()
    integral = torch.trapezoid(dens, a.squeeze(-1)).item()
    assert integral == pytest.approx(1.0, abs=2e-3)


def test_soft_update_moves_targets_by_tau():
    src, tgt = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    before = [p.clone() for p in tgt.parameters()]
    soft_update(tgt, src, 0.1)
    for b, t, s in zip(before, tgt.parameters(), src.parameters(), strict=True):
        assert torch.allclose(t, 0.9 * b + 0.1 * s)


def test_sac_learns_a_one_step_bandit():
    """Reward 1 − (a − 0.8)², no future (γ = 0): the critic's loss falls, the targets follow
    the critics by τ per step, and the greedy action approaches 0.8."""
    cfg = SacConfig(state_dim=2, hidden=32, gamma=0.0, tau=0.05, lr=3e-3, batch=64, init_alpha=0.05)
    sac = Sac(cfg, seed=3)
    rng = np.random.default_rng(0)
    s = np.array([1.0, 0.0], np.float32)
    for _ in range(512):
        a = float(rng.uniform())
        sac.buffer.push(s, a, 1 - (a - 0.8) ** 2, s)
    q_t_before = [p.clone() for p in sac.q1_t.parameters()]
    q_before = [p.clone() for p in sac.q1.parameters()]
    first = sac.update()
    # After one update: target = (1 − τ) target_before + τ q_after.
    for tb, t, q in zip(q_t_before, sac.q1_t.parameters(), sac.q1.parameters(), strict=True):
        assert torch.allclose(t, (1 - cfg.tau) * tb + cfg.tau * q, atol=1e-6)
    assert any(not torch.equal(a, b) for a, b in zip(q_before, sac.q1.parameters(), strict=True))
    losses = [sac.update()["q_loss"] for _ in range(600)]
    assert np.mean(losses[-50:]) < 0.2 * first["q_loss"]
    assert sac.act(s, deterministic=True) == pytest.approx(0.8, abs=0.1)


def test_temperature_rises_when_entropy_is_below_target():
    cfg = SacConfig(state_dim=1, target_entropy=5.0, lr=1e-2)  # unreachable target entropy
    sac = Sac(cfg, seed=0)
    for _ in range(200):
        sac.buffer.push(np.zeros(1, np.float32), 0.5, 0.0, np.zeros(1, np.float32))
    a0 = sac.alpha
    for _ in range(50):
        sac.update()
    assert sac.alpha > a0


def test_checkpoint_round_trip_resumes_identically(tmp_path):
    sac = Sac(SacConfig(state_dim=3, batch=8), seed=1)
    for k in range(32):
        sac.buffer.push(np.full(3, k / 32, np.float32), k / 32, 0.1, np.zeros(3, np.float32))
    sac.update()
    sac.save_checkpoint(tmp_path / "c.pt")
    back = Sac.load_checkpoint(tmp_path / "c.pt")
    x = torch.rand(5, 3)
    assert torch.equal(back.actor.greedy(x), sac.actor.greedy(x))
    assert torch.equal(back.q2_t(x, torch.rand(5, 1) * 0), sac.q2_t(x, torch.rand(5, 1) * 0))
    assert back.alpha == pytest.approx(sac.alpha) and back.updates == 1


# --- the action, as documented ----------------------------------------------------------------
def test_split_gives_floors_then_a_share_of_the_residual_to_ai():
    # DU (RAN) with floor 10 and work 4; two AI instances with work 1 and 3; capacity 100.
    shares, infeasible = split_rule(
        0.25, 100.0, [True, False, False], [1.0, 1.0, 1.0], [4.0, 1.0, 3.0], [10.0, 0.0, 0.0]
    )
    assert not infeasible
    assert shares == pytest.approx([10.0 + 0.75 * 90, 0.25 * 90 * 1 / 4, 0.25 * 90 * 3 / 4])


def test_a_class_alone_takes_the_whole_residual():
    only_ai, _ = split_rule(0.1, 50.0, [True, False], [0, 1], [0.0, 5.0], [0.0, 0.0])
    assert only_ai == pytest.approx([0.0, 50.0])
    only_ran, _ = split_rule(0.9, 50.0, [True, False], [1, 0], [5.0, 0.0], [2.0, 0.0])
    assert only_ran == pytest.approx([50.0, 0.0])


def test_floors_that_do_not_fit_follow_every_methods_rule():
    shares, infeasible = split_rule(0.5, 10.0, [True, True, False], [1, 1, 1], [1, 1, 1], [8, 8, 0])
    assert infeasible and shares == pytest.approx([5.0, 5.0, 0.0])


@settings(max_examples=300, deadline=None)
@given(
    st.floats(0, 1),
    st.floats(1, 1e3),
    st.lists(st.tuples(st.booleans(), st.floats(0, 1e3), st.floats(0, 50)), min_size=1, max_size=6),
)
def test_split_keeps_capacity_floors_and_work_conservation(a, cap, insts):
    is_ran = [r for r, _, _ in insts]
    work = [w for _, w, _ in insts]
    floors = [f if r and w > 0 else 0.0 for r, w, f in insts]  # a floor needs pending work
    shares, infeasible = split_rule(a, cap, is_ran, [1.0] * len(insts), work, floors)
    assert sum(shares) <= cap * (1 + 1e-9) and all(s >= 0 for s in shares)
    if not infeasible:
        assert all(s >= f - 1e-9 for s, f in zip(shares, floors, strict=True))
        if any(w > 0 for w in work):  # work-conserving: the residual is all handed out
            assert sum(shares) == pytest.approx(cap, rel=1e-9)


def test_the_twin_applies_the_split_of_the_node():
    """In a run every allocation equals split_rule with the node's split in force."""
    method = FixedSplit(0.3)
    seen = []
    orig = method.node_rule

    def spy(node, resource, t, cap, is_ran, urg, work, floors, count):
        out = orig(node, resource, t, cap, is_ran, urg, work, floors, count)
        seen.append((out, split_rule(0.3, cap, is_ran, urg, work, floors)))
        return out

    method.node_rule = spy
    twin = make_twin(SC, method, 0.9, 1, 3.0)
    twin.run()
    assert len(seen) > 1000 and all(out == ref for out, ref in seen)
    assert set(method.split.values()) == {0.3}


def test_state_and_reward_are_as_documented():
    s = node_state(
        "balanced",
        100.0,
        1.0,
        [True, False],
        [2.0, 3.0],
        [50.0, 150.0],
        [10.0, 0],
        [1, 2],
        0.4,
        -0.5,
    )
    assert s.shape == (STATE_DIM,) and s.dtype == np.float32
    assert s[0] == pytest.approx(math.log1p(0.5)) and s[1] == pytest.approx(math.log1p(1.5))
    assert s[4] == pytest.approx(0.1) and s[7] == pytest.approx(0.75)
    assert list(s[8:11]) == [0.0, 1.0, 0.0] and s[11] == pytest.approx(0.4) and s[12] == -0.5
    assert interval_reward(1, 0, 0, 0) == 1.0 and interval_reward(0, 1, 1, 0) == pytest.approx(
        -1 / 3
    )
    assert interval_reward(0, 0, 0, 0) == 0.0


# --- weights and determinism ------------------------------------------------------------------
def test_shipped_weights_load_and_run():
    actor, meta = load_actor()
    assert meta["config"]["episodes"] >= 1
    out = actor.greedy(torch.zeros(4, STATE_DIM))
    assert out.shape == (4, 1) and bool(((out >= 0) & (out <= 1)).all())


def test_actor_save_load_round_trip_and_bad_files(tmp_path):
    actor = Actor(STATE_DIM, 16)
    save_actor(actor, tmp_path / "a.pt", {"note": "test"})
    back, meta = load_actor(tmp_path / "a.pt")
    x = torch.rand(3, STATE_DIM)
    assert torch.equal(back.greedy(x), actor.greedy(x)) and meta == {"note": "test"}
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CaoraError, match="not CAORA actor weights"):
        load_actor(tmp_path / "junk.pt")
    with pytest.raises(CaoraError, match="no such file"):
        load_actor(tmp_path / "missing.pt")


def test_training_is_deterministic_per_seed(tmp_path):
    cfg = TrainConfig(
        episodes=3, horizon_s=10.0, loads=(0.9,), seed=5, warmup=20, checkpoint_every=1
    )
    r1 = train(SC, cfg, tmp_path / "a")
    r2 = train(SC, cfg, tmp_path / "b")
    assert [repr(x) for x in r1.curve] == [repr(x) for x in r2.curve]  # repr: NaN == NaN
    a1, _ = load_actor(tmp_path / "a" / "caora_actor.pt")
    a2, _ = load_actor(tmp_path / "b" / "caora_actor.pt")
    for p, q in zip(a1.parameters(), a2.parameters(), strict=True):
        assert torch.equal(p, q)
    assert r1.updates > 0 and (tmp_path / "a" / "learning-curve.png").stat().st_size > 0
    assert (tmp_path / "a" / "checkpoint-002.pt").exists()
    r3 = train(SC, TrainConfig(**{**vars(cfg), "seed": 6}), tmp_path / "c")
    assert [x.mean_split for x in r3.curve] != [x.mean_split for x in r1.curve]


def test_sim_runs_caora_with_the_shipped_policy_deterministically():
    from airan_twin.run import simulate

    r1 = simulate(SC, "caora", 0.9, 1, 10.0)
    r2 = simulate(SC, "caora", 0.9, 1, 10.0)
    assert r1.fulfilment == r2.fulfilment and r1.migrations["total"] == 0
    assert r1.agent["decisions"] > 0


def test_cli_caora_bad_weights_exit_2_and_sim_runs_caora(tmp_path):
    from tests.test_cli import run

    bad = tmp_path / "w.pt"
    bad.write_text("nope")
    r = run("caora", "evaluate", "--weights", str(bad), "--seeds", "1", "--horizon", "2")
    assert r.returncode == 2 and "not CAORA actor weights" in r.stderr
    assert "Traceback" not in r.stderr
    r = run("sim", "--method", "caora", "--horizon", "3")
    assert r.returncode == 0, r.stderr
    assert "│ caora " in r.stdout and "paper" in r.stdout


def test_fixed_split_methods_by_name():
    from airan_twin.methods import make_method

    m = make_method("caora-fixed:0.9", 5.0)
    assert isinstance(m, FixedSplit) and m.value == 0.9 and m.name == "caora-fixed:0.9"
    for bad in ("caora-fixed:1.5", "caora-fixed:x"):
        with pytest.raises(ValueError, match="in \\[0, 1\\]"):
            make_method(bad, 5.0)
