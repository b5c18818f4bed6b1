"""`haf caora train|evaluate`: the CAORA baseline's SAC policy (docs/caora.md)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from haf.app import (
    HorizonOpt,
    RhoOpt,
    ScenarioOpt,
    UsageError,
    app,
    console,
    progress,
)

caora_app = typer.Typer(
    help="CAORA baseline: train its SAC RAN/AI split policy in the twin, evaluate it.",
    no_args_is_help=True,
)
app.add_typer(caora_app, name="caora")


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise UsageError(f"not a comma-separated list of numbers: {text!r}") from None


@caora_app.command("train")
def train_cmd(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for checkpoints, curve, actor.")
    ] = Path("runs/caora"),
    episodes: Annotated[int, typer.Option("--episodes", help="Twin episodes.", min=1)] = 40,
    horizon: Annotated[
        float, typer.Option("--horizon", help="Seconds of arrivals per episode.", min=5)
    ] = 60.0,
    loads: Annotated[str, typer.Option("--loads", help="Training loads, cycled.")] = "0.7,0.9,1.1",
    seed: Annotated[int, typer.Option("--seed", help="Seed of networks, buffer, exploration.")] = 0,
    warmup: Annotated[
        int, typer.Option("--warmup", help="Random-split transitions before SAC updates.", min=0)
    ] = 400,
    checkpoint_every: Annotated[
        int, typer.Option("--checkpoint-every", help="Episodes between checkpoints.", min=1)
    ] = 10,
    install: Annotated[
        bool,
        typer.Option("--install", help="Copy the trained actor over the shipped weights."),
    ] = False,
    scenario: ScenarioOpt = None,
) -> None:
    """Train the SAC policy in the twin (seeded): checkpoints, learning curve (PNG), actor."""
    from airan_twin.methods.caora import WEIGHTS_PATH
    from airan_twin.methods.caora.train import TrainConfig, train
    from airan_twin.scenario import load_scenario

    sc = load_scenario(scenario)
    cfg = TrainConfig(
        episodes=episodes,
        horizon_s=horizon,
        loads=_floats(loads),
        seed=seed,
        warmup=warmup,
        checkpoint_every=checkpoint_every,
    )
    with progress() as bar:
        task = bar.add_task("training", total=episodes)

        def tick(ep, row) -> None:
            bar.update(
                task,
                completed=ep + 1,
                description=f"ep {ep + 1} rho={row.rho:g} reward={row.reward:+.3f}"
                f" overall={row.overall:.1f}% split={row.mean_split:.2f}",
            )

        report = train(sc, cfg, out, tick)
    t = Table(title=f"CAORA training (seed {seed}): last episode per load")
    for c in ("rho", "episode", "reward", "overall", "RAN-only", "AI", "mean split"):
        t.add_column(c, justify="right")
    for rho in cfg.loads:
        r = [x for x in report.curve if x.rho == rho][-1]
        t.add_row(
            f"{rho:g}",
            str(r.episode),
            f"{r.reward:+.3f}",
            f"{r.overall:.1f}",
            f"{r.ran_only:.1f}",
            f"{r.ai:.1f}",
            f"{r.mean_split:.2f}",
        )
    console.print(t)
    console.print(
        f"{report.updates:,} SAC updates over {report.transitions:,} transitions; "
        f"actor {out / 'caora_actor.pt'}, curve {out / 'learning-curve.png'}",
        highlight=False,
    )
    if install:
        shutil.copyfile(out / "caora_actor.pt", WEIGHTS_PATH)
        console.print(f"installed as {WEIGHTS_PATH}", highlight=False)


@caora_app.command("evaluate")
def evaluate_cmd(
    seeds: Annotated[str, typer.Option("--seeds", help="Held-out workload seeds.")] = "1,2,3",
    rho: RhoOpt = 0.9,
    horizon: HorizonOpt = 300.0,
    weights: Annotated[
        Path | None, typer.Option("--weights", help="Actor weights (default: the shipped ones).")
    ] = None,
    splits: Annotated[
        str, typer.Option("--splits", help="Also these fixed splits, e.g. 0.05,0.95.")
    ] = "",
    workers: Annotated[int, typer.Option("--workers", help="Parallel runs.", min=1)] = 2,
    card: Annotated[
        Path | None,
        typer.Option("--card", help="Write the model card here (with --curve: the training)."),
    ] = None,
    curve: Annotated[
        Path | None, typer.Option("--curve", help="curve.json of the training run.")
    ] = None,
    scenario: ScenarioOpt = None,
) -> None:
    """The sanity check: trained policy vs a fixed 50/50 split vs a random split (and
    HAF-Static for reference) on held-out seeds."""
    from airan_twin.experiments import Job, aggregate, run_jobs
    from airan_twin.methods import make_method
    from airan_twin.methods.caora import load_actor
    from airan_twin.scenario import load_scenario
    from haf.tables import aggregate_table

    sc = load_scenario(scenario)
    if weights is not None:
        load_actor(weights)  # fail fast with a clear message
    seed_list = [int(s) for s in _floats(seeds)]
    kw = {"weights": str(weights)} if weights else {}
    fixed = [f"caora-fixed:{x:g}" for x in _floats(splits)]
    for name in fixed:
        make_method(name, sc.epoch_s)  # a bad split fails before any run
    jobs = [
        Job(m, rho, s, horizon, method_kwargs=kw if m == "caora" else {})
        for m in ("caora", "caora-half", "caora-random", *fixed, "haf-static")
        for s in seed_list
    ]
    with progress() as bar:
        task = bar.add_task("evaluating", total=len(jobs))
        results = run_jobs(sc, jobs, workers, lambda i, j, r: bar.update(task, completed=i))
    rows = aggregate(results)
    title = f"CAORA sanity check, rho={rho:g}, held-out seeds {seeds}, {horizon:g} s"
    console.print(aggregate_table(title, rows, None))
    if card is not None:
        from airan_twin.methods.caora.card import write_card

        _, meta = load_actor(weights) if weights else load_actor()
        write_card(
            card,
            meta,
            rows,
            title,
            curve,
            f"haf caora evaluate --seeds {seeds} --rho {rho:g} --horizon {horizon:g}",
        )
        console.print(f"model card written to {card}", highlight=False)
