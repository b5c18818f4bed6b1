"""The `haf` application object and what every command module shares: the console, the
option types, the progress bar and :class:`UsageError`.

Command modules (``haf.cli``, ``haf.a1_cli``, ``haf.caora_cli``, ``haf.loop_cli``, ``haf.up``)
import from here and register their commands on :data:`app`; ``haf.cli`` imports them all, so
no module imports its importer.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from proto.errors import HafError

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


class UsageError(HafError):
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


def progress(*columns):
    """A transient progress bar on stderr: description, bar, ``columns``, elapsed time."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        *columns,
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )


AgentOpt = Annotated[
    str,
    typer.Option(
        "--agent",
        help="LLM agent of haf/haf-nocritic: heuristic, embedded[:MODEL] (local llama.cpp; "
        "haf agent models), ollama[:MODEL[@HOST]], openai:MODEL@URL, replay:LOG.jsonl, or "
        "route:EDGE,CLOUD (the edge answers, the cloud is asked when it pays; docs/agent.md).",
    ),
]
CriticOpt = Annotated[
    Path | None, typer.Option("--critic", help="Critic weights (default: the shipped ones).")
]
ExamplesOpt = Annotated[
    str,
    typer.Option(
        "--examples",
        help="LLM agents: past decisions shown in the prompt, chosen from the experience pool "
        "by prioritised replay, at random, or none.",
    ),
]
PoolOpt = Annotated[
    Path | None,
    typer.Option("--pool", help="Experience pool JSON (default: the shipped seed pool)."),
]
EpsilonOpt = Annotated[
    float,
    typer.Option(
        "--epsilon",
        help="ε-greedy: start chance of one random move on the shortlist (decays).",
        min=0.0,
        max=1.0,
    ),
]
AsyncOpt = Annotated[
    bool,
    typer.Option("--async", help="HAF: epoch k uses the shortlist made on epoch k-1's snapshot."),
]
AgentLogOpt = Annotated[
    Path | None, typer.Option("--agent-log", help="Append every agent call to this JSONL log.")
]
