"""Service commands: `haf xapp`, `haf rapp`, `haf e2node`, and `haf up` that runs all three.

Each service is its own process; they talk over loopback exactly as in a test bed: E2 over gRPC
(``E2Relay.Deliver``), the state snapshot over gRPC (``StateService``), A1 over REST (A1-P v2).
"""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Annotated

import typer

from haf.app import (
    HorizonOpt,
    RhoOpt,
    ScenarioOpt,
    SeedOpt,
    UsageError,
    app,
    console,
)
from proto import safejson
from proto.errors import HafError


def _wait_for_signal() -> None:
    """Block until SIGTERM or Ctrl-C."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass


@app.command("xapp")
def xapp_cmd(
    grpc_address: Annotated[
        str, typer.Option("--grpc", help="gRPC listen address (E2Relay, StateService).")
    ] = "127.0.0.1:50051",
    a1_port: Annotated[
        int, typer.Option("--a1-port", help="A1-P v2 REST port on 127.0.0.1 (0: none).", min=0)
    ] = 10000,
    metrics_port: Annotated[
        int,
        typer.Option(
            "--metrics-port", help="HTTP: /metrics and /ric/v1/health/* (0: any free port).", min=0
        ),
    ] = 8080,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="xApp descriptor or controls JSON (default: the shipped "
            "descriptor's controls, the paper testbed).",
        ),
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option(
            "--state", help="A1 policy store file: policies survive a restart (recovered)."
        ),
    ] = None,
    clock: Annotated[
        str,
        typer.Option(
            "--clock",
            help="wall, or envelope: the E2 envelopes' timestamps (a twin in simulated time).",
        ),
    ] = "wall",
) -> None:
    """Run the xApp standalone: gRPC for E2 nodes and the rApp, A1-P v2 REST, Prometheus metrics.

    Without a RIC, the A1 store stands in for the A1 mediator: PUT a policy to
    http://127.0.0.1:A1-PORT/A1-P/v2/policytypes/21000/policies/ID (see `haf a1`). Ctrl-C or
    SIGTERM stops it. In an OSC RIC the container runs the RMR transport instead (docs/xapp.md).
    """
    from xapp_alloc.process import assemble, load_config

    if clock not in ("wall", "envelope"):
        raise UsageError(f"--clock must be wall or envelope, not {clock!r}")
    cfg = load_config(config)
    proc = assemble(
        cfg,
        grpc_address=grpc_address,
        http_address="127.0.0.1",
        http_port=metrics_port,
        a1_port=a1_port or None,
        state=state,
        envelope_clock=clock == "envelope",
    )
    console.print(
        f"haf xApp: gRPC on port {proc.grpc_port}"
        + (f", A1-P on http://127.0.0.1:{proc.a1_port}/A1-P/v2" if proc.a1_port else "")
        + f", metrics on http://127.0.0.1:{proc.http_port}/metrics"
        + f"; {len(cfg.nodes)} nodes, {len(cfg.instances)} instances,"
        f" {len(proc.host.store.records) if proc.host.store else 0} policies recovered",
        highlight=False,
    )
    try:
        _wait_for_signal()
    finally:
        proc.stop()
        console.print("haf xApp stopped")


@app.command("rapp")
def rapp_cmd(
    xapp: Annotated[str, typer.Option("--xapp", help="xApp gRPC address.")] = "127.0.0.1:50051",
    a1_url: Annotated[
        str, typer.Option("--a1-url", help="A1-P v2 base URL (near-RT RIC) or PMS base URL.")
    ] = "http://127.0.0.1:10000",
    a1_mode: Annotated[
        str, typer.Option("--a1-mode", help="a1p (near-RT RIC A1-P v2) or pms (Non-RT RIC PMS).")
    ] = "a1p",
    a1_prefix: Annotated[
        str,
        typer.Option(
            "--a1-prefix", help="a1p: path prefix, /A1-P/v2 (standard), /a1-p (OSC) or auto."
        ),
    ] = "auto",
    ric_id: Annotated[str, typer.Option("--ric-id", help="PMS: the near-RT RIC's id.")] = "ric1",
    epoch: Annotated[float, typer.Option("--epoch", help="Epoch length, s.", min=0.1)] = 5.0,
    agent: Annotated[
        str,
        typer.Option(
            "--agent",
            help="heuristic, embedded[:MODEL], ollama[:MODEL[@HOST]], openai:MODEL@URL, "
            "replay:PATH, route:EDGE,CLOUD.",
        ),
    ] = "heuristic",
    route_policy: Annotated[
        str,
        typer.Option("--route-policy", help="route: agents: dynamic, edge, cloud or fixed."),
    ] = "dynamic",
    cloud_cost: Annotated[
        float, typer.Option("--cloud-cost", help="route: a cloud call's price κ.", min=0.0)
    ] = 0.05,
    lessons: Annotated[
        Path | None, typer.Option("--lessons", help="route: store of the cloud's answers.")
    ] = None,
    llm_deadline: Annotated[
        float, typer.Option("--llm-deadline", help="LLM budget per epoch, s.", min=0.01)
    ] = 2.0,
    asynchronous: Annotated[
        bool,
        typer.Option(
            "--async",
            help="Make epoch k+1's shortlist during epoch k (a model slower than the budget).",
        ),
    ] = False,
    examples: Annotated[
        str, typer.Option("--examples", help="Past decisions shown: prioritised, random, none.")
    ] = "none",
    pool: Annotated[
        Path | None, typer.Option("--pool", help="Experience pool JSON (default: shipped seed).")
    ] = None,
    critic: Annotated[
        str | None, typer.Option("--critic", help="Critic weights, or 'none' (HAF-NoCritic).")
    ] = None,
    trigger: Annotated[
        str,
        typer.Option(
            "--trigger", help="timer (every --epoch s of wall time) or http (POST /epochs/K)."
        ),
    ] = "timer",
    port: Annotated[
        int, typer.Option("--port", help="HTTP port: /metrics, /status, POST /epochs/K.", min=0)
    ] = 8090,
    bind: Annotated[
        str, typer.Option("--bind", help="HTTP listen address (0.0.0.0 in a container).")
    ] = "127.0.0.1",
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="JSON of RappConfig fields (replaces the service flags above)."
        ),
    ] = None,
) -> None:
    """Run the rApp: each epoch read the xApp's snapshot, decide, push an A1 policy.

    Ctrl-C or SIGTERM stops it (an epoch in progress finishes first).
    """
    from rapp_placement.service import RappConfig, RappHttp, RappService

    if trigger not in ("timer", "http"):
        raise UsageError(f"--trigger must be timer or http, not {trigger!r}")
    if config is not None:
        try:
            cfg = RappConfig.from_dict(safejson.load_file(config, "rApp config"))
        except HafError as exc:
            raise UsageError(f"{config}: {exc}") from None
    else:
        cfg = RappConfig.from_dict(
            dict(
                xapp_grpc=xapp,
                a1_mode=a1_mode,
                a1_url=a1_url,
                a1_prefix=a1_prefix,
                ric_id=ric_id,
                epoch_s=epoch,
                agent=agent,
                llm_deadline_s=llm_deadline,
                asynchronous=asynchronous,
                examples=examples,
                pool=str(pool) if pool else None,
                critic=critic,
                route_policy=route_policy,
                route_cost=cloud_cost,
                lessons=str(lessons) if lessons else None,
            )
        )
    svc = RappService(cfg)
    http = RappHttp(svc, address=bind, port=port)
    http.start()
    console.print(
        f"haf rApp: {cfg.agent} agent{' (asynchronous)' if cfg.asynchronous else ''},"
        f" critic {cfg.critic or 'shipped'}, A1 {svc.target.name},"
        f" xApp {cfg.xapp_grpc}, {trigger} epochs of {cfg.epoch_s:g} s;"
        f" http://{bind}:{http.port}/metrics",
        highlight=False,
    )
    stop = threading.Event()
    loop = None
    if trigger == "timer":
        loop = threading.Thread(target=svc.run_forever, args=(stop,), daemon=True)
        loop.start()
    try:
        _wait_for_signal()
    finally:
        stop.set()
        if loop is not None:
            loop.join(timeout=cfg.epoch_s + 5)
        http.stop()
        svc.close()
        console.print("haf rApp stopped")


@app.command("e2node")
def e2node_cmd(
    xapp: Annotated[str, typer.Option("--xapp", help="xApp gRPC address.")] = "127.0.0.1:50051",
    rapp_url: Annotated[
        str | None,
        typer.Option("--rapp", help="rApp URL to trigger each epoch (none: placement fixed)."),
    ] = None,
    period_ms: Annotated[
        int, typer.Option("--period-ms", help="E2 reporting period (simulated).", min=1)
    ] = 20,
    rho: RhoOpt = 0.9,
    seed: SeedOpt = 1,
    horizon: HorizonOpt = 60.0,
    scenario: ScenarioOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the run's result JSON here.")
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress/--quiet", help="One JSON line per simulated second.")
    ] = True,
) -> None:
    """Run the digital twin as the E2 nodes of an xApp in another process (simulated time).

    Every --period-ms of simulated time each node reports to the xApp and applies the control it
    answers; with --rapp, each epoch boundary waits for the rApp to run that epoch.
    """
    from airan_twin.e2node import E2Loop
    from airan_twin.metrics import live_fulfilment
    from airan_twin.run import make_twin
    from airan_twin.scenario import load_scenario

    sc = load_scenario(scenario)
    twin = make_twin(
        sc,
        "haf-static",  # HAF's allocation rule and dispatch; the placement is the rApp's
        rho,
        seed,
        horizon,
        external_allocation=True,
    )
    try:
        E2Loop.connect(twin, xapp, rapp_url, period_ms / 1000)
    except Exception as exc:  # grpc's FutureTimeoutError and friends: one line, exit 2
        raise UsageError(f"cannot reach the xApp at {xapp}: {type(exc).__name__} {exc}") from None

    def tick(t: float) -> None:
        f = live_fulfilment(twin.outcomes)
        line = {"t": round(t, 3), "fulfilment": f, "migrations": twin.counters.migrations}
        print(json.dumps(line), flush=True)

    t0 = time.perf_counter()
    twin.run(progress=tick if progress else None)
    res = twin.result(time.perf_counter() - t0)
    if out is not None:
        res.to_json(out)
    print(json.dumps({"done": True, "wall_s": res.wall_s}), flush=True)


from haf import up as _up  # noqa: E402,F401  (registers `haf up`)
