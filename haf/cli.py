"""The `haf` command line. Every command has --help; bad input exits 2 with one clear line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from airan_twin.methods import method_help
from airan_twin.scenario import load_scenario
from haf.app import (
    AgentLogOpt,
    AgentOpt,
    AsyncOpt,
    CriticOpt,
    EpsilonOpt,
    ExamplesOpt,
    HorizonOpt,
    OutOpt,
    PoolOpt,
    RhoOpt,
    ScenarioOpt,
    SeedOpt,
    SplitOpt,
    TraceOpt,
    UsageError,
    app,
    console,
    progress,
)
from proto.errors import HafError, InputError


def _run_with_progress(label: str, jobs: list[tuple[str, dict]]) -> list:
    """Run simulations one after another under one progress bar (simulated seconds)."""
    from rich.progress import TextColumn

    from airan_twin.run import simulate

    results = []
    total = sum(kw["horizon"] for _, kw in jobs)
    with progress(TextColumn("{task.fields[what]}")) as bar:
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
        typer.Option(
            "--method",
            help=method_help(),
        ),
    ] = "haf-static",
    rho: RhoOpt = 0.9,
    seed: SeedOpt = 1,
    trace: TraceOpt = None,
    split: SplitOpt = "test",
    horizon: HorizonOpt = 300.0,
    scenario: ScenarioOpt = None,
    out: OutOpt = None,
    agent: AgentOpt = "embedded",
    critic: CriticOpt = None,
    agent_log: AgentLogOpt = None,
    examples: ExamplesOpt = "none",
    pool: PoolOpt = None,
    epsilon: EpsilonOpt = 0.0,
    asynchronous: AsyncOpt = False,
    critic_online: Annotated[
        bool,
        typer.Option(
            "--critic-online",
            help="haf / haf-critic-only: the critic learns from each decision's realised "
            "outcome, guarded by a held-back validation buffer (docs/critic-online.md).",
        ),
    ] = False,
    critic_checkpoints: Annotated[
        Path | None,
        typer.Option("--critic-checkpoints", help="Folder for the online critic's versions."),
    ] = None,
    route_policy: Annotated[
        str,
        typer.Option(
            "--route-policy",
            help="route:EDGE,CLOUD agents: dynamic (the threshold rule), edge, cloud, "
            "fixed[:THETA] (docs/agent.md, Routing).",
        ),
    ] = "dynamic",
    cloud_cost: Annotated[
        float, typer.Option("--cloud-cost", help="κ: a cloud call's price.", min=0.0)
    ] = 0.05,
    lessons: Annotated[
        Path | None,
        typer.Option("--lessons", help="route: the store of the cloud's answers (JSON)."),
    ] = None,
    show_decisions: Annotated[
        bool,
        typer.Option(
            "--show-decisions",
            help="HAF: print every epoch's shortlist, the critic's J and committed action.",
        ),
    ] = False,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            help="oracle: each candidate's rollout as a Ray task, 'local' (a Ray runtime of "
            "this machine's cores) or a cluster address (HOST:6379). Needs pip install '.[ray]'.",
        ),
    ] = None,
) -> None:
    """Simulate one method on the digital twin and print fulfilment in the paper's layout.

    The twin runs the scenario (default: the paper testbed) with AI requests from the trace
    (time-scaled to the load rho) or the synthetic stream, plus RAN-only background traffic.
    Every request that arrives before --horizon ends as fulfilled or missed (the twin drains).
    """
    from airan_twin.methods import make_method
    from haf.tables import results_table

    sc = load_scenario(scenario)
    mkw = {"agent": agent, "critic": critic, "log": agent_log, "examples": examples}
    mkw |= {"pool": pool, "epsilon": epsilon, "asynchronous": asynchronous, "agent_seed": seed}
    if agent.startswith("route:"):
        mkw["route"] = _route_options(route_policy, cloud_cost, lessons)
    if critic_online:
        mkw |= {"critic_online": True, "critic_checkpoints": critic_checkpoints}
    if ray:
        mkw["ray"] = ray
    make_method(method, sc.epoch_s, **mkw)  # validate before any work (weights, agent spec)
    if trace is not None:
        from airan_twin.workload.trace import load_trace

        load_trace(trace).split(split)  # fail fast, with file:line
    kw = dict(
        sc=sc, rho=rho, seed=seed, horizon=horizon, trace=trace, split=split, method_kwargs=mkw
    )
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
    if show_decisions:
        _print_decisions(r.agent.get("epochs", []) if r.agent else [], method)
    _write_results(out, [r], "sim")


def _route_options(policy: str, cost: float, lessons: Path | None) -> dict:
    name, _, theta = policy.partition(":")
    out: dict = {"policy": name, "cost": cost}
    if theta:
        try:
            out["fixed_threshold"] = float(theta)
        except ValueError:
            raise UsageError(f"--route-policy {policy!r}: fixed:THETA needs a number") from None
    if lessons is not None:
        out["lessons"] = str(lessons)
    return out


def _print_decisions(epochs: list[dict], method: str) -> None:
    if not epochs:
        console.print(f"{method}: no per-epoch decisions to show (only haf / haf-nocritic)")
        return
    t = Table(title="Decisions per epoch (J: the critic's; Δ: advantage over the no-op ± sd)")
    for c in ("epoch", "t s", "agent", "shortlist (J, Δ)", "committed"):
        left = c.startswith(("shortlist", "committed"))
        t.add_column(c, justify="left" if left else "right", overflow="fold")
    for e in epochs:
        items = []
        for cid in e["shortlist"]:
            j, adv = e["j"].get(cid), e["advantage"].get(cid)
            items.append(
                cid
                + (f" J={j:.3f}" if j is not None else "")
                + (f" Δ={100 * adv[0]:+.2f}±{100 * adv[1]:.2f}" if adv and cid != "noop" else "")
            )
        t.add_row(
            str(e["epoch"]),
            f"{e['t']:g}",
            e["source"],
            escape("\n".join(items)),
            escape(e["committed"]),
        )
    console.print(t)


@app.command("demo")
def demo(seed: SeedOpt = 1, horizon: HorizonOpt = 300.0, out: OutOpt = None) -> None:
    """Table III in process: the baselines and HAF at rho = 0.9, beside the paper's rows.

    One run per method (the registry's baselines, then HAF with the deterministic heuristic
    agent and the shipped critic) on the shipped testbed with the synthetic conv-like workload,
    all in this process (about a minute). The main job, `make demo`, is `haf up`: the closed
    loop across processes. No server, no data file needed.
    """
    from airan_twin.methods import BASELINES
    from haf.tables import results_table

    sc = load_scenario(None)
    kw = dict(sc=sc, rho=0.9, seed=seed, horizon=horizon, trace=None, split="test")
    haf_kw = dict(kw, method_kwargs={"agent": "heuristic"})
    runs = _run_with_progress("demo", [(m, kw) for m in BASELINES] + [("haf", haf_kw)])
    console.print(
        results_table(
            f"Table III on the twin (rho=0.9, seed={seed}, {horizon:g} s)", runs, with_paper=True
        )
    )
    _write_results(out, runs, "demo")


critic_app = typer.Typer(
    help="The predictive critic: dataset from twin rollouts, training.", no_args_is_help=True
)
app.add_typer(critic_app, name="critic")


def _parse_topologies(spec: str) -> list[int | None]:
    """``paper,1000-1003,77`` → ``[None, 1000, 1001, 1002, 1003, 77]`` (None: --scenario)."""
    out: list[int | None] = []
    for tok in (t.strip() for t in spec.split(",")):
        if not tok:
            continue
        if tok in ("paper", "base"):
            out.append(None)
            continue
        lo, _, hi = tok.partition("-")
        try:
            a, b = int(lo), int(hi or lo)
        except ValueError:
            raise UsageError(
                f"--topologies: {tok!r} is not a seed, a range A-B or 'paper'"
            ) from None
        if b < a or b - a > 10_000 or a < 0:
            raise UsageError(f"--topologies: bad range {tok!r}")
        out += list(range(a, b + 1))
    if not out:
        raise UsageError("--topologies names no topology")
    return out


def _parse_runs(
    loads: str,
    seeds: str,
    traces: list[Path] | None,
    topologies: str | None = None,
    runs_per_topology: int = 1,
    split: str = "train",
) -> list:
    """Without ``topologies``: every load × seed on the scenario, plus each trace's train split
    at every load (first seed + 1000). With them: each topology gets ``runs_per_topology`` runs
    that cycle through (workload × load) from an offset of its index — synthetic and every
    trace, every load — and through the seeds, so a few runs per topology cover them all."""
    from airan_twin.critic_data import RunSpec

    try:
        rhos = [float(x) for x in loads.split(",") if x.strip()]
        seed_list = [int(x) for x in seeds.split(",") if x.strip()]
    except ValueError:
        raise UsageError("--loads and --seeds are comma-separated numbers") from None
    if not rhos or not seed_list or not all(0 < r <= 10 for r in rhos):
        raise UsageError("--loads needs values in (0, 10] and --seeds at least one seed")
    workloads = [None, *(str(t) for t in traces or [])]
    if topologies is None:
        runs = [RunSpec(r, s) for r in rhos for s in seed_list]
        for t in workloads[1:]:
            runs += [RunSpec(r, seed_list[0] + 1000, t, "train") for r in rhos]
        return runs
    combos = [(w, r) for w in workloads for r in rhos]
    runs = []
    for i, topo in enumerate(_parse_topologies(topologies)):
        for j in range(runs_per_topology):
            w, r = combos[(i * runs_per_topology + j) % len(combos)]
            seed = seed_list[(i + j) % len(seed_list)]
            runs.append(RunSpec(r, seed, w, split, topo))
    return runs


@critic_app.command("dataset")
def critic_dataset(
    out: Annotated[Path, typer.Option("--out", help="Where to write the dataset (.npz).")],
    loads: Annotated[
        str, typer.Option("--loads", help="Comma-separated rho values.")
    ] = "0.6,0.9,1.2",
    seeds: Annotated[str, typer.Option("--seeds", help="Comma-separated seeds.")] = "1,2,3",
    trace: Annotated[
        list[Path] | None,
        typer.Option(
            "--trace",
            help="Also runs on this Azure trace's train split (repeatable: conv and code).",
        ),
    ] = None,
    topologies: Annotated[
        str | None,
        typer.Option(
            "--topologies",
            help="Generated topology seeds, e.g. 'paper,1000-1027' ('paper': --scenario). "
            "Each gets --runs-per-topology runs cycling through workloads and loads.",
        ),
    ] = None,
    runs_per_topology: Annotated[int, typer.Option("--runs-per-topology", min=1)] = 1,
    split: Annotated[
        str,
        typer.Option(
            "--split",
            help="Which chronological part of a trace the --topologies runs read: train "
            "(training, validation) or test (a held-out evaluation set).",
        ),
    ] = "train",
    horizon: HorizonOpt = 100.0,
    samples: Annotated[
        int,
        typer.Option("--samples", help="Rollouts per epoch (0: every feasible candidate).", min=0),
    ] = 6,
    label_window: Annotated[
        float | None,
        typer.Option(
            "--label-window",
            help="Label window in s (default: the epochs covering the longest reconfiguration "
            "window plus one epoch, 15 s on the paper testbed; spec 3.4's literal one epoch "
            "is --label-window 5).",
        ),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1)] = 2,
    scenario: ScenarioOpt = None,
    ray: RayOpt = None,
) -> None:
    """Counterfactual rollouts: per epoch fork the twin, apply each sampled candidate (always
    the no-op), simulate the label window, record class fulfilment. Seeded."""
    import numpy as np
    from rich.progress import Progress

    from airan_twin.critic_data import generate_dataset

    sc = load_scenario(scenario)
    for t in trace or []:
        if not t.is_file():
            raise UsageError(f"--trace {t}: no such file")
    if samples == 1:
        raise UsageError("--samples must be 0 (all) or at least 2 (the no-op and one move)")
    if split not in ("train", "test"):
        raise UsageError(f"--split must be train or test, not {split!r}")
    runs = _parse_runs(loads, seeds, trace, topologies, runs_per_topology, split)
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("rollouts", total=len(runs))
        data = generate_dataset(
            sc,
            runs,
            horizon,
            samples,
            workers,
            lambda n: bar.update(task, completed=n),
            label_window,
            ray,
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **data)
    console.print(f"{len(data['X']):,} samples from {len(runs)} runs written to {out}")


def _load_dataset(path: Path) -> dict:
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as f:
            d = {k: f[k] for k in f.files}
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a critic dataset ({exc})") from None
    missing = {"X", "Y", "M", "run", "epoch", "cid", "feature_names"} - set(d)
    if missing:
        raise UsageError(f"{path}: not a critic dataset (missing {', '.join(sorted(missing))})")
    return d


def _print_critic_report(title: str, pools: dict, calib, mse: dict, r2: dict) -> None:
    t = Table(title=title)
    for c in ("class", "MSE", "R²"):
        t.add_column(c, justify="right")
    for k in mse:
        t.add_row(k, f"{mse[k]:.4f}", f"{r2[k]:.3f}")
    console.print(t)
    p = Table(title="Decisions (commit rule) per pool")
    for c in ("pool", "epochs", "top-1 agreement", "regret (J pts)", "migrates"):
        p.add_column(c, justify="right")
    for k, r in pools.items():
        p.add_row(
            k,
            str(r.epochs),
            f"{100 * r.top1:.1f} %",
            f"{100 * r.regret:.2f}",
            f"{100 * r.migrate_share:.0f} %",
        )
    console.print(p)
    c = Table(title="Calibration of the predicted advantage over the no-op (J pts)")
    for col in ("predicted (bin)", "realised", "n"):
        c.add_column(col, justify="right")
    for b in calib.bins:
        c.add_row(f"{100 * b['predicted']:+.2f}", f"{100 * b['realised']:+.2f}", str(b["n"]))
    console.print(c)
    console.print(
        f"Spearman rho {calib.spearman:.2f}; realised within ±2 sd: "
        f"{100 * calib.coverage_2sd:.0f} %"
    )


@critic_app.command("train")
def critic_train(
    data: Annotated[Path, typer.Option("--data", help="Dataset from `haf critic dataset`.")],
    val_data: Annotated[
        Path | None,
        typer.Option(
            "--val-data",
            help="Validation dataset (other topologies): chooses the commit rule and is "
            "reported; default: a quarter of --data's topologies split off.",
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Weights file to write.")] = None,
    seed: SeedOpt = 0,
    epochs: Annotated[int, typer.Option("--epochs", min=1, max=100_000)] = 600,
    hidden: Annotated[int, typer.Option("--hidden", min=2, max=4096)] = 64,
    members: Annotated[int, typer.Option("--members", min=1, max=64)] = 5,
    rank_weight: Annotated[
        float, typer.Option("--rank-weight", min=0.0, max=100.0, help="Pairwise loss weight.")
    ] = 1.0,
) -> None:
    """Train the critic ensemble, choose its commit rule on validation, save weights + card."""
    import json

    from rapp_placement.critic import WEIGHTS_PATH
    from rapp_placement.critic_card import card_path_for, write_card
    from rapp_placement.critic_train import train_critic

    d = _load_dataset(data)
    v = _load_dataset(val_data) if val_data else None
    try:
        critic, report = train_critic(
            d,
            v,
            hidden=hidden,
            members=members,
            epochs=epochs,
            rank_weight=rank_weight,
            seed=seed,
        )
    except InputError as exc:
        raise UsageError(str(exc)) from None
    _print_critic_report(
        "Critic on validation", report.pools, report.calibration, report.mse, report.r2
    )
    console.print(
        f"commit rule chosen on validation: kappa {report.kappa:g}, margin {report.margin:g}"
    )
    dest = out or WEIGHTS_PATH
    window = float(d["label_window_s"]) if "label_window_s" in d else None
    runs = [str(x) for x in d.get("run_labels", [])]
    command = (
        f"haf critic train --data {data}"
        + (f" --val-data {val_data}" if val_data else "")
        + f" --seed {seed} --epochs {epochs} --members {members} --rank-weight {rank_weight:g}"
    )
    meta = {
        "report": report.as_dict(),
        "seed": seed,
        "epochs": epochs,
        "label_window_s": window,
        "dataset": str(data),
        "runs": runs,
        "command": command,
    }
    dest.parent.mkdir(parents=True, exist_ok=True)
    critic.save(dest, meta=meta)
    card = card_path_for(dest)
    write_card(
        card,
        report,
        dataset=data.name,
        val_dataset=val_data.name if val_data else None,
        runs=runs,
        label_window_s=window,
        hidden=hidden,
        members=members,
        epochs=epochs,
        rank_weight=rank_weight,
        seed=seed,
        command=command,
    )
    console.print(f"model card written to {card}")
    console.print(f"weights written to {dest}")
    console.print(
        json.dumps(
            {
                "kappa": report.kappa,
                "margin": report.margin,
                "pools": {k: vars(p) for k, p in report.pools.items()},
            }
        )
    )


@critic_app.command("evaluate")
def critic_evaluate(
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            help="A held-out dataset (`haf critic dataset --samples 0` rolls out every "
            "candidate, so the realised best is the oracle's pick).",
        ),
    ],
    critic: CriticOpt = None,
) -> None:
    """Top-1 agreement with the realised best (the oracle), regret and calibration of a critic
    on a dataset it was not trained on."""
    from rapp_placement.critic import FEATURE_NAMES, WEIGHTS_PATH, Critic, CriticError
    from rapp_placement.critic_train import evaluate

    d = _load_dataset(data)
    if list(d["feature_names"]) != list(FEATURE_NAMES):
        raise UsageError(f"{data}: features differ from the critic's; regenerate the dataset")
    try:
        c = Critic.load(critic or WEIGHTS_PATH)
    except CriticError as exc:
        raise UsageError(str(exc)) from None
    pools, calib, mse, r2 = evaluate(c, d)
    groups = sorted({str(g) for g in d.get("run_groups", [])})
    _print_critic_report(
        f"Critic on {data.name} ({', '.join(groups) or 'all runs'}; kappa {c.kappa:g}, "
        f"margin {c.margin:g})",
        pools,
        calib,
        mse,
        r2,
    )


@critic_app.command("shift")
def critic_shift(
    trace: Annotated[
        Path | None,
        typer.Option(
            "--trace",
            help="The shifted workload: an Azure trace CSV (default: the code trace under "
            "../shared/data, if there).",
        ),
    ] = None,
    horizon: HorizonOpt = 500.0,
    seed: SeedOpt = 3,
    every: Annotated[
        int, typer.Option("--every", help="Judge every k-th epoch against the oracle.", min=1)
    ] = 5,
    topology_seed: Annotated[
        int, typer.Option("--topology-seed", help="Seed of the unseen generated topology.")
    ] = 7777,
    topology_nodes: Annotated[
        int, typer.Option("--topology-nodes", help="Its node count (4-9).", min=2, max=9)
    ] = 5,
    settings_opt: Annotated[
        str, typer.Option("--settings", help="paper, unseen or both.")
    ] = "both",
    out: Annotated[Path, typer.Option("--out", help="Folder for JSON, PNG, checkpoints.")] = Path(
        "results/critic-shift"
    ),
) -> None:
    """Frozen vs online critic (--critic-online) where it was not trained: the code trace on
    the paper testbed and on an unseen topology. Regret to the oracle (every candidate rolled
    out every epoch) per 50 epochs. Slow: minutes per run."""
    import json
    from dataclasses import asdict

    from airan_twin import critic_shift as cs
    from airan_twin.topologies import generate

    if trace is None:
        default = (
            Path(__file__).resolve().parents[1].parent
            / "shared/data/azure-llm-inference-2023/AzureLLMInferenceTrace_code.csv"
        )
        if not default.is_file():
            raise UsageError("no --trace given and ../shared's code trace is absent")
        trace = default
    from airan_twin.workload.trace import load_trace

    load_trace(trace)  # fail fast, with file:line
    if settings_opt not in ("paper", "unseen", "both"):
        raise UsageError("--settings must be paper, unseen or both")
    settings = {}
    if settings_opt in ("paper", "both"):
        settings["paper testbed, code"] = load_scenario()
    if settings_opt in ("unseen", "both"):
        unseen = generate(topology_seed, nodes=topology_nodes)
        settings[f"gen{topology_seed} ({topology_nodes} nodes), code"] = unseen
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, sc in settings.items():
        for online in (False, True):
            ck = out / f"checkpoints-{len(rows)}" if online else None
            label = f"{name}: {'online' if online else 'frozen'}"
            with progress() as bar:
                task = bar.add_task(label, total=horizon)
                r = cs.run(
                    name,
                    sc,
                    trace,
                    online,
                    seed,
                    horizon,
                    checkpoints=ck,
                    every=every,
                    progress=lambda t, task=task, bar=bar: bar.update(task, completed=t),
                )
            rows.append(r)
            # Written after every run: a long experiment keeps what it has measured.
            (out / "critic-shift.json").write_text(json.dumps([asdict(x) for x in rows], indent=1))
    t = Table(
        title=f"Critic under shift: regret to the oracle per 50 epochs (J points), seed {seed}"
    )
    for c in ("setting", "critic", "epochs", "per 50 epochs", "mean", "overall %", "updates"):
        t.add_column(c, justify="right")
    for r in rows:
        up = r.online
        t.add_row(
            r.setting,
            r.critic,
            str(r.epochs),
            " ".join(f"{b:.2f}" for b in r.regret_blocks),
            f"{r.regret_mean:.3f}",
            f"{r.overall:.1f}",
            f"{up.get('accepted', 0)} kept, {up.get('rejected', 0)} rejected, "
            f"{up.get('rollbacks', 0)} rollbacks"
            if up
            else "-",
        )
    console.print(t)
    (out / "critic-shift.json").write_text(json.dumps([asdict(r) for r in rows], indent=1))
    _plot_shift(rows, out / "critic-shift.png")
    console.print(f"written: {out}/critic-shift.json, critic-shift.png")


def _plot_shift(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for r in rows:
        ax.plot(
            range(1, len(r.regret_blocks) + 1),
            r.regret_blocks,
            "o-" if r.critic == "online" else "s--",
            label=f"{r.setting} ({r.critic})",
        )
    ax.set_xlabel("block of 50 epochs")
    ax.set_ylabel("regret to the oracle (J points)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


@app.command("record")
def record(
    out: Annotated[Path, typer.Option("--out", help="Recording to write (.haftrace).")],
    method: Annotated[
        str,
        typer.Option(
            "--method", help="Placement method (its decisions go to the xApp as A1 policies)."
        ),
    ] = "lyapunov",
    rho: RhoOpt = 0.9,
    seed: SeedOpt = 1,
    horizon: HorizonOpt = 5.0,
    period_ms: Annotated[int, typer.Option("--period-ms", help="E2 reporting period.", min=1)] = 10,
    scenario: ScenarioOpt = None,
) -> None:
    """Run the twin as E2 nodes with the xApp core in the loop; write every E2/A1 message as
    length-delimited TraceRecords (the first one holds the xApp config)."""
    from airan_twin.e2node import E2Loop
    from airan_twin.run import make_twin
    from xapp_alloc.tracefile import write_trace

    sc = load_scenario(scenario)
    twin = make_twin(sc, method, rho, seed, horizon, external_allocation=True)
    loop = E2Loop.build(twin, period_ms / 1000)
    twin.run()
    n = write_trace(out, loop.record or [])
    res = twin.result()
    c = loop.core.counters
    console.print(
        f"{n:,} records written to {out}: {c.indications:,} indications, "
        f"{c.controls:,} controls, {c.policies_applied} policies applied, "
        f"{c.policies_rejected} rejected"
    )
    from haf.tables import results_table

    console.print(
        results_table(f"{method} with the xApp in the loop ({period_ms} ms reports)", [res])
    )


@app.command("replay")
def replay_cmd(
    trace: Annotated[Path, typer.Argument(help="A recording made by `haf record`.")],
) -> None:
    """Feed a recording through a fresh xApp core; compare its outputs with the recorded ones
    and check capacity (3) and RAN floors in every control. Exit 1 if anything differs."""
    from xapp_alloc.replay import replay

    if not trace.is_file():
        raise UsageError(f"{trace}: no such recording")
    rep = replay(trace)
    t = Table(title=f"Replay of {trace.name}")
    t.add_column("check")
    t.add_column("result", justify="right")
    t.add_row("inbound messages replayed", f"{rep.inbound:,}")
    t.add_row(
        "outputs (produced / recorded)", f"{rep.outbound_produced:,} / {rep.outbound_expected:,}"
    )
    t.add_row("outputs differing from the recording", str(len(rep.mismatches)))
    t.add_row("controls checked", f"{rep.controls:,}")
    t.add_row("capacity (3) violations", str(len(rep.capacity_violations)))
    t.add_row("RAN floor violations", str(len(rep.floor_violations)))
    t.add_row("corrupted records (skipped)", str(len(rep.problems)))
    t.add_row(
        "inputs dropped by kind", ", ".join(f"{k} {v}" for k, v in rep.dropped.items()) or "none"
    )
    console.print(t)
    for p in rep.problems[:10]:
        console.print(f"record {p.index} at byte {p.offset}: {p.reason}")
    for line in (rep.mismatches + rep.capacity_violations + rep.floor_violations)[:10]:
        console.print(f"[red]{line}[/red]")
    if not rep.ok:
        raise typer.Exit(1)


exp_app = typer.Typer(
    help="The paper's experiments on the twin: table3, table2, sweep.", no_args_is_help=True
)
app.add_typer(exp_app, name="experiment")

SeedsOpt = Annotated[str, typer.Option("--seeds", help="Comma-separated seeds.")]
WorkersOpt = Annotated[int, typer.Option("--workers", help="Parallel runs.", min=1)]
RayOpt = Annotated[
    str | None,
    typer.Option(
        "--ray",
        help="Run each job as a Ray task: 'local' (a Ray runtime here with --workers CPUs) or "
        "a cluster address (HOST:6379, ray://HOST:10001). Needs pip install '.[ray]'.",
    ),
]

#: Table II of the paper (overall % and large/total migrations, with and without critic).
PAPER_TABLE2 = {
    "qwen3:32b": (90.0, "1/9", 84.7, "2/16"),
    "gpt-oss:20b": (89.6, "1/6", 84.2, "2/16"),
    "qwen2.5:72b": (86.2, "1/8", 83.5, "-"),
    "deepseek-r1:70b": (82.2, "1/14", 81.4, "-"),
    "gpt-oss:120b": (88.2, "1/10", 80.8, "-"),
}


def _seeds(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"--seeds must be integers separated by commas, got {text!r}") from None


def _setting(scenario: Path | None, trace: Path | None) -> tuple[object, str, bool]:
    """(scenario, a label naming scenario and workload, whether the paper's rows apply: only
    on the paper testbed with the conv-like workload the paper used)."""
    sc = load_scenario(scenario)
    paper = sc == load_scenario(None)
    workload = trace.name if trace else "synthetic conv-like stream"
    return sc, f"{sc.name}, {workload}", paper and (trace is None or "conv" in trace.name.lower())


def _run_experiment(
    name: str, jobs: list, workers: int, out: Path | None, sc=None, ray: str | None = None
):
    from rich.progress import MofNCompleteColumn, TextColumn

    from airan_twin.experiments import aggregate, run_jobs

    sc = sc if sc is not None else load_scenario(None)
    if ray:  # the oracle's rollouts become tasks of the same cluster (nested in its run's task)
        for job in jobs:
            if job.method == "oracle":
                job.method_kwargs.setdefault("ray", ray)
    with progress(MofNCompleteColumn(), TextColumn("{task.fields[last]}")) as bar:
        task = bar.add_task(name, total=len(jobs), last="")

        def done(n, job, res):
            bar.update(task, completed=n, last=f"{res.method} rho={job.rho:g} seed={job.seed}")

        results = run_jobs(sc, jobs, workers, done, ray=ray)
    rows = aggregate(results)
    if out is not None:
        import json
        from dataclasses import asdict

        out.mkdir(parents=True, exist_ok=True)
        payload = [
            {k: v for k, v in asdict(r).items() if k != "runs"}
            | {"runs": [asdict(x) | {"epochs": None} for x in r.runs]}
            for r in rows
        ]
        (out / f"{name}.json").write_text(json.dumps(payload, indent=1))
        console.print(f"results written to {out}/{name}.json")
    return rows


@exp_app.command("table3")
def exp_table3(
    seeds: SeedsOpt = "1,2,3",
    horizon: HorizonOpt = 300.0,
    agent: AgentOpt = "heuristic",
    trace: TraceOpt = None,
    workers: WorkersOpt = 2,
    ray: RayOpt = None,
    out: OutOpt = Path("runs/experiments"),
    critic: CriticOpt = None,
    scenario: ScenarioOpt = None,
    oracle: Annotated[
        bool,
        typer.Option("--with-oracle", help="Add the rollout oracle's row (the bound; slow)."),
    ] = False,
) -> None:
    """Table III: every method at rho = 0.9 on any scenario and workload; the paper's rows are
    shown beside ours only on the paper testbed with the conv workload."""
    from airan_twin.experiments import table3_jobs
    from airan_twin.methods import REGISTRY
    from haf.tables import PAPER_TABLE3, aggregate_table

    sc, setting, paper = _setting(scenario, trace)
    jobs = table3_jobs(
        _seeds(seeds),
        horizon,
        agent,
        str(trace) if trace else None,
        str(critic) if critic else None,
        oracle,
    )
    rows = _run_experiment("table3", jobs, workers, out, sc, ray)
    rows.sort(key=lambda r: REGISTRY[r.label].order if r.label in REGISTRY else 999)
    title = f"Table III on the twin ({setting}; rho=0.9, agent={agent})"
    console.print(aggregate_table(title, rows, PAPER_TABLE3 if paper else None))


@exp_app.command("table2")
def exp_table2(
    agents: Annotated[
        str,
        typer.Option(
            "--agents",
            help="Comma-separated agents (see haf sim --agent); "
            "replay:LOG entries re-use recorded calls.",
        ),
    ] = "heuristic,embedded",
    examples: Annotated[
        str,
        typer.Option(
            "--examples", help="Comma-separated example modes for LLM agents (one row each)."
        ),
    ] = "none,prioritised",
    asynchronous: AsyncOpt = False,
    oracle: Annotated[
        bool, typer.Option("--with-oracle", help="Add the rollout oracle's row (the bound).")
    ] = False,
    seeds: SeedsOpt = "1",
    horizon: HorizonOpt = 300.0,
    workers: WorkersOpt = 2,
    ray: RayOpt = None,
    out: OutOpt = Path("runs/experiments"),
    critic: CriticOpt = None,
    scenario: ScenarioOpt = None,
    trace: TraceOpt = None,
) -> None:
    """Table II: each agent with and without the critic (rho = 0.9), with the agent's quality:
    valid answers, no-op-only shortlists, the critic's best move on the shortlist. LLM calls
    are logged under OUT/calls-*.jsonl so the run can be replayed (--agents replay:PATH)."""
    from airan_twin.experiments import agent_quality, table2_jobs
    from rapp_placement.backends import EXAMPLE_MODES

    sc, setting, paper = _setting(scenario, trace)
    agent_list = [a.strip() for a in agents.split(",") if a.strip()]
    modes = [m.strip() for m in examples.split(",") if m.strip()]
    bad = [m for m in modes if m not in EXAMPLE_MODES]
    if bad or not modes:
        raise UsageError(f"--examples: {bad or examples!r}; use {', '.join(EXAMPLE_MODES)}")
    jobs = table2_jobs(
        _seeds(seeds),
        horizon,
        agent_list,
        str(trace) if trace else None,
        out,
        str(critic) if critic else None,
        modes,
        asynchronous,
        oracle,
    )
    rows = _run_experiment("table2", jobs, workers, out, sc, ray)
    rows.sort(key=lambda r: r.label)
    t = Table(
        title=f"Table II on the twin ({setting}; rho=0.9"
        + (", asynchronous)" if asynchronous else ")"),
        caption="overall fulfilment %, mean over seeds; mig: large/total; agent quality over "
        "every epoch: valid LLM answers, no-op-only shortlists, the critic's best migration "
        "(over all candidates) on the shortlist",
    )
    for c in ("method [agent]", "overall", "±", "mig", "valid %", "no-op only %", "best in list %"):
        t.add_column(c, justify="left" if c.startswith("method") else "right")
    for r in rows:
        q = agent_quality(r.runs)
        best = q.get("critic-best in list %")
        t.add_row(
            escape(r.label),
            f"{r.fulfilment['overall']:.1f}",
            f"{r.fulfilment_sd['overall']:.1f}",
            f"{r.migrations['large']:.1f}/{r.migrations['total']:.1f}",
            f"{q['valid %']:.0f}" if q else "-",
            f"{q['no-op only %']:.0f}" if q else "-",
            f"{best:.0f}" if q and r.label.startswith("haf [") else "-",
        )
    console.print(t)
    if not paper:
        return
    p = Table(title="Table II in the paper (overall %, mig large/total)")
    for c in ("agent", "HAF", "mig", "NoCritic", "mig "):
        p.add_column(c)
    for a, v in PAPER_TABLE2.items():
        p.add_row(a, f"{v[0]:.1f}", v[1], f"{v[2]:.1f}", v[3])
    console.print(p)


@exp_app.command("sweep")
def exp_sweep(
    seeds: SeedsOpt = "1,2",
    horizon: HorizonOpt = 150.0,
    loads: Annotated[
        str, typer.Option("--loads", help="Comma-separated rho values.")
    ] = "0.3,0.5,0.7,0.9,1.1,1.3,1.5",
    agent: AgentOpt = "heuristic",
    workers: WorkersOpt = 2,
    ray: RayOpt = None,
    out: OutOpt = Path("runs/experiments"),
    critic: CriticOpt = None,
    scenario: ScenarioOpt = None,
    trace: TraceOpt = None,
) -> None:
    """Load sweep: every method from under-load to beyond saturation; writes sweep.png."""
    from airan_twin.experiments import plot_sweep, sweep_jobs

    try:
        rhos = [float(x) for x in loads.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"--loads must be numbers separated by commas, got {loads!r}") from None
    sc, setting, _ = _setting(scenario, trace)
    jobs = sweep_jobs(
        _seeds(seeds),
        horizon,
        rhos,
        agent,
        critic=str(critic) if critic else None,
        trace=str(trace) if trace else None,
    )
    rows = _run_experiment("sweep", jobs, workers, out, sc, ray)
    rows.sort(key=lambda r: (r.rho, r.label))
    t = Table(title=f"Load sweep: overall fulfilment % ({setting}; agent={agent})")
    t.add_column("rho", justify="right")
    labels = sorted({r.label for r in rows})
    for lab in labels:
        t.add_column(lab, justify="right")
    t.add_column("haf gain vs best baseline", justify="right")
    for rho in sorted({r.rho for r in rows}):
        at = {r.label: r.fulfilment["overall"] for r in rows if r.rho == rho}
        base = max(v for k, v in at.items() if not k.startswith("haf") or k == "haf-static")
        gain = f"{100 * (at['haf'] / base - 1):+.1f} %" if "haf" in at else "-"
        t.add_row(f"{rho:g}", *(f"{at.get(lab, float('nan')):.1f}" for lab in labels), gain)
    console.print(t)
    if out is not None:
        plot_sweep(rows, out / "sweep.png")
        console.print(f"plot written to {out}/sweep.png")


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


@app.command("topology")
def topology(
    seed: SeedOpt = 1,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the scenario YAML here (else print it).")
    ] = None,
    nodes: Annotated[int | None, typer.Option("--nodes", help="Node count (4-9).", min=2)] = None,
    llms: Annotated[int | None, typer.Option("--llms", help="LLM count (1-3).", min=1)] = None,
    small: Annotated[
        int | None, typer.Option("--small", help="Small-model count (2-6).", min=1)
    ] = None,
    llms_on_weak: Annotated[
        bool | None,
        typer.Option(
            "--llms-on-weak/--llms-anywhere",
            help="Start the LLMs on the weakest GPUs that hold them (default: drawn).",
        ),
    ] = None,
) -> None:
    """Generate a seeded AI-RAN topology from real hardware (a scenario for --scenario)."""
    from airan_twin.topologies import generate, to_yaml

    sc = generate(seed, nodes, llms, small, llms_on_weak)
    text = to_yaml(sc)
    if out is None:
        console.print(text, highlight=False, markup=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    kinds = ", ".join(f"{n.id} ({n.hardware})" for n in sc.nodes)
    console.print(f"{out}: {len(sc.nodes)} nodes: {kinds}", highlight=False)


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


# Service commands live beside this module; importing them registers them on `app`.
from haf import a1_cli as _a1_cli  # noqa: E402,F401
from haf import agent_cli as _agent_cli  # noqa: E402,F401
from haf import caora_cli as _caora_cli  # noqa: E402,F401
from haf import intent_cli as _intent_cli  # noqa: E402,F401
from haf import loop_cli as _loop_cli  # noqa: E402,F401


def main() -> None:
    """Console entry point. Bad input (a :class:`~proto.errors.HafError`: a file, option or
    document that is wrong, the message naming file, line or field) and a file the system
    cannot open are one line on stderr and exit code 2. Anything else is a bug: it shows its
    traceback and exits 1."""
    try:
        app()
    except (HafError, OSError) as exc:
        Console(stderr=True, soft_wrap=True).print(
            f"[bold red]error:[/bold red] {escape(_one_line(exc))}", highlight=False
        )
        sys.exit(2)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    return " ".join(str(exc).split())[:2000]
