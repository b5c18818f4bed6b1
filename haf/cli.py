"""The `haf` command line. Every command has --help; bad input exits 2 with one clear line."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from airan_twin.scenario import ScenarioError, load_scenario
from airan_twin.workload.trace import TraceError

app = typer.Typer(
    help="HAF for AI-RAN: deadline-aware allocator (xApp), placement (rApp), digital twin.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
log = logging.getLogger("haf")

ScenarioOpt = Annotated[
    Path | None,
    typer.Option("--scenario", help="Scenario YAML (default: the shipped paper testbed)."),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed; same seed, same numbers.")]


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit code 2."""


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


RhoOpt = Annotated[
    float,
    typer.Option("--rho", help="AI load over the GPU left after RAN floors (spec §5).", min=0.01),
]
HorizonOpt = Annotated[
    float,
    typer.Option("--horizon", help="Seconds of arrivals; the twin then drains.", min=1.0),
]
TraceOpt = Annotated[
    Path | None,
    typer.Option("--trace", help="Azure LLM trace CSV (default: the synthetic conv-like stream)."),
]
SplitOpt = Annotated[
    str, typer.Option("--split", help="Chronological part of the trace: train, test or all.")
]
OutOpt = Annotated[
    Path | None, typer.Option("--out", help="Directory for the JSON results (created).")
]


def _run_with_progress(label: str, jobs: list[tuple[str, dict]]) -> list:
    """Run simulations one after another under one progress bar (simulated seconds)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from airan_twin.run import simulate

    results = []
    total = sum(kw["horizon"] for _, kw in jobs)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[what]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total, what="")
        done = 0.0
        for name, kw in jobs:
            bar.update(task, what=name)
            base = done

            def tick(t: float, base: float = base) -> None:
                bar.update(task, completed=base + t)

            results.append(simulate(method=name, progress=tick, **kw))
            done += kw["horizon"]
            bar.update(task, completed=done)
    return results


def _write_results(out: Path | None, results: list, stem: str) -> None:
    if out is None:
        return
    out.mkdir(parents=True, exist_ok=True)
    for r in results:
        r.to_json(out / f"{stem}-{r.method}-rho{r.rho:g}-seed{r.seed}.json")
    console.print(f"results written to {out}/")


@app.command("sim")
def sim(
    method: Annotated[
        str,
        typer.Option("--method", help="haf-static, round-robin, lyapunov or game-theory."),
    ] = "haf-static",
    rho: RhoOpt = 0.9,
    seed: SeedOpt = 1,
    trace: TraceOpt = None,
    split: SplitOpt = "test",
    horizon: HorizonOpt = 300.0,
    scenario: ScenarioOpt = None,
    out: OutOpt = None,
) -> None:
    """Simulate one method on the digital twin and print fulfilment in the paper's layout.

    The twin runs the scenario (default: the paper testbed) with AI requests from the trace
    (time-scaled to the load rho) or the synthetic stream, plus RAN-only background traffic.
    Every request that arrives before --horizon ends as fulfilled or missed (the twin drains).
    """
    from airan_twin.methods import make_method
    from haf.tables import results_table

    sc = load_scenario(scenario)
    make_method(method, sc.epoch_s)  # validate the name before any work
    if trace is not None:
        from airan_twin.workload.trace import load_trace

        load_trace(trace).split(split)  # fail fast, with file:line
    kw = dict(sc=sc, rho=rho, seed=seed, horizon=horizon, trace=trace, split=split)
    (r,) = _run_with_progress("simulating", [(method, kw)])
    console.print(
        results_table(
            f"{sc.name}, rho={rho:g}, seed={seed}, {r.workload}", [r], with_paper=rho == 0.9
        )
    )
    console.print(
        f"{r.events:,} events in {r.wall_s:.1f} s ({r.events / r.wall_s:,.0f} events/s,"
        f" {horizon / r.wall_s:.0f}x real time)"
    )
    _write_results(out, [r], "sim")


BASELINES = ("haf-static", "round-robin", "lyapunov", "game-theory")


@app.command("demo")
def demo(seed: SeedOpt = 1, horizon: HorizonOpt = 300.0, out: OutOpt = None) -> None:
    """The main job on the embedded default: HAF-Static and the baselines at rho = 0.9.

    One paper run per method on the shipped testbed with the synthetic conv-like workload,
    printed beside the paper's Table III. No server, no data file needed.
    """
    from haf.tables import results_table

    sc = load_scenario(None)
    kw = dict(sc=sc, rho=0.9, seed=seed, horizon=horizon, trace=None, split="test")
    runs = _run_with_progress("demo", [(m, kw) for m in BASELINES])
    console.print(
        results_table(
            f"Table III on the twin (rho=0.9, seed={seed}, {horizon:g} s)", runs, with_paper=True
        )
    )
    _write_results(out, runs, "demo")


@app.command("calibrate")
def calibrate(
    seeds: Annotated[str, typer.Option("--seeds", help="Comma-separated seeds.")] = "1,2",
    horizon: HorizonOpt = 300.0,
    scenario: ScenarioOpt = None,
) -> None:
    """Fit ran.du_gflop_mean to HAF-Static's RAN-only fulfilment in Table III (rho = 0.9).

    The only calibrated constant of the scenario (docs/calibration.md); bisection over the
    mean DU work, each probe the mean over --seeds. Prints every probe and the best value.
    """
    from airan_twin.calibrate import PAPER_HAF_STATIC, calibrate_du_work
    from haf.tables import GROUP_ORDER

    sc = load_scenario(scenario)
    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"--seeds must be integers separated by commas, got {seeds!r}") from None
    t = Table(title="Calibration probes: HAF-Static, rho = 0.9")
    t.add_column("du_gflop_mean", justify="right")
    for g in GROUP_ORDER:
        t.add_column(g, justify="right")

    def show(p) -> None:
        console.print(
            f"du_gflop_mean={p.du_gflop_mean:g}: "
            + ", ".join(f"{g} {p.fulfilment[g]:.1f}" for g in GROUP_ORDER)
        )
        t.add_row(f"{p.du_gflop_mean:g}", *(f"{p.fulfilment[g]:.1f}" for g in GROUP_ORDER))

    best, _ = calibrate_du_work(sc, seed_list, horizon=horizon, on_probe=show)
    t.add_row("[bold]paper[/bold]", *(f"{PAPER_HAF_STATIC[g]:.1f}" for g in GROUP_ORDER))
    console.print(t)
    console.print(f"best: ran.du_gflop_mean = {best.du_gflop_mean:g}")


@app.command("alloc-demo")
def alloc_demo(scenario: ScenarioOpt = None, seed: SeedOpt = 1) -> None:
    """Allocate every node of the testbed once, from seeded random backlogs and deadlines.

    Each instance gets 0-6 pending requests; eqs. (13)-(15) turn them into workload, urgency
    and RAN floors, and the closed-form allocator (16)-(19) splits each node's GPU and CPU.
    """
    from haf.alloc_demo import run_alloc_demo

    sc = load_scenario(scenario)
    table = Table(
        title=f"Deadline-aware allocation (eqs. 13-19), {sc.name}, seed {seed}",
        caption="W: residual work (13); U: urgency (14); floor: RAN floor (15), inf = deadline "
        "lost; g, c: allocation (17)-(19); *: floor-bound",
    )
    for col in (
        "node",
        "RAN",
        "instance",
        "Wg TFLOP",
        "Wc ms",
        "U 1/s",
        "floor",
        "g TFLOP/s",
        "c cores",
    ):
        table.add_column(col, justify="left" if col in ("node", "RAN", "instance") else "right")
    for dn in run_alloc_demo(sc, seed):
        a = dn.allocation
        for k, inst in enumerate(dn.demand.instances):
            floor = (
                f"g {inst.floor_gpu / 1e12:.1f}"
                if inst.floor_gpu
                else f"c {inst.floor_cpu:.2f}"
                if inst.floor_cpu
                else "-"
            )
            g_mark = "*" if a.gpu.floor_bound[k] else ""
            c_mark = "*" if a.cpu.floor_bound[k] else ""
            table.add_row(
                dn.demand.node_id if k == 0 else "",
                ("[red]infeasible[/red]" if a.ran_infeasible else "ok") if k == 0 else "",
                inst.instance_id,
                f"{inst.work_gpu / 1e12:.3f}",
                f"{inst.work_cpu * 1e3:.3f}",
                f"{inst.urgency:.0f}",
                floor,
                f"{a.gpu.shares[k] / 1e12:.1f}{g_mark}",
                f"{a.cpu.shares[k]:.2f}{c_mark}",
                end_section=k == len(dn.demand.instances) - 1,
            )
    console.print(table)


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit code 2."""
    try:
        app()
    except (ScenarioError, TraceError, UsageError, ValueError, OSError) as exc:
        Console(stderr=True).print(f"[bold red]error:[/bold red] {exc}", highlight=False)
        sys.exit(2)
