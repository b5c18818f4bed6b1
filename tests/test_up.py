"""End to end: `haf up` runs twin, xApp and rApp as processes; `haf a1` drives an A1 endpoint."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from a1_policies.haf_placement import POLICY_TYPE_ID
from tests.test_a1_rest import _serve
from tests.test_cli import run

EXAMPLES = Path(__file__).resolve().parent.parent / "a1_policies" / "examples"


def test_haf_up_closed_loop_across_processes(tmp_path):
    horizon, period_ms = 12, 20
    r = run(
        "up",
        "--horizon",
        str(horizon),
        "--period-ms",
        str(period_ms),
        "--out",
        str(tmp_path),
        "--agent",
        "heuristic",
        "--show-decisions",
    )
    assert r.returncode == 0, r.stderr + r.stdout
    # --show-decisions: the rApp's epochs with their shortlist and committed action.
    assert "rApp decisions per epoch" in r.stdout
    res = json.loads((tmp_path / "closed-loop.json").read_text())
    assert res["method"] == "haf (closed loop)" and res["requests"] > 1000
    assert all(0 <= v <= 100 for v in res["fulfilment"].values())
    # The rApp ran every epoch boundary the twin reached (t = 5, 10), none unanswered.
    epochs = res["agent"]["epochs"]
    assert sum(epochs.values()) == 2 and res["agent"]["unanswered_epochs"] == 0
    # Every migration the rApp issued is an A1 policy the xApp recorded (and persisted).
    state = json.loads((tmp_path / "a1-state.json").read_text())
    assert state["policy_type_id"] == POLICY_TYPE_ID
    assert len(state["instances"]) == epochs.get("migrated", 0) == res["migrations"]["total"]
    assert all(p["enforce_status"] == "ENFORCED" for p in state["instances"].values())
    # The summary comes from the live metrics endpoints: every report reached the xApp.
    out = " ".join(r.stdout.split())
    m = re.search(r"xApp: ([\d,]+) indications", out)
    per_node = round(horizon * 1000 / period_ms)  # the last may fall on the horizon itself
    assert m and 6 * (per_node - 1) <= int(m.group(1).replace(",", "")) <= 6 * per_node
    assert f"rApp: {epochs.get('migrated', 0)} migrations issued" in out
    m = re.search(r"closed loop - in-process: ([+-][\d.]+) points overall \(within", out)
    assert m, out
    # The final table: the closed-loop row and the in-process row of the same seed.
    assert "│ closed loop " in r.stdout and "│ in-process " in r.stdout


@pytest.fixture
def endpoint():
    host, server, url = _serve()
    yield host, url
    server.stop()


def test_a1_cli_put_status_get_delete(endpoint):
    host, url = endpoint
    valid = EXAMPLES / "valid" / "migrate-large-ai.json"
    r = run("a1", "put", "op-1", str(valid), "--url", url)
    assert r.returncode == 0, r.stderr + r.stdout
    assert "PUT op-1: HTTP 201" in r.stdout and "ENFORCED" in r.stdout
    assert host.inner.placement["large-ai-1"] == "gpu-heavy-1"
    r = run("a1", "get", "op-1", "--url", url)
    assert r.returncode == 0 and json.loads(r.stdout) == json.loads(valid.read_text())
    assert run("a1", "get", "--url", url).stdout.split() == ["op-1"]
    assert "enforceStatus" in run("a1", "status", "op-1", "--url", url).stdout
    assert run("a1", "delete", "op-1", "--url", url).returncode == 0
    r = run("a1", "status", "op-1", "--url", url)
    assert r.returncode == 1 and "404" in r.stdout and "Traceback" not in r.stderr
    r = run("a1", "types", "--url", url)
    assert r.returncode == 0 and r.stdout.split() == [str(POLICY_TYPE_ID)]


@pytest.mark.parametrize("name", ["bad-migration.json", "unknown-field.json"])
def test_a1_cli_rejects_an_invalid_file_before_sending(endpoint, name):
    host, url = endpoint
    r = run("a1", "put", "bad", str(EXAMPLES / "invalid" / name), "--url", url)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert name in r.stderr and "policy" in r.stderr
    assert host.store.records == {}  # nothing was sent


def test_a1_cli_points_at_the_json_error(tmp_path, endpoint):
    bad = tmp_path / "p.json"
    bad.write_text('{"epoch": 1,\n "migrations": [}\n')
    r = run("a1", "put", "x", str(bad), "--url", endpoint[1])
    assert r.returncode == 2 and f"{bad}:2:" in r.stderr


def test_a1_cli_unreachable_endpoint_exits_1_with_a_message():
    r = run("a1", "types", "--url", "http://127.0.0.1:9")
    assert r.returncode == 1 and "A1 error" in r.stdout and "Traceback" not in r.stderr


def test_haf_up_ctrl_c_stops_every_process_cleanly(tmp_path):
    import os
    import signal
    import subprocess
    import time

    from tests.test_cli import HAF

    proc = subprocess.Popen(
        [
            *HAF,
            "up",
            "--horizon",
            "300",
            "--out",
            str(tmp_path),
            "--no-compare",
            "--agent",
            "heuristic",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "160"},
    )
    try:
        deadline = time.time() + 90
        log = tmp_path / "e2node.log"
        while time.time() < deadline and not (log.exists() and (tmp_path / "rapp.log").exists()):
            time.sleep(0.5)
        time.sleep(8)  # the twin is running
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "stopped by Ctrl-C" in out and "Traceback" not in err
    assert "haf xApp stopped" in (tmp_path / "xapp.log").read_text() + out
    assert "haf rApp stopped" in (tmp_path / "rapp.log").read_text() + out
    assert not (tmp_path / "closed-loop.json").exists()  # the run did not finish


def test_auto_agent_says_why_it_keeps_the_heuristic(monkeypatch):
    """`haf up --agent auto` without the embedded model installed: the heuristic, and why."""
    from airan_twin.scenario import load_scenario
    from haf.up import choose_agent

    monkeypatch.setenv("HAF_MODEL_DIR", "/nonexistent-haf-models")
    agent, asynchronous, why = choose_agent(load_scenario(), 0.9, 1)
    assert agent == "heuristic" and not asynchronous
    assert "haf agent fetch" in why
