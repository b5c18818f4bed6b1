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


@app.command("demo")
def demo(seed: SeedOpt = 1) -> None:
    """The main job on the embedded default (no server needed): currently the allocator demo."""
    alloc_demo(None, seed)


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
    except (ScenarioError, UsageError, ValueError, OSError) as exc:
        Console(stderr=True).print(f"[bold red]error:[/bold red] {exc}", highlight=False)
        sys.exit(2)
