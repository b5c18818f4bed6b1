"""`haf critic dataset|train|evaluate` end to end on generated topologies, and their refusals."""

from __future__ import annotations

import numpy as np
import pytest

from rapp_placement.critic import FEATURE_NAMES, Critic
from tests.cli_helpers import run_haf


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """Tiny datasets: two training topologies, one validation, one rolled out in full."""
    d = tmp_path_factory.mktemp("critic")
    paths = {}
    for name, topo, samples in (
        ("train", "1000-1001", "3"),
        ("val", "2000", "3"),
        ("all", "3000", "0"),
    ):
        paths[name] = d / f"{name}.npz"
        args = ["critic", "dataset", "--out", str(paths[name]), "--topologies", topo]
        args += ["--horizon", "11", "--samples", samples, "--workers", "1"]
        code, _, _ = run_haf([*args, "--loads", "0.9", "--seeds", "5"])
        assert code == 0
    return d, paths


def test_dataset_records_topologies_shortlists_and_every_candidate(datasets):
    _, paths = datasets
    with np.load(paths["train"]) as f:
        assert f["X"].shape[1] == len(FEATURE_NAMES)
        assert set(np.unique(f["topology"])) == {1000, 1001}
        assert [str(g) for g in f["run_groups"]] == ["gen1000", "gen1001"]
        assert f["short"][f["cid"] == "noop"].all()
        # --samples 3: at most 3 rollouts an epoch beyond the shortlist.
        for r in np.unique(f["run"]):
            for e in np.unique(f["epoch"][f["run"] == r]):
                sel = (f["run"] == r) & (f["epoch"] == e)
                assert (f["cid"][sel] == "noop").sum() == 1
                assert sel.sum() <= max(3, f["short"][sel].sum())
    with np.load(paths["all"]) as f:  # --samples 0: every feasible candidate of the epoch
        from airan_twin.topologies import generate

        sc = generate(3000)
        per_epoch = np.bincount(f["epoch"])
        assert per_epoch.max() >= len(sc.instances)  # each instance has somewhere to go


def test_train_then_evaluate_writes_weights_card_and_reports(datasets, capsys):
    d, paths = datasets
    w = d / "w.pt"
    args = [
        "critic",
        "train",
        "--data",
        str(paths["train"]),
        "--val-data",
        str(paths["val"]),
        "--out",
        str(w),
        "--epochs",
        "30",
        "--members",
        "2",
    ]
    code, out, err = run_haf(args, capsys)
    assert code == 0, err
    assert "commit rule chosen on validation" in out and w.exists()
    card = w.with_suffix(".card.md").read_text()
    assert "Ensemble of 2" in card and "gen1000" in card and "val.npz" in card
    c = Critic.load(w)
    assert c.members == 2 and c.kappa >= 0
    code, out, err = run_haf(
        ["critic", "evaluate", "--data", str(paths["all"]), "--critic", str(w)], capsys
    )
    assert code == 0, err
    assert "top-1 agreement" in out and "Spearman" in out and "gen3000" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--topologies", "abc"], "is not a seed"),
        (["--topologies", "9-3"], "bad range"),
        (["--samples", "1"], "--samples must be 0"),
        (["--split", "dev", "--topologies", "1"], "--split must be train or test"),
        (["--trace", "/nonexistent.csv"], "no such file"),
        (["--loads", "0"], "--loads needs values"),
    ],
)
def test_dataset_refuses_bad_options_without_a_traceback(tmp_path, capsys, args, message):
    code, out, err = run_haf(["critic", "dataset", "--out", str(tmp_path / "d.npz"), *args], capsys)
    assert code == 2
    assert message in out + err and "Traceback" not in out + err


def test_evaluate_refuses_a_dataset_of_other_features(tmp_path, capsys, datasets):
    _, paths = datasets
    with np.load(paths["all"]) as f:
        d = {k: f[k] for k in f.files}
    d["feature_names"] = np.asarray(["x"] * 3)
    bad = tmp_path / "bad.npz"
    np.savez(bad, **d)
    code, out, err = run_haf(["critic", "evaluate", "--data", str(bad)], capsys)
    assert code == 2 and "features differ" in out + err


def test_sim_shows_every_epochs_shortlist_scores_and_commit(tmp_path, capsys):
    import json

    args = [
        "sim",
        "--method",
        "haf",
        "--agent",
        "heuristic",
        "--horizon",
        "11",
        "--show-decisions",
        "--out",
        str(tmp_path),
    ]
    code, out, err = run_haf(args, capsys)
    assert code == 0, err
    assert "Decisions per epoch" in out and "committed" in out
    (f,) = tmp_path.glob("*.json")
    epochs = json.loads(f.read_text())["agent"]["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    for e in epochs:
        assert "noop" in e["j"]  # the no-op is always scored (12)
        assert e["committed"] in e["j"] and e["advantage"]["noop"] == [0.0, 0.0]
        adv = {k: v[0] for k, v in e["advantage"].items()}
        if e["committed"] != "noop":  # the commit rule took the best advantage (κ = 0 shipped)
            assert adv[e["committed"]] >= max(adv.values()) - 1e-4 > 0.0
    code, out, _ = run_haf(
        ["sim", "--method", "haf-static", "--horizon", "6", "--show-decisions"], capsys
    )
    assert code == 0 and "no per-epoch decisions" in out
