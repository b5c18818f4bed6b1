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


@pytest.mark.parametrize("cmd", [[], ["demo"], ["alloc-demo"]])
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
