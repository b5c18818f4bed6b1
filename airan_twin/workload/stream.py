"""The request stream of one run: AI requests (trace or synthetic) plus RAN-only background.

* Load (spec §5): ``ρ = Λ_AI · w̄^g / G^AI_eff`` with ``G^AI_eff = Σ_n G_n − (Λ_RAN + Λ_AI) · w̄_DU``
  (the cluster GPU left after the RAN functions' mean GPU demand; every request crosses a DU).
  With ``Λ_RAN = r · Λ_AI`` this solves to ``Λ_AI = ρ Σ G / (w̄^g + ρ (1 + r) w̄_DU)``
  (:func:`ai_arrival_rate`). ``--rho`` therefore scales AI and RAN-only rates together.
* AI requests come from a trace (time-scaled so its mean rate is ``Λ_AI``, looped if the run is
  longer than the scaled segment) or from the synthetic conv-like generator. Each is mapped to
  large-AI with probability ``large_share`` (a seeded coin), else small-AI; it arrives at a
  uniformly drawn cell, and its uplink crosses that cell's DU and CU-UP like an eMBB transfer.
* RAN-only requests: Poisson at ``Λ_RAN`` split evenly over cells; URLLC with probability
  ``urllc_share`` (deadline 1 ms) else eMBB (4 ms). DU GPU and CU-UP CPU work are exponential.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from airan_twin.entities import Req, ReqClass, ReqSpec
from airan_twin.scenario import Scenario
from airan_twin.workload import conv_stats
from airan_twin.workload.synthetic import synthetic_trace
from airan_twin.workload.trace import Trace, TraceError

GFLOP = 1e9
KIB = 1024.0


def large_ai_work(sc: Scenario, ctx: np.ndarray, gen: np.ndarray) -> np.ndarray:
    """GPU work of a large-AI request (FLOP): prefill + decode in prefill-FLOP equivalents."""
    a = sc.ai
    return (ctx * a.large_gflop_per_prompt_token + gen * a.large_gflop_per_output_token) * GFLOP


def small_ai_work(sc: Scenario, ctx: np.ndarray, gen: np.ndarray) -> np.ndarray:
    return (ctx + gen) * sc.ai.small_gflop_per_token * GFLOP


def mean_ai_work(sc: Scenario, ctx_mean: float, gen_mean: float) -> float:
    """``w̄^g``: mean GPU work per AI request under the large/small mapping (FLOP)."""
    c, g = np.array([ctx_mean]), np.array([gen_mean])
    p = sc.ai.large_share
    return float(p * large_ai_work(sc, c, g)[0] + (1 - p) * small_ai_work(sc, c, g)[0])


def ai_arrival_rate(sc: Scenario, rho: float, w_ai: float) -> float:
    """``Λ_AI`` (req/s) that puts the cluster at load ``ρ`` (module docstring)."""
    if rho <= 0:
        raise ValueError(f"rho must be > 0, got {rho}")
    total_gpu = sum(n.gpu_capacity for n in sc.nodes)
    r = sc.ran.ran_per_ai_request
    return rho * total_gpu / (w_ai + rho * (1 + r) * sc.ran.du_gflop_mean * GFLOP)


def load_of(sc: Scenario, lam_ai: float, w_ai: float) -> float:
    """Inverse of :func:`ai_arrival_rate`: the ``ρ`` of a given AI rate (spec §5)."""
    total_gpu = sum(n.gpu_capacity for n in sc.nodes)
    ran_gpu = (1 + sc.ran.ran_per_ai_request) * lam_ai * sc.ran.du_gflop_mean * GFLOP
    return lam_ai * w_ai / (total_gpu - ran_gpu)


@dataclass(frozen=True)
class Workload:
    """Requests in arrival order: :class:`ReqSpec` (made into a ``Req`` on arrival, so forks
    need not copy the future) or ready-made ``Req`` objects (hand-made test workloads)."""

    requests: list[ReqSpec] | list[Req]
    rate_ai: float
    rate_ran: float
    mean_ai_work: float
    source: str


def _time_scaled(
    trace: Trace, rate: float, horizon: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if len(trace) < 2 or trace.span_s <= 0:
        raise TraceError(f"{trace.source}: a trace needs at least two requests over a time span")
    factor = rate / trace.mean_rate  # > 1 compresses time
    span = trace.span_s / factor
    reps = int(np.ceil(horizon / span)) + 1
    t = np.concatenate([trace.arrival_s / factor + k * span for k in range(reps)])
    ctx = np.tile(trace.context_tokens, reps)
    gen = np.tile(trace.generated_tokens, reps)
    keep = t < horizon
    return t[keep], ctx[keep], gen[keep]


def build_workload(
    sc: Scenario, rho: float, horizon: float, seed: int, trace: Trace | None = None
) -> Workload:
    """All requests of one run, sorted by arrival, with ids in that order."""
    if horizon <= 0:
        raise ValueError(f"horizon must be > 0, got {horizon}")
    rng = np.random.default_rng([seed, 0xA1])
    if trace is not None:
        w_ai = mean_ai_work(
            sc, float(trace.context_tokens.mean()), float(trace.generated_tokens.mean())
        )
    else:
        w_ai = mean_ai_work(sc, conv_stats.CONTEXT_TOKENS_MEAN, conv_stats.GENERATED_TOKENS_MEAN)
    lam_ai = ai_arrival_rate(sc, rho, w_ai)
    lam_ran = sc.ran.ran_per_ai_request * lam_ai
    if trace is not None:
        t_ai, ctx, gen = _time_scaled(trace, lam_ai, horizon)
        source = trace.source
    else:
        syn = synthetic_trace(horizon, lam_ai, seed)
        t_ai, ctx, gen = syn.arrival_s, syn.context_tokens, syn.generated_tokens
        source = syn.source
    cells = np.asarray(sc.cells)
    a, r = sc.ai, sc.ran
    du_mean, cu_mean = r.du_gflop_mean * GFLOP, r.cu_core_us_mean * 1e-6

    n_ai = len(t_ai)
    large = rng.random(n_ai) < a.large_share
    ai_cell = rng.choice(cells, n_ai)
    ai_du = rng.exponential(du_mean, n_ai)
    ai_cu = rng.exponential(cu_mean, n_ai)
    work = np.where(large, large_ai_work(sc, ctx, gen), small_ai_work(sc, ctx, gen))
    kv = np.where(large, a.large_kv_kib_per_token, a.small_kv_kib_per_token) * KIB * (ctx + gen)
    d_large = np.minimum(
        a.large_deadline_base_s + gen * a.large_deadline_per_output_token_ms * 1e-3,
        a.large_deadline_max_s,
    )
    d_small = rng.uniform(a.small_deadline_min_s, a.small_deadline_max_s, n_ai)
    deadline = np.where(large, d_large, d_small)

    n_ran = rng.poisson(lam_ran * horizon)
    t_ran = np.sort(rng.uniform(0.0, horizon, n_ran))
    ran_cell = rng.choice(cells, n_ran)
    urllc = rng.random(n_ran) < r.urllc_share
    ran_dl = np.where(urllc, r.urllc_deadline_ms, r.embb_deadline_ms) * 1e-3
    ran_du = rng.exponential(du_mean, n_ran)
    ran_cu = rng.exponential(cu_mean, n_ran)

    # Merge by arrival time (stable: AI before RAN at equal times), then number in that order.
    times = np.concatenate([t_ai, t_ran])
    order = np.argsort(times, kind="stable")
    reqs: list[ReqSpec] = []
    for k in order.tolist():
        if k < n_ai:
            cls = ReqClass.LARGE_AI if large[k] else ReqClass.SMALL_AI
            t = float(t_ai[k])
            reqs.append(
                ReqSpec(
                    cls,
                    int(ai_cell[k]),
                    t,
                    t + float(deadline[k]),
                    float(ai_du[k]),
                    float(ai_cu[k]),
                    float(work[k]),
                    float(kv[k]),
                )
            )
        else:
            j = k - n_ai
            cls = ReqClass.URLLC if urllc[j] else ReqClass.EMBB
            t = float(t_ran[j])
            reqs.append(
                ReqSpec(
                    cls,
                    int(ran_cell[j]),
                    t,
                    t + float(ran_dl[j]),
                    float(ran_du[j]),
                    float(ran_cu[j]),
                )
            )
    return Workload(reqs, lam_ai, lam_ran, w_ai, source)
