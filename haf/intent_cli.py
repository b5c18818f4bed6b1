"""`haf intent "TEXT"`: an operator's intent in plain language → structured intent → plan →
verified in the twin → an A1 policy (docs/intents.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from haf.app import ScenarioOpt, SeedOpt, UsageError, app, console
from proto.errors import InputError


@app.command("intent")
def intent_cmd(
    text: Annotated[
        str, typer.Argument(help="The intent, e.g. 'never run LLMs on cpu-heavy nodes'.")
    ],
    reader: Annotated[
        str,
        typer.Option(
            "--reader",
            help="auto (the parser when it reads every clause, else the embedded model), "
            "parser (the documented phrase forms, deterministic), or an LLM agent spec: "
            "embedded[:MODEL], ollama[:MODEL[@HOST]], openai:MODEL@URL.",
        ),
    ] = "auto",
    scenario: ScenarioOpt = None,
    seed: SeedOpt = 1,
    warmup: Annotated[
        float, typer.Option("--warmup", help="Seconds of twin before planning (its 'now').", min=0)
    ] = 60.0,
    horizon: Annotated[
        float, typer.Option("--horizon", help="Seconds the twin verifies the plan over.", min=10)
    ] = 120.0,
    submit: Annotated[
        bool, typer.Option("--submit", help="PUT the policy to --url (else: a dry run).")
    ] = False,
    url: Annotated[str, typer.Option("--url", help="A1 endpoint for --submit.")] = (
        "http://127.0.0.1:10000"
    ),
    policy_id: Annotated[str, typer.Option("--policy-id", help="Instance id for --submit.")] = (
        "haf-intent"
    ),
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the plan (intent, policy, checks) as JSON.")
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="full (pre-allocation, reallocation, verification) or single (the ablation: "
            "one pre-allocation pass, issued unverified).",
        ),
    ] = "full",
) -> None:
    """Read the intent, plan it (pre-allocation, reallocation), verify the plan in the twin
    and print the A1 policy with the predicted before/after. A contradictory or infeasible
    intent gets the reasons and no policy (exit 1)."""
    from dataclasses import asdict

    from airan_twin.intent_plan import plan_intent
    from airan_twin.run import make_twin
    from airan_twin.scenario import load_scenario
    from rapp_placement.intent import IntentError

    if mode not in ("full", "single"):
        raise UsageError("--mode: full or single")
    try:
        intent = _read(text, reader)
    except IntentError as exc:
        raise UsageError(f"intent: {exc}") from None
    except InputError as exc:
        raise UsageError(str(exc)) from None
    console.print("[bold]structured intent[/bold]")
    console.print_json(json.dumps(intent))
    sc = load_scenario(scenario)
    twin = make_twin(
        sc, "haf", 0.9, seed, warmup + horizon + 120.0, method_kwargs={"agent": "heuristic"}
    )
    with console.status("planning and verifying in the twin …"):
        twin.run(until=warmup)
        plan = plan_intent(intent, twin, horizon, mode=mode)
    for step in plan.steps:
        console.print(f"  {step}", highlight=False)
    if plan.before is not None and plan.after is not None:
        t = Table(title=f"The twin's prediction over {horizon:g} s (seed {seed})")
        for c in (
            "",
            "large AI %",
            "small AI %",
            "RAN %",
            "overall %",
            "LLM p95 ms",
            "small p95 ms",
            "LLM quality",
        ):
            t.add_column(c, justify="right")
        for name, p in (("before", plan.before), ("with the plan", plan.after)):
            f = p.fulfilment
            t.add_row(
                name,
                *(f"{f[g]:.1f}" for g in ("large_ai", "small_ai", "ran_only", "overall")),
                f"{p.p95_ms['large_ai']:.0f}",
                f"{p.p95_ms['small_ai']:.0f}",
                f"{p.mean_quality.get('large_ai', float('nan')):.3f}",
            )
        console.print(t)
    for label, ok, got in plan.checks:
        console.print(f"  target {label}: {'met' if ok else 'MISSED'} ({got})", highlight=False)
    for w in plan.warnings:
        console.print(f"  [yellow]warning[/yellow]: {w}", highlight=False)
    if out is not None:
        doc = {k: v for k, v in asdict(plan).items()}
        out.write_text(json.dumps(doc, indent=1, default=str))
    if not plan.ok:
        for why in plan.problems:
            console.print(f"  [red]cannot[/red]: {why}", highlight=False)
        console.print("no policy.")
        raise typer.Exit(1)
    console.print("[bold]A1 policy[/bold] (HAF type)")
    console.print_json(json.dumps(plan.policy))
    if submit:
        from a1_policies.haf_placement import POLICY_TYPE_ID
        from haf.a1_cli import _call, _client
        from rapp_placement.a1client import wait_enforced

        client = _client(url, POLICY_TYPE_ID, "auto")
        code = _call(client.put, policy_id, plan.policy)
        st = _call(wait_enforced, client, policy_id, 2.0)
        console.print(f"PUT {policy_id}: HTTP {code}, {st.get('enforceStatus')}", highlight=False)
        if st.get("enforceStatus") != "ENFORCED":
            raise typer.Exit(1)


def _read(text: str, reader: str) -> dict:
    """The structured intent by ``reader``; ``auto``: the parser (exact on the documented
    forms), and for wording it cannot read the embedded model if one is installed (its answer
    validated like any input) — else the parser's error, which quotes the clause."""
    from rapp_placement.intent import IntentError, llm_intent, parse_intent

    if reader in ("parser", "auto"):
        try:
            return parse_intent(text)
        except IntentError as exc:
            if reader == "parser":
                raise
            from rapp_placement import models

            try:
                models.model_path(models.DEFAULT_MODEL)
            except models.ModelError:
                raise IntentError(f"{exc}; no embedded model to read free wording") from None
            console.print(f"[dim]parser: {exc} — asking the embedded model[/dim]")
            reader = "embedded"
    from rapp_placement.backends import _backend

    return llm_intent(text, _backend(reader))


CORPUS = Path(__file__).resolve().parents[1] / "a1_policies" / "examples" / "intents.jsonl"


@app.command("intent-eval")
def intent_eval_cmd(
    readers: Annotated[
        str,
        typer.Option("--readers", help="Comma-separated: parser, embedded[:MODEL], openai:…"),
    ] = "parser,embedded",
    corpus: Annotated[Path, typer.Option("--corpus", help="Intents JSONL.")] = CORPUS,
) -> None:
    """Accuracy of each intent reader on the corpus: the structured intent exactly as
    expected (after canonicalisation), and unreadable text refused."""
    from proto import safejson
    from rapp_placement.intent import IntentError, llm_intent, parse_intent, validate_intent

    rows = []
    for n, line in enumerate(corpus.read_text().splitlines(), start=1):
        if line.strip():
            try:
                rows.append(safejson.loads(line))
            except (ValueError, TypeError) as exc:
                raise UsageError(f"{corpus}:{n}: {exc}") from None
    t = Table(title=f"Intent readers on {corpus.name} ({len(rows)} intents)")
    for c in ("reader", "exact %", "refused when unreadable", "wrong", "median s"):
        t.add_column(c, justify="right")
    import statistics
    import time

    for spec in [r.strip() for r in readers.split(",") if r.strip()]:
        if spec == "parser":
            read = parse_intent
        else:
            from rapp_placement.backends import _backend

            backend = _backend(spec)
            read = lambda text, b=backend: llm_intent(text, b)  # noqa: E731
        exact, refused, unreadable, wrong, times = 0, 0, 0, [], []
        for row in rows:
            want = validate_intent(row["expected"]) if row["expected"] is not None else None
            t0 = time.perf_counter()
            try:
                got = read(row["text"])
            except IntentError:
                got = None
            times.append(time.perf_counter() - t0)
            if want is None:
                unreadable += 1
                refused += got is None
            exact += got == want
            if got != want:
                wrong.append(row["text"][:40])
        t.add_row(
            spec,
            f"{100 * exact / len(rows):.0f}",
            f"{refused}/{unreadable}",
            str(len(wrong)),
            f"{statistics.median(times):.2f}",
        )
    console.print(t)


@app.command("intent-ablation")
def intent_ablation_cmd(
    cases: Annotated[int, typer.Option("--cases", help="Admission cases to draw.", min=1)] = 16,
    first_seed: Annotated[
        int, typer.Option("--first-seed", help="Topology seeds are scanned from here.")
    ] = 1,
    warmup: Annotated[
        float, typer.Option("--warmup", help="Seconds of twin before planning.", min=0)
    ] = 30.0,
    horizon: Annotated[
        float, typer.Option("--horizon", help="Seconds each plan is verified/judged over.", min=10)
    ] = 60.0,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write every case's outcome as JSON.")
    ] = None,
) -> None:
    """The RIDAS ablation on admissions of new LLM services in generated topologies: the full
    planner (pre-allocation, reallocation, verification) vs a single pass (pre-allocation
    only, issued unverified). Half the cases need reallocation (docs/intents.md)."""
    from dataclasses import asdict

    from airan_twin.intent_eval import compare, draw_cases, summarise
    from airan_twin.intent_plan import MODES
    from haf.app import progress

    with console.status("drawing cases …"):
        drawn = draw_cases(cases, first_seed, warmup, horizon_s=horizon)
    with progress() as bar:
        task = bar.add_task("plans", total=len(drawn) * len(MODES))
        outcomes = compare(drawn, MODES, warmup, horizon, on_done=lambda: bar.advance(task))
    t = Table(title=f"Admissions: full planner vs single pass ({len(drawn)} cases, {horizon:g} s)")
    for c in (
        "cases",
        "planner",
        "n",
        "policies",
        "admitted/asked",
        "targets met",
        "LLM %",
        "quality",
    ):
        t.add_column(c, justify="right")
    for r in summarise(outcomes):
        t.add_row(
            r["subset"],
            r["mode"],
            str(r["cases"]),
            str(r["policies"]),
            f"{r['admitted']}/{r['asked']}",
            str(r["targets_met"]),
            f"{r['large_ai']:.1f}",
            f"{r['quality']:.3f}",
        )
    console.print(t)
    if out is not None:
        out.write_text(
            json.dumps(
                {"cases": [asdict(c) for c in drawn], "outcomes": [asdict(o) for o in outcomes]},
                indent=1,
            )
        )
