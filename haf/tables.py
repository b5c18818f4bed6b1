"""Result tables in the paper's layout (Table III), shared by every command that prints runs."""

from __future__ import annotations

from collections.abc import Iterable

from rich.markup import escape
from rich.table import Table

from airan_twin.metrics import RunResult

#: Table III of the paper, ρ = 0.9 (spec §5): overall, RAN-only, AI, large, small, mig L/total.
#: The paper's Table III rows, under the method that runs as the paper ran it (its Lyapunov and
#: Game Theory migrate only DU, CU-UP and small-AI: our ``*-paper`` methods).
PAPER_TABLE3 = {
    "haf-static": (74.1, 96.6, 50.8, 0.4, 100.0, "0/0"),
    "round-robin": (74.3, 97.1, 50.8, 0.4, 100.0, "0/0"),
    "lyapunov-paper": (74.7, 97.1, 51.6, 1.9, 100.0, "0/7"),
    "game-theory-paper": (74.7, 97.9, 50.8, 0.4, 99.9, "0/16"),
    "caora": (74.3, 97.1, 50.8, 0.5, 100.0, "0/0"),
    "haf": (90.0, 94.5, 85.3, 70.4, 99.9, "1/9"),
}
GROUP_ORDER = ("overall", "ran_only", "ai", "large_ai", "small_ai")


def results_table(
    title: str, runs: Iterable[RunResult], with_paper: bool = False, infeasible: bool = True
) -> Table:
    """``infeasible=False`` drops the RAN-infeasible column (a closed loop counts those in the
    xApp, not in the twin)."""
    caption = "fulfilment in %; mig: large/total migrations"
    if infeasible:
        caption += "; infeas.: RAN-infeasible allocation events"
    t = Table(title=title, caption=caption)
    cols = ["method", "overall", "RAN-only", "AI", "large", "small", "mig"]
    cols += ["infeas.", "requests"] if infeasible else ["requests"]
    for col in cols:
        if col == "method":
            t.add_column(col, justify="left", no_wrap=True)
        else:
            t.add_column(col, justify="right")
    for r in runs:
        f = r.fulfilment
        cells = [
            escape(r.method),
            *(f"{f[g]:.1f}" for g in GROUP_ORDER),
            f"{r.migrations['large']}/{r.migrations['total']}",
        ]
        if infeasible:
            cells.append(str(r.ran_infeasible_events))
        t.add_row(*cells, f"{r.requests:,}")
        if with_paper and r.method in PAPER_TABLE3:
            add_paper_row(t, PAPER_TABLE3[r.method], trailing=len(cols) - 7)
    return t


def add_paper_row(t: Table, paper: tuple, trailing: int = 0) -> None:
    """The paper's numbers for the row above, dimmed, in the same columns."""
    t.add_row(
        "[dim]  paper[/dim]",
        *(f"[dim]{v:.1f}[/dim]" for v in paper[:5]),
        f"[dim]{paper[5]}[/dim]",
        *([""] * trailing),
    )


def aggregate_table(title: str, rows: Iterable, paper: dict | None) -> Table:
    """Rows aggregated over seeds (``airan_twin.experiments.Row``), with the paper's beside."""
    t = Table(
        title=title,
        caption="mean over seeds (± sd of overall); mig: mean large/total per run"
        + ("; dim rows: the paper" if paper else ""),
    )
    for c in ("method", "overall", "RAN-only", "AI", "large", "small", "mig"):
        t.add_column(c, justify="left" if c == "method" else "right")
    for r in rows:
        f = r.fulfilment
        t.add_row(
            escape(r.label),
            f"{f['overall']:.1f} ± {r.fulfilment_sd['overall']:.1f}",
            *(f"{f[g]:.1f}" for g in GROUP_ORDER[1:]),
            f"{r.migrations['large']:.1f}/{r.migrations['total']:.1f}",
        )
        if paper and r.label in paper:
            add_paper_row(t, paper[r.label])
    return t
