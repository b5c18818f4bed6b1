"""The paper's experiments on the twin: Table III, Table II (critic ablation), the load sweep.

Each experiment is a list of independent runs (method, ρ, seed, method options), executed in
worker processes, returned as :class:`~airan_twin.metrics.RunResult` and aggregated over seeds.
Reported numbers always come from these functions (docs/results.md names the commands).
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from airan_twin.methods import BASELINES
from airan_twin.metrics import RunResult
from airan_twin.run import DEFAULT_HORIZON_S, simulate
from airan_twin.scenario import Scenario

SWEEP_LOADS = (0.3, 0.5, 0.7, 0.9, 1.1, 1.3, 1.5)


@dataclass(frozen=True)
class Job:
    method: str
    rho: float
    seed: int
    horizon: float = DEFAULT_HORIZON_S
    trace: str | None = None
    split: str = "test"
    method_kwargs: dict = field(default_factory=dict)
    label: str = ""  # how the row is named in tables (defaults to the method)


def _run(args: tuple[Scenario, Job]) -> tuple[Job, RunResult]:
    sc, job = args
    kw = {k: (str(v) if isinstance(v, Path) else v) for k, v in job.method_kwargs.items()}
    res = simulate(
        sc, job.method, job.rho, job.seed, job.horizon, job.trace, job.split, method_kwargs=kw
    )
    if job.label:
        res.method = job.label
    return job, res


def run_jobs(
    sc: Scenario,
    jobs: Sequence[Job],
    workers: int = 2,
    on_done: Callable[[int, Job, RunResult], None] | None = None,
    ray: str | None = None,
) -> list[tuple[Job, RunResult]]:
    """Run ``jobs`` (in order of completion when parallel); results keep their job.

    ``ray``: run each job as a Ray task — ``"local"`` starts a Ray runtime on this machine
    with ``workers`` CPUs, anything else is the address of an existing cluster
    (``HOST:6379`` or ``ray://HOST:10001``). Every job carries its seed, so the results are
    those of the serial run."""
    out: list[tuple[Job, RunResult]] = []
    args = [(sc, j) for j in jobs]
    if ray is not None:
        return _run_on_ray(args, workers, on_done, ray)
    if workers > 1 and len(jobs) > 1:
        with mp.get_context("fork").Pool(workers) as pool:
            for job, res in pool.imap_unordered(_run, args):
                out.append((job, res))
                if on_done:
                    on_done(len(out), job, res)
    else:
        for a in args:
            job, res = _run(a)
            out.append((job, res))
            if on_done:
                on_done(len(out), job, res)
    return out


def _run_on_ray(args, workers: int, on_done, address: str) -> list[tuple[Job, RunResult]]:
    from airan_twin.scale_out import ray_map

    def done(n: int, res: tuple[Job, RunResult]) -> None:
        if on_done:
            on_done(n, *res)

    return ray_map(_run, args, address, workers, done)


@dataclass
class Row:
    """One method (or label) at one load, aggregated over seeds."""

    label: str
    rho: float
    seeds: list[int]
    fulfilment: dict[str, float]  # mean over seeds
    fulfilment_sd: dict[str, float]
    migrations: dict[str, float]  # mean over seeds
    runs: list[RunResult]


def aggregate(results: Sequence[tuple[Job, RunResult]]) -> list[Row]:
    groups: dict[tuple[str, float], list[tuple[Job, RunResult]]] = {}
    for job, res in results:
        groups.setdefault((res.method, job.rho), []).append((job, res))
    rows = []
    for (label, rho), items in groups.items():
        items.sort(key=lambda jr: jr[0].seed)
        runs = [r for _, r in items]
        keys = runs[0].fulfilment
        rows.append(
            Row(
                label,
                rho,
                [j.seed for j, _ in items],
                {k: float(np.mean([r.fulfilment[k] for r in runs])) for k in keys},
                {k: float(np.std([r.fulfilment[k] for r in runs])) for k in keys},
                {k: float(np.mean([r.migrations[k] for r in runs])) for k in ("large", "total")},
                runs,
            )
        )
    return rows


def _haf_kw(agent: str, critic: str | None, **extra) -> dict:
    return {"agent": agent, **({"critic": critic} if critic else {}), **extra}


def table3_jobs(
    seeds: Sequence[int],
    horizon: float,
    agent: str,
    trace: str | None,
    critic: str | None = None,
    oracle: bool = False,
) -> list[Job]:
    """Every baseline, HAF, the critic-only ablation (the agent's contribution) and, with
    ``oracle``, the rollout oracle (the bound; expensive)."""
    jobs = [Job(m, 0.9, s, horizon, trace) for m in BASELINES for s in seeds]
    jobs += [
        Job("haf", 0.9, s, horizon, trace, method_kwargs=_haf_kw(agent, critic)) for s in seeds
    ]
    only_kw = {"critic": critic} if critic else {}
    jobs += [Job("haf-critic-only", 0.9, s, horizon, trace, method_kwargs=only_kw) for s in seeds]
    if oracle:
        jobs += [Job("oracle", 0.9, s, horizon, trace) for s in seeds]
    return jobs


def table2_jobs(
    seeds: Sequence[int],
    horizon: float,
    agents: Sequence[str],
    trace: str | None,
    log_dir: Path | None = None,
    critic: str | None = None,
    examples: Sequence[str] = ("prioritised",),
    asynchronous: bool = False,
    oracle: bool = False,
) -> list[Job]:
    """Each agent (an LLM once per ``examples`` mode) with and without the critic; the
    critic alone and, with ``oracle``, the rollout oracle's choice as the bound."""
    jobs = []
    for agent in agents:
        short = agent.split("@")[0]
        llm = not agent.startswith("heuristic")
        for mode in examples if llm else ("none",):
            tag = f"{short} ex={mode}" if llm and not agent.startswith("replay") else short
            for method in ("haf", "haf-nocritic"):
                for s in seeds:
                    kw: dict = _haf_kw(agent, critic, examples=mode, agent_seed=s)
                    kw["asynchronous"] = asynchronous and llm
                    if log_dir is not None and llm and not agent.startswith("replay"):
                        safe = tag.replace(":", "_").replace("/", "_").replace(" ", "_")
                        kw["log"] = str(log_dir / f"calls-{safe}-{method}-seed{s}.jsonl")
                    jobs.append(
                        Job(
                            method,
                            0.9,
                            s,
                            horizon,
                            trace,
                            method_kwargs=kw,
                            label=f"{method} [{tag}]",
                        )
                    )
    only_kw = {"critic": critic} if critic else {}
    jobs += [Job("haf-critic-only", 0.9, s, horizon, trace, method_kwargs=only_kw) for s in seeds]
    if oracle:
        jobs += [Job("oracle", 0.9, s, horizon, trace) for s in seeds]
    return jobs


def agent_quality(runs: Sequence[RunResult]) -> dict[str, float]:
    """Over every epoch of HAF runs: valid LLM answers, no-op-only shortlists, and how often
    the critic's best migration over *all* candidates was on the shortlist (the closed-loop
    stand-in for the oracle's best, which would need a rollout per candidate)."""
    eps = [e for r in runs for e in (r.agent or {}).get("epochs", [])]
    if not eps:
        return {}
    n = len(eps)
    moves = [e for e in eps if e.get("critic_best", "noop") != "noop"]
    return {
        "valid %": 100 * sum(e["source"] in ("llm", "heuristic") for e in eps) / n,
        "no-op only %": 100 * sum(all(c == "noop" for c in e["shortlist"]) for e in eps) / n,
        "critic-best in list %": 100
        * sum(e["critic_best"] in e["shortlist"] for e in moves)
        / max(len(moves), 1),
    }


def sweep_jobs(
    seeds: Sequence[int],
    horizon: float,
    loads: Sequence[float],
    agent: str,
    methods: Sequence[str] = (*BASELINES, "haf"),
    critic: str | None = None,
    trace: str | None = None,
) -> list[Job]:
    jobs = []
    for rho in loads:
        for m in methods:
            for s in seeds:
                kw = _haf_kw(agent, critic) if m in ("haf", "haf-nocritic") else {}
                jobs.append(Job(m, rho, s, horizon, trace, method_kwargs=kw))
    return jobs


def plot_sweep(rows: Sequence[Row], path: Path) -> None:
    """Overall fulfilment versus ρ, one line per method (mean over seeds, ±1 sd band)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for label in sorted({r.label for r in rows}):
        pts = sorted(
            (r.rho, r.fulfilment["overall"], r.fulfilment_sd["overall"])
            for r in rows
            if r.label == label
        )
        x, y, sd = (np.asarray(v) for v in zip(*pts, strict=True))
        ax.plot(
            x,
            y,
            marker="o",
            label=label,
            lw=2 if label.startswith("haf ") or label == "haf" else 1.2,
        )
        ax.fill_between(x, y - sd, y + sd, alpha=0.15)
    ax.axvline(0.9, color="grey", ls=":", lw=1)
    ax.set_xlabel("load ρ (AI demand / GPU left after RAN floors)")
    ax.set_ylabel("overall deadline fulfilment (%)")
    ax.set_title("Load sweep on the twin")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
