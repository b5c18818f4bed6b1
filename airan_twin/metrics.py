"""Run metrics: one store that the CLI tables, the JSON output and the experiments all read.

Fulfilment counts requests by class over everything that arrived in ``[0, horizon)``; every
such request ends exactly once (the twin drains), as fulfilled or missed. Latency percentiles
are over completed requests (a missed request leaves at its deadline, see docs/twin.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from airan_twin.entities import Req, ReqClass

GROUPS: dict[str, tuple[ReqClass, ...]] = {
    "overall": tuple(ReqClass),
    "ran_only": (ReqClass.URLLC, ReqClass.EMBB),
    "ai": (ReqClass.LARGE_AI, ReqClass.SMALL_AI),
    "large_ai": (ReqClass.LARGE_AI,),
    "small_ai": (ReqClass.SMALL_AI,),
}
CLASS_NAMES = {
    ReqClass.URLLC: "urllc",
    ReqClass.EMBB: "embb",
    ReqClass.LARGE_AI: "large_ai",
    ReqClass.SMALL_AI: "small_ai",
}


@dataclass
class Counters:
    """What the engine counts while it runs."""

    events: int = 0
    migrations: int = 0
    large_migrations: int = 0
    ran_infeasible_events: int = 0
    lost_ran_deadlines: int = 0
    kv_waits: int = 0
    reconfigurations: int = 0  # variant changes (issue 16)
    admissions: int = 0  # instances added while running (issue 16)
    solves: int = 0  # GPU or CPU sub-problems of (16) solved (docs/twin.md, re-solves)
    decisions: list[dict] = field(default_factory=list)


@dataclass
class RunResult:
    method: str
    seed: int
    rho: float
    horizon_s: float
    workload: str
    requests: int
    fulfilment: dict[str, float]  # percent per group
    counts: dict[str, int]
    migrations: dict[str, int]
    latency_ms: dict[str, dict[str, float]]
    ran_infeasible_events: int
    events: int
    wall_s: float
    epochs: list[dict]
    decisions: list[dict]
    agent: dict = field(default_factory=dict)  # HAF: agent calls, fallbacks, critic vetoes
    # Issue 16: mean quality score of the fulfilled requests per AI class (1.0: every one
    # served by the reference variant), variant changes and admitted instances.
    services: dict = field(default_factory=dict)

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=1))


def live_fulfilment(outcomes: list[list[int]]) -> dict[str, float]:
    """Fulfilment so far per group from the twin's ``outcomes[class] = [fulfilled, missed]``
    (requests that have ended; NaN for a group with none yet)."""
    out = {}
    for group, classes in GROUPS.items():
        ok = sum(outcomes[c][0] for c in classes)
        n = ok + sum(outcomes[c][1] for c in classes)
        out[group] = 100.0 * ok / n if n else float("nan")
    return out


def _pct(x: np.ndarray, q: float) -> float:
    return float(np.percentile(x, q)) * 1e3 if len(x) else float("nan")


def summarize(
    method: str,
    seed: int,
    rho: float,
    horizon: float,
    epoch_s: float,
    workload: str,
    requests: Iterable[Req],
    counters: Counters,
    wall_s: float,
    agent: dict | None = None,
) -> RunResult:
    reqs = [r for r in requests if r.arrival < horizon]
    undone = [r.rid for r in reqs if r.state != Req.DONE]
    if undone:
        raise RuntimeError(f"{len(undone)} requests never ended (first ids {undone[:5]})")
    cls = np.fromiter((int(r.cls) for r in reqs), dtype=np.int8, count=len(reqs))
    ok = np.fromiter((r.fulfilled for r in reqs), dtype=bool, count=len(reqs))
    lat = np.fromiter((r.end - r.arrival for r in reqs), dtype=float, count=len(reqs))
    arr = np.fromiter((r.arrival for r in reqs), dtype=float, count=len(reqs))
    fulfilment, counts = {}, {}
    for g, members in GROUPS.items():
        m = np.isin(cls, [int(c) for c in members])
        counts[g] = int(m.sum())
        fulfilment[g] = 100.0 * float(ok[m].mean()) if m.any() else float("nan")
    latency = {}
    for c, name in CLASS_NAMES.items():
        done = lat[(cls == int(c)) & ok]
        latency[name] = {"p50": _pct(done, 50), "p95": _pct(done, 95), "p99": _pct(done, 99)}
    n_ep = int(np.ceil(horizon / epoch_s))
    ep = np.minimum((arr // epoch_s).astype(int), n_ep - 1)
    qual = np.fromiter((r.quality for r in reqs), dtype=float, count=len(reqs))
    services: dict = {
        "quality": {
            g: (float(qual[ok & (cls == int(c))].mean()) if (ok & (cls == int(c))).any() else None)
            for g, c in (("large_ai", ReqClass.LARGE_AI), ("small_ai", ReqClass.SMALL_AI))
        },
        "reconfigurations": counters.reconfigurations,
        "admissions": counters.admissions,
    }
    epochs = []
    for k in range(n_ep):
        row: dict = {"epoch": k, "t": k * epoch_s}
        for g in ("large_ai", "small_ai", "ran_only"):
            m = (ep == k) & np.isin(cls, [int(c) for c in GROUPS[g]])
            row[g] = 100.0 * float(ok[m].mean()) if m.any() else None
            row[f"n_{g}"] = int(m.sum())
        epochs.append(row)
    return RunResult(
        method=method,
        seed=seed,
        rho=rho,
        horizon_s=horizon,
        workload=workload,
        requests=len(reqs),
        fulfilment=fulfilment,
        counts=counts,
        migrations={"large": counters.large_migrations, "total": counters.migrations},
        latency_ms=latency,
        ran_infeasible_events=counters.ran_infeasible_events,
        events=counters.events,
        wall_s=wall_s,
        epochs=epochs,
        decisions=counters.decisions,
        agent=agent or {},
        services=services,
    )
