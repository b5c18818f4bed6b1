"""The `haf` entry point: help, tables, and exit 2 without a traceback on bad input."""

from __future__ import annotations

import subprocess
import sys

import pytest

HAF = [sys.executable, "-c", "from haf.cli import main; main()"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HAF, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "160", "PATH": "/usr/bin:/bin"},
    )


@pytest.mark.parametrize(
    "cmd",
    [
        [],
        ["demo"],
        ["alloc-demo"],
        ["up"],
        ["xapp"],
        ["rapp"],
        ["e2node"],
        ["a1"],
        ["a1", "put"],
        ["caora"],
        ["caora", "train"],
        ["caora", "evaluate"],
    ],
)
def test_help(cmd):
    r = run(*cmd, "--help")
    assert r.returncode == 0
    assert "Usage" in r.stdout


def test_alloc_demo_prints_every_node_and_is_seeded():
    a = run("alloc-demo", "--seed", "4")
    b = run("alloc-demo", "--seed", "4")
    c = run("alloc-demo", "--seed", "5")
    assert a.returncode == 0, a.stderr
    for node in ("gpu-heavy-1", "balanced-2", "cpu-heavy-2"):
        assert node in a.stdout
    assert a.stdout.count("large-ai-") == 2
    assert a.stdout == b.stdout
    assert a.stdout != c.stdout


def test_bad_scenario_exits_2_without_traceback(tmp_path):
    bad = tmp_path / "s.yaml"
    bad.write_text("name: x\nhop_delay_us: -5\n")
    r = run("alloc-demo", "--scenario", str(bad))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "s.yaml" in r.stderr


def test_missing_scenario_exits_2():
    r = run("alloc-demo", "--scenario", "/does/not/exist.yaml")
    assert r.returncode == 2
    assert "cannot read scenario" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("cmd", [["sim"], ["calibrate"]])
def test_more_help(cmd):
    r = run(*cmd, "--help")
    assert r.returncode == 0 and "--seed" in r.stdout


def test_sim_prints_the_paper_layout_and_writes_json(tmp_path):
    r = run(
        "sim", "--method", "round-robin", "--horizon", "6", "--seed", "2", "--out", str(tmp_path)
    )
    assert r.returncode == 0, r.stderr
    assert "round-robin" in r.stdout and "paper" in r.stdout and "RAN-only" in r.stdout
    files = list(tmp_path.glob("sim-round-robin-rho0.9-seed2.json"))
    assert len(files) == 1
    data = __import__("json").loads(files[0].read_text())
    assert data["method"] == "round-robin" and data["counts"]["overall"] == data["requests"]
    assert set(data["fulfilment"]) == {"overall", "ran_only", "ai", "large_ai", "small_ai"}


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("TIMESTAMP,ContextTokens\n2023-11-16 18:15:46.68,1\n", "t.csv:1: missing column"),
        (
            "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,-4,3\n",
            "t.csv:2: ContextTokens",
        ),
        (
            "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,4,3\n"
            "2023-11-16 18:15:40.00,4,3\n",
            "t.csv:3: TIMESTAMP: goes backwards",
        ),
    ],
)
def test_sim_bad_trace_exits_2_naming_file_line_field(tmp_path, content, fragment):
    p = tmp_path / "t.csv"
    p.write_text(content)
    r = run("sim", "--trace", str(p), "--horizon", "2")
    assert r.returncode == 2
    assert fragment in r.stderr
    assert "Traceback" not in r.stderr


def test_sim_unknown_node_in_placement_and_unknown_method(tmp_path):
    from airan_twin.scenario import DEFAULT_SCENARIO

    bad = tmp_path / "s.yaml"
    bad.write_text(DEFAULT_SCENARIO.read_text().replace("node: balanced-1}", "node: nowhere}", 1))
    r = run("sim", "--scenario", str(bad), "--horizon", "2")
    assert r.returncode == 2 and "s.yaml:" in r.stderr and "unknown node 'nowhere'" in r.stderr
    r = run("sim", "--method", "magic", "--horizon", "2")
    assert r.returncode == 2 and "unknown method 'magic'" in r.stderr
    assert "Traceback" not in r.stderr


def test_demo_runs_every_method_beside_the_paper(tmp_path):
    r = run("demo", "--horizon", "6", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    for m in ("haf-static", "round-robin", "lyapunov", "game-theory", "caora", "haf"):
        assert f"│ {m} " in r.stdout, m
        assert (tmp_path / f"demo-{m}-rho0.9-seed1.json").exists()
    assert r.stdout.count("paper") >= 6
