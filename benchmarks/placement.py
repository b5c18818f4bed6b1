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


def llm_latency(backend_name: str, epochs: int = 6) -> dict:
    """Shortlist calls on ``epochs`` successive epochs of one run (paper testbed, rho 1.1), as
    the rApp makes them: the first call loads the model and reads the whole prompt; later
    calls re-use the prompt cache for the unchanged head. ``backend_name``: ``heuristic`` or
    a model of :data:`rapp_placement.models.MODELS`."""
    from rapp_placement.backends import EmbeddedBackend

    twin = make_twin(load_scenario(), "haf-static", 1.1, 1, 60.0)
    backend = None if backend_name == "heuristic" else EmbeddedBackend(backend_name)
    agent = PlacementAgent(backend)
    times, sources, prompt_n, cache_n = [], [], [], []
    first = None
    for k in range(epochs + 1):
        twin.run(until=10.0 + 5.0 * k)
        snap = twin.snapshot()
        cands = twin.candidates(snap)
        t0 = time.perf_counter()
        res = agent.shortlist(snap, cands, seed=k)
        dt = time.perf_counter() - t0
        if k == 0:
            first = dt  # includes loading the model
        else:
            times.append(dt)
            tm = getattr(backend, "last_timings", None) or {}
            prompt_n.append(tm.get("prompt_n", 0) + tm.get("cache_n", 0))
            cache_n.append(tm.get("cache_n", 0))
        sources.append(res.source)
    return {
        "backend": agent.name,
        "first_s": first,
        "median_s": statistics.median(times),
        "prompt_tokens": statistics.median(prompt_n) if prompt_n else 0,
        "cached_tokens": statistics.median(cache_n) if cache_n else 0,
        "valid": sum(s != "fallback" for s in sources),
        "calls": len(sources),
    }
