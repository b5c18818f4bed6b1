"""Experiments: job lists, aggregation over seeds, the sweep plot; critic CLI error paths."""

from __future__ import annotations

import subprocess
import sys

import pytest

from airan_twin.experiments import (
    BASELINES,
    aggregate,
    plot_sweep,
    run_jobs,
    sweep_jobs,
    table2_jobs,
    table3_jobs,
)
from airan_twin.scenario import load_scenario


def test_job_lists_cover_what_the_tables_need(tmp_path):
    t3 = table3_jobs([1, 2], 10.0, "heuristic", None, "w.pt")
    assert {j.method for j in t3} == {*BASELINES, "haf", "haf-critic-only"}
    assert len(t3) == 2 * (len(BASELINES) + 2)
    assert {j.method for j in table3_jobs([1], 10.0, "heuristic", None, oracle=True)} >= {"oracle"}
    assert {"caora", "lyapunov", "lyapunov-paper", "game-theory-paper"} <= set(BASELINES)
    assert all(j.rho == 0.9 for j in t3)
    haf_kw = next(j.method_kwargs for j in t3 if j.method == "haf")
    assert haf_kw == {"agent": "heuristic", "critic": "w.pt"}
    t2 = table2_jobs(
        [1],
        10.0,
        ["heuristic", "ollama:qwen3:32b@http://h:1"],
        None,
        tmp_path,
        examples=("none", "prioritised"),
        asynchronous=True,
        oracle=True,
    )
    assert {j.label or j.method for j in t2} == {
        "haf [heuristic]",
        "haf-nocritic [heuristic]",
        "haf [ollama:qwen3:32b ex=none]",
        "haf-nocritic [ollama:qwen3:32b ex=none]",
        "haf [ollama:qwen3:32b ex=prioritised]",
        "haf-nocritic [ollama:qwen3:32b ex=prioritised]",
        "haf-critic-only",
        "oracle",
    }
    logged = [j.method_kwargs.get("log") for j in t2 if "ollama" in j.label]
    assert all(p and p.startswith(str(tmp_path)) for p in logged) and len(set(logged)) == 4
    # The heuristic is the deterministic baseline: never asynchronous, no examples.
    heur = next(j.method_kwargs for j in t2 if j.label == "haf [heuristic]")
    assert heur["asynchronous"] is False and heur["examples"] == "none"
    llm = next(j.method_kwargs for j in t2 if j.label == "haf [ollama:qwen3:32b ex=none]")
    assert llm["asynchronous"] is True
    sw = sweep_jobs([1], 10.0, [0.5, 1.0], "heuristic", methods=("haf-static", "haf"))
    assert [(j.method, j.rho) for j in sw] == [
        ("haf-static", 0.5),
        ("haf", 0.5),
        ("haf-static", 1.0),
        ("haf", 1.0),
    ]


def test_run_aggregate_and_plot(tmp_path):
    sc = load_scenario()
    jobs = sweep_jobs([1, 2], 6.0, [0.5, 0.9], "heuristic", methods=("haf-static",))
    results = run_jobs(sc, jobs, workers=1)
    rows = aggregate(results)
    assert len(rows) == 2 and all(r.seeds == [1, 2] for r in rows)
    for r in rows:
        vals = [x.fulfilment["overall"] for x in r.runs]
        assert r.fulfilment["overall"] == pytest.approx(sum(vals) / 2)
    png = tmp_path / "sweep.png"
    plot_sweep(rows, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_critic_train_rejects_a_bad_dataset(tmp_path):
    bad = tmp_path / "d.npz"
    bad.write_text("not a dataset")
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "from haf.cli import main; main()",
            "critic",
            "train",
            "--data",
            str(bad),
            "--out",
            str(tmp_path / "w.pt"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "not a critic dataset" in r.stderr
    assert "Traceback" not in r.stderr


def test_table3_runs_on_any_scenario_and_names_it(tmp_path, capsys):
    """Experiments take --scenario and --trace; the paper's rows are shown only on the paper
    testbed."""
    import yaml

    from tests.cli_helpers import run_haf
    from tests.twin_helpers import two_llm_scenario

    sc = two_llm_scenario().model_dump(mode="json")
    sc["name"] = "two-llm-test"
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(sc))
    args = ["experiment", "table3", "--scenario", str(path), "--seeds", "1", "--horizon", "6"]
    code, out, _ = run_haf([*args, "--workers", "1", "--out", str(tmp_path / "out")], capsys)
    assert code == 0
    assert "two-llm-test" in out and "lyapunov-paper" in out
    assert "paper" not in out.replace("lyapunov-paper", "").replace("game-theory-paper", "")
