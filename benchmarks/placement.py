"""Placement-layer speed: one epoch's decision without the LLM, and LLM latency per backend."""

from __future__ import annotations

import statistics
import time

from airan_twin.run import make_twin
from airan_twin.scenario import load_scenario
from rapp_placement.agent import PlacementAgent
from rapp_placement.critic import Critic


def _state():
    twin = make_twin(load_scenario(), "haf-static", 0.9, 1, 60.0)
    twin.run(until=20.0)
    return twin


def decision_latency(repeats: int = 50, n_candidates: int = 100) -> dict:
    """Snapshot + candidates + features + critic scoring of ``n_candidates`` (no LLM)."""
    twin = _state()
    critic = Critic.load()  # the shipped ensemble (5 members)
    times, n = [], 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        snap = twin.snapshot()
        cands = twin.candidates(snap)
        pool = (cands * (n_candidates // len(cands) + 1))[:n_candidates]
        critic.score(snap, pool)
        times.append(time.perf_counter() - t0)
        n = len(cands)
    return {
        "median_ms": statistics.median(times) * 1e3,
        "p95_ms": sorted(times)[int(0.95 * len(times))] * 1e3,
        "feasible_candidates": n,
        "scored": n_candidates,
    }


def llm_latency(backend_name: str, calls: int = 3) -> dict:
    """Median wall time of ``calls`` shortlist calls on the paper-testbed prompt."""
    from rapp_placement.backends import EmbeddedBackend

    twin = _state()
    backend = None if backend_name == "heuristic" else EmbeddedBackend()
    agent = PlacementAgent(backend)
    snap = twin.snapshot()
    cands = twin.candidates(snap)
    times, sources = [], []
    first = None
    for k in range(calls + 1):
        t0 = time.perf_counter()
        res = agent.shortlist(snap, cands, seed=k)  # another seed: another candidate order
        dt = time.perf_counter() - t0
        if k == 0:
            first = dt  # includes loading the model
        else:
            times.append(dt)
        sources.append(res.source)
    return {
        "backend": agent.name,
        "first_s": first,
        "median_s": statistics.median(times),
        "valid": sum(s != "fallback" for s in sources),
        "calls": len(sources),
    }
