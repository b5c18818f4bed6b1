"""Fixtures shared by several test modules."""

from __future__ import annotations

import pytest

from airan_twin.run import make_twin
from airan_twin.scenario import load_scenario


@pytest.fixture(scope="module")
def state():
    """The paper testbed at t = 10 s (ρ 0.9, seed 1): a snapshot and its feasible candidates."""
    twin = make_twin(load_scenario(), "haf-static", 0.9, 1, 30.0)
    twin.run(until=10.0)
    snap = twin.snapshot()
    return snap, twin.candidates(snap)
