"""Edge–cloud routing experiments (issue 15; docs/results.md "Edge and cloud"):

- :func:`curves`: the fallback threshold θ (router.py) as the router computes it from its own
  online estimates, over a grid of injected RTT × bandwidth — the monotonicity check.
- :func:`policies`: the twin's HAF with a routed agent under each routing policy and network
  condition: decision quality, cloud share, epochs over budget.
- :func:`learning`: the edge before and after it has the cloud's lessons.

The cloud is llama.cpp's own HTTP server (xllamacpp) with a bigger model than the edge's, on
loopback behind :class:`~airan_twin.netem.NetemProxy`.
"""

from __future__ import annotations

import itertools
import logging
import socket
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from airan_twin.netem import Link, NetemProxy

log = logging.getLogger(__name__)


@dataclass
class Cloud:
    """A llama.cpp server with ``model`` on loopback, behind a netem proxy."""

    model: str = "qwen2.5-coder-1.5b"
    threads: int = 2
    server: object = None
    proxy: NetemProxy | None = None
    port: int = 0

    def start(self) -> Cloud:
        import xllamacpp as xl

        from rapp_placement.models import model_path

        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        p = xl.CommonParams()
        p.model.path = str(model_path(self.model))
        p.n_ctx = 4096
        p.port = self.port
        p.hostnames = ["127.0.0.1"]
        p.warmup = False
        p.verbosity = -1
        p.cpuparams.n_threads = self.threads
        p.cpuparams_batch.n_threads = self.threads
        p.cache_prompt = True
        self.server = xl.Server(p)
        self.proxy = NetemProxy("127.0.0.1", self.port)
        self.proxy.start()
        return self

    @property
    def url(self) -> str:
        assert self.proxy is not None
        return self.proxy.url

    def spec(self) -> str:
        return f"openai:{self.model}@{self.url}"

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        self.server = None


# --- threshold curves -----------------------------------------------------------------------
@dataclass
class CurvePoint:
    rtt_set_s: float
    bw_set_bps: float
    rtt_s: float  # estimated
    bw_bps: float  # estimated
    compute_s: float
    predicted_s: float
    p_in_time: float
    threshold: float


def curves(
    cloud: Cloud,
    prompts: Sequence,
    rtts: Sequence[float],
    bandwidths: Sequence[float],
    time_left_s: float,
    cost: float,
    q_cloud: float,
    calls: int = 3,
    probes: int = 3,
    progress: Callable[[], None] | None = None,
) -> list[CurvePoint]:
    """For each (RTT, bandwidth) injected on the proxy: a fresh estimator learns the link from
    ``probes`` probes and ``calls`` real completions, then gives θ for a decision with
    ``time_left_s`` left (the same q_c and κ everywhere, so θ moves only with the network)."""
    from rapp_placement.agent import BackendError
    from rapp_placement.backends import OpenAIBackend
    from rapp_placement.link import LinkEstimator, probe_models
    from rapp_placement.router import in_time_probability, threshold

    assert cloud.proxy is not None
    backend = OpenAIBackend(cloud.url, cloud.model, timeout_s=120)
    nbytes = len((prompts[0].system + prompts[0].user).encode()) + 600
    out: list[CurvePoint] = []
    for bw in bandwidths:
        for rtt in rtts:
            cloud.proxy.set(rtt, bw)
            est = LinkEstimator()
            for _ in range(probes):
                est.probe(probe_models(cloud.url, 30.0))
            for k in range(calls):
                t0 = time.perf_counter()
                try:
                    backend.complete(prompts[k % len(prompts)])
                except BackendError as exc:  # counted as the router would count it
                    log.warning("curve point rtt %g bw %g: %s", rtt, bw, exc)
                    est.failed(time.perf_counter() - t0)
                    continue
                est.call(time.perf_counter() - t0, backend.last_bytes, backend.last_server_s)
            e = est.estimate()
            pred = e.predict(nbytes)
            p = in_time_probability(time_left_s, pred, e.sd_s, e.up)
            out.append(
                CurvePoint(
                    rtt,
                    bw,
                    e.rtt_s,
                    e.bandwidth_bps,
                    e.compute_s,
                    pred,
                    p,
                    threshold(q_cloud, cost, p),
                )
            )
            if progress:
                progress()
    return out


def plot_curves(points: Sequence[CurvePoint], path: Path) -> None:
    """θ against the estimated RTT (one line per bandwidth) and against the estimated
    bandwidth (one line per RTT)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    floor = -1.0  # θ = −inf (cloud never in time) drawn at the floor
    for bw in sorted({p.bw_set_bps for p in points}):
        ps = sorted((p for p in points if p.bw_set_bps == bw), key=lambda p: p.rtt_s)
        a.plot(
            [p.rtt_s for p in ps],
            [max(p.threshold, floor) for p in ps],
            "o-",
            label=f"{bw / 1e3:g} kB/s",
        )
    a.set_xlabel("estimated RTT (s)")
    a.set_ylabel("fallback threshold θ")
    a.set_title("θ falls as the RTT grows")
    a.legend(title="bandwidth (set)")
    for rtt in sorted({p.rtt_set_s for p in points}):
        ps = sorted((p for p in points if p.rtt_set_s == rtt), key=lambda p: p.bw_bps)
        b.plot(
            [p.bw_bps / 1e3 for p in ps],
            [max(p.threshold, floor) for p in ps],
            "o-",
            label=f"{rtt:g} s",
        )
    b.set_xscale("log")
    b.set_xlabel("estimated bandwidth (kB/s)")
    b.set_title("θ rises with bandwidth")
    b.legend(title="RTT (set)")
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.set_ylim(floor - 0.05, 1.0)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def monotone(points: Sequence[CurvePoint], tol: float = 0.02) -> dict[str, bool]:
    """θ non-increasing in RTT at each bandwidth and non-decreasing in bandwidth at each RTT,
    within ``tol`` (the estimates are measured, so they carry noise)."""

    def ok(seq: list[float], sign: int) -> bool:
        return all(sign * (b - a) >= -tol for a, b in itertools.pairwise(seq))

    th = {(p.rtt_set_s, p.bw_set_bps): max(p.threshold, -1.0) for p in points}
    rtts = sorted({r for r, _ in th})
    bws = sorted({b for _, b in th})
    return {
        "falls with RTT": all(ok([th[r, b] for r in rtts], -1) for b in bws),
        "rises with bandwidth": all(ok([th[r, b] for b in bws], +1) for r in rtts),
    }


# --- twin runs ------------------------------------------------------------------------------
@dataclass
class PolicyRow:
    condition: str
    policy: str
    epochs: int
    hit: float  # % of epochs whose answer held the critic's best
    cloud_share: float  # % of epochs decided by the cloud's answer
    asked_share: float
    over_budget: int
    decision_p50_s: float
    decision_max_s: float
    agreement: float | None
    overall: float  # twin's request-weighted fulfilment, %
    extra: dict = field(default_factory=dict)


def run_policy(
    cloud_spec: str,
    route: dict,
    condition: str,
    seed: int,
    horizon: float,
    edge: str = "embedded",
) -> tuple[PolicyRow, dict]:
    from airan_twin.methods import make_method
    from airan_twin.run import make_twin
    from airan_twin.scenario import load_scenario

    sc = load_scenario()
    m = make_method(
        "haf", sc.epoch_s, agent=f"route:{edge},{cloud_spec}", route=route, agent_seed=seed
    )
    twin = make_twin(sc, m, 0.9, seed, horizon)
    twin.run()
    res = twin.result(wall_s=0.0)
    summ = m.summary()
    eps = summ["epochs"]
    routing = summ["routing"]
    hits = [e["critic_best"] == "noop" or e["critic_best"] in e["shortlist"] for e in eps]
    totals = [e["route"]["total_s"] for e in eps]
    n = max(len(eps), 1)
    row = PolicyRow(
        condition,
        route.get("policy", "dynamic")
        if route.get("policy") != "fixed"
        else f"fixed {route.get('fixed_threshold', 0.6):g}",
        len(eps),
        100 * sum(hits) / n,
        100 * routing["cloud_share"],
        100 * routing["asked_share"],
        routing["over_budget"],
        statistics.median(totals) if totals else 0.0,
        max(totals, default=0.0),
        routing["agreement"],
        res.fulfilment.get("overall", float("nan")),
    )
    m.agent.close()  # type: ignore[attr-defined]
    return row, summ


#: Network conditions of the policy runs (in the stretched time of `--budget`, see the CLI).
CONDITIONS: dict[str, Link] = {
    "near (RTT 20 ms)": Link(0.02, float("inf")),
    "mid (RTT 4 s, 4 kB/s)": Link(4.0, 4e3),
    "far (RTT 8 s, 2 kB/s)": Link(8.0, 2e3),
    "down": Link(mode="down"),
}


def apply(cloud: Cloud, link: Link) -> None:
    assert cloud.proxy is not None
    if link.mode == "down":
        cloud.proxy.down()
    else:
        cloud.proxy.set(link.rtt_s, link.bandwidth_bps)
