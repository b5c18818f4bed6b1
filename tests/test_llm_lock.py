"""The machine-wide LLM lock: calls from different processes never overlap."""

from __future__ import annotations

import itertools
import multiprocessing as mp
import time

from rapp_placement.llm_lock import machine_llm_lock


def _hold(path: str, out, hold_s: float) -> None:
    with machine_llm_lock(path):
        start = time.monotonic()
        time.sleep(hold_s)
        out.put((start, time.monotonic()))


def test_calls_in_different_processes_queue_instead_of_overlapping(tmp_path):
    path = str(tmp_path / "llm.lock")
    q = mp.get_context("fork").Queue()
    procs = [mp.get_context("fork").Process(target=_hold, args=(path, q, 0.3)) for _ in range(3)]
    for p in procs:
        p.start()
    spans = sorted(q.get(timeout=30) for _ in procs)
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end  # each holder starts after the previous one released


def test_the_lock_reports_its_wait_and_is_released_after_the_call(tmp_path):
    path = tmp_path / "llm.lock"
    with machine_llm_lock(path) as waited:
        assert 0.0 <= waited < 1.0
    with machine_llm_lock(path) as waited:  # released: the next call does not wait
        assert waited < 1.0
