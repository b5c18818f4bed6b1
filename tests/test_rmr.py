"""The RMR adapter on ricxappframe 3.2.2, RMR C library stubbed (see rmr_adapter_check.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ricxappframe")  # installed by `make` with --no-deps (README)

ROOT = Path(__file__).resolve().parents[1]


def test_rmr_adapter_with_rmr_mocks():
    env = dict(os.environ, PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION="python", PYTHONPATH=str(ROOT))
    r = subprocess.run(
        [sys.executable, "-m", "tests.rmr_adapter_check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    assert "routing ok" in r.stdout and "send failures ok" in r.stdout
