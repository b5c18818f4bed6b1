"""Synthetic AI request stream reproducing the statistics of the Azure conv trace.

Arrivals are a non-homogeneous Poisson process whose rate follows the trace's per-minute
profile (its drift from 190 to 507 req/min and back), stretched over the requested span; token
counts are drawn independently (the trace's log-token correlation is 0.09) by inverse CDF
from the trace's percentile tables. The default workload when no trace file is given.
"""

from __future__ import annotations

import numpy as np

from airan_twin.workload import conv_stats
from airan_twin.workload.trace import Trace

_PCT = np.linspace(0.0, 1.0, 101)


def _inverse_cdf(rng: np.random.Generator, table: tuple[int, ...], n: int) -> np.ndarray:
    return np.rint(np.interp(rng.random(n), _PCT, np.asarray(table, dtype=float))).astype(np.int64)


def synthetic_trace(span_s: float, mean_rate: float, seed: int) -> Trace:
    """A conv-like stream of ``span_s`` seconds at ``mean_rate`` requests/s on average."""
    if span_s <= 0 or mean_rate <= 0:
        raise ValueError(f"span_s and mean_rate must be > 0, got {span_s}, {mean_rate}")
    rng = np.random.default_rng(seed)
    profile = np.asarray(conv_stats.ARRIVALS_PER_MINUTE, dtype=float)
    profile = profile / profile.mean()  # relative rate per bin, mean 1
    bins = len(profile)
    width = span_s / bins
    counts = rng.poisson(profile * mean_rate * width)
    starts = np.repeat(np.arange(bins) * width, counts)
    times = np.sort(starts + rng.random(counts.sum()) * width)
    n = len(times)
    return Trace(
        f"synthetic(conv, seed={seed})",
        times,
        _inverse_cdf(rng, conv_stats.CONTEXT_TOKENS_PERCENTILES, n),
        _inverse_cdf(rng, conv_stats.GENERATED_TOKENS_PERCENTILES, n),
    )
