"""Regenerate the committed E2/A1 recordings with the project's own recorder.

    .venv/bin/python tests/data/make_recordings.py

``e2-a1-1s.haftrace``: 1 s of HAF-Static at rho = 0.9 (seed 4), 10 ms E2 reports from the six
nodes, and three A1 policies: a valid migration at 0.2 s, one naming an unknown node at 0.4 s,
one moving the instance still migrating at 0.6 s. ``e2-static-0.3s.haftrace``: 0.3 s, no A1.
"""

from __future__ import annotations

from pathlib import Path

from airan_twin.e2node import E2Loop
from airan_twin.run import make_twin
from airan_twin.scenario import load_scenario
from xapp_alloc.tracefile import write_trace

HERE = Path(__file__).parent


def record_a1(path: Path) -> None:
    twin = make_twin(load_scenario(), "haf-static", 0.9, 4, 1.0, external_allocation=True)
    loop = E2Loop.build(twin, 0.01)
    for t, epoch, moves in (
        (0.2, 1, [("large-ai-1", "gpu-heavy-1")]),
        (0.4, 2, [("large-ai-2", "nowhere-7")]),
        (0.6, 3, [("large-ai-1", "gpu-heavy-2")]),
    ):
        twin.run(until=t)
        loop.push_policy(epoch, moves)
    twin.run()
    write_trace(path, loop.record or [])


def record_plain(path: Path) -> None:
    twin = make_twin(load_scenario(), "haf-static", 0.9, 5, 0.3, external_allocation=True)
    loop = E2Loop.build(twin, 0.01)
    twin.run()
    write_trace(path, loop.record or [])


if __name__ == "__main__":
    record_a1(HERE / "e2-a1-1s.haftrace")
    record_plain(HERE / "e2-static-0.3s.haftrace")
