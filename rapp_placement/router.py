"""Edge–cloud routing of the placement agent (after the NetGPT seed's cloud-edge synergy).

The **edge agent** (the embedded model on the rApp's host) answers every epoch first: it is
fast, always there, and its answer is the fallback that keeps the epoch on time. The router
then decides whether to also ask the **cloud agent** (a large model behind an OpenAI-compatible
or Ollama server) and use its answer instead. The rule (docs/agent.md, "Routing"):

- ``c``: the edge's confidence, the probability its model gave the first item it wrote.
- ``q_e(c)``: the edge's expected decision quality at that confidence, and ``q_c`` the
  cloud's — quality is the chance that the shortlist holds the critic's best action over all
  candidates; both are Beta estimates updated online from the critic every epoch.
- ``P``: the chance that a cloud call ends within the time left ``τ`` of the epoch's decision
  budget: ``P = up · Φ((τ − L̂) / σ̂)`` with ``L̂ = RTT + b/BW + C`` and availability ``up``,
  all estimated online from the calls and probes (:mod:`rapp_placement.link`).
- Asking the cloud gains ``P·(q_c − q_e(c)) − κ`` (``κ``: the cost of a call in quality
  units); a late or failed call costs nothing else, since the edge's answer stands. So the
  router asks the cloud iff ``q_e(c) < θ`` with the **fallback threshold**
  ``θ = q_c − κ / P`` (:func:`threshold`) — unique, falling as the RTT grows and rising with
  bandwidth, because ``P`` does.

Fixed policies for comparison: ``edge`` (never ask), ``cloud`` (always, still with the edge
answer as fallback), ``fixed:θ0`` (ask iff ``q_e(c) < θ0``, blind to the network).

Every cloud answer is a lesson: with the outcome measured after the label window it is kept in
a bounded, deduplicated store on disk that is the edge agent's in-context experience
(:class:`~rapp_placement.experience.ExperiencePool`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass, field
from pathlib import Path

from proto.errors import InputError
from proto.observation import Snapshot
from rapp_placement.agent import BackendError, PlacementAgent, ShortlistResult, parse_shortlist
from rapp_placement.candidates import NOOP, Candidate
from rapp_placement.experience import Experience, ExperiencePool
from rapp_placement.link import LinkEstimator, probe_models
from rapp_placement.prompt import build_prompt

log = logging.getLogger(__name__)

POLICIES = ("dynamic", "edge", "cloud", "fixed")
CONF_BINS = (0.5, 0.8, 0.95)  # edge confidence bins: [0,.5) [.5,.8) [.8,.95) [.95,1]


def in_time_probability(time_left_s: float, predicted_s: float, sd_s: float, up: float) -> float:
    """``P = up · Φ((τ − L̂)/σ̂)``: the chance that a cloud call answers within ``τ``."""
    if time_left_s <= 0:
        return 0.0
    z = (time_left_s - predicted_s) / max(sd_s, 0.05)
    return up * 0.5 * (1 + math.erf(z / math.sqrt(2)))


def threshold(q_cloud: float, cost: float, p_in_time: float) -> float:
    """The fallback threshold ``θ = q_c − κ/P``: ask the cloud iff the edge's expected quality
    is below it (−inf when the cloud cannot answer in time)."""
    return q_cloud - cost / p_in_time if p_in_time > 1e-9 else -math.inf


@dataclass
class Beta:
    """A Beta(a, b) estimate of a hit rate, updated online."""

    a: float
    b: float

    @classmethod
    def prior(cls, mean: float, strength: float = 4.0) -> Beta:
        return cls(mean * strength, (1 - mean) * strength)

    @property
    def mean(self) -> float:
        return self.a / (self.a + self.b)

    def update(self, hit: bool) -> None:
        self.a += hit
        self.b += not hit


@dataclass
class RouteConfig:
    """``policy``: dynamic | edge | cloud | fixed; ``budget_s``: the decision's share of the
    epoch (edge + cloud must end by then); ``cost``: κ, a cloud call's price in quality."""

    policy: str = "dynamic"
    budget_s: float = 4.0
    cost: float = 0.05
    fixed_threshold: float = 0.6
    margin_s: float = 0.1  # kept free at the end of the budget (parse, critic)
    # Weak priors (4 pseudo-calls) so that the first epochs explore; the data take over fast.
    q_cloud_prior: float = 0.7
    q_edge_prior: float = 0.5

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise InputError(f"route policy must be one of {', '.join(POLICIES)}")
        for name in ("budget_s", "cost", "fixed_threshold", "q_cloud_prior", "q_edge_prior"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise InputError(f"route {name} must be a finite number ≥ 0, got {v!r}")
        if self.budget_s <= 0:
            raise InputError("route budget_s must be positive")


@dataclass
class RouteRecord:
    """One epoch's routing, for the log, ``haf … --show-decisions`` and the experiments."""

    route: str  # edge | cloud | cloud-late (asked, edge's answer used)
    confidence: float
    q_edge: float
    q_cloud: float
    p_in_time: float
    threshold: float
    time_left_s: float
    rtt_s: float
    bandwidth_bps: float
    predicted_s: float
    edge_s: float
    cloud_s: float = 0.0
    total_s: float = 0.0
    edge_top: str = ""
    cloud_top: str = ""
    error: str = ""


@dataclass
class RouterStats:
    routes: Counter = field(default_factory=Counter)  # edge | cloud | cloud-late
    cloud_errors: Counter = field(default_factory=Counter)
    agree: int = 0  # epochs with both answers whose first items agree
    both: int = 0
    over_budget: int = 0


class RoutedAgent(PlacementAgent):
    """A :class:`PlacementAgent` (the edge) that asks a cloud backend when the rule says so.

    ``store``: the cloud lessons (its examples are the edge's in-context experience);
    ``store_path``: where they persist. ``probe_url``: the cloud server's base URL for RTT
    probes (OpenAI-compatible servers); without it RTT is folded into the compute term.
    """

    def __init__(
        self,
        edge_backend,
        cloud_backend,
        route: RouteConfig | None = None,
        store: ExperiencePool | None = None,
        store_path: str | Path | None = None,
        probe_url: str | None = None,
        link: LinkEstimator | None = None,
        **kw,
    ) -> None:
        super().__init__(edge_backend, pool=store if store is not None else ExperiencePool(), **kw)
        if hasattr(edge_backend, "logprobs"):
            edge_backend.logprobs = True  # the edge's confidence is the router's input
        self.cloud = cloud_backend
        self.route = route or RouteConfig()
        self.store_path = Path(store_path) if store_path else None
        self.probe_url = probe_url
        self.link = link or LinkEstimator()
        self.q_cloud = Beta.prior(self.route.q_cloud_prior)
        self.q_edge = [Beta.prior(self.route.q_edge_prior) for _ in range(len(CONF_BINS) + 1)]
        self.rstats = RouterStats()
        self.last_route: RouteRecord | None = None
        self._cloud_pool = ThreadPoolExecutor(1, thread_name_prefix="cloud")
        self._probe_pool = ThreadPoolExecutor(1, thread_name_prefix="probe")
        self._probing = threading.Event()
        self._cloud_busy: object | None = None  # a late call still running
        self._edge_res: ShortlistResult | None = None
        self.on_route = None  # callback(RouteRecord) — the service counts them in Prometheus

    @property
    def name(self) -> str:
        return f"route({super().name},{self.cloud.name})"

    @property
    def edge_result(self) -> ShortlistResult | None:
        """The edge's answer of the latest epoch (``last`` is the one used)."""
        return self._edge_res

    # --- quality estimates -------------------------------------------------------------------
    @staticmethod
    def _bin(conf: float) -> int:
        return sum(conf >= b for b in CONF_BINS)

    def edge_quality(self, conf: float) -> float:
        return self.q_edge[self._bin(conf)].mean

    def feedback(self, critic_best: str) -> None:
        """The critic's best action over all candidates this epoch: a hit for each answer
        whose shortlist holds it (any shortlist, if the best is to stay)."""
        r = self.last_route
        if r is None or self._edge_res is None:
            return

        def hit(shortlist: list[str]) -> bool:
            return critic_best == NOOP or critic_best in shortlist

        self.q_edge[self._bin(r.confidence)].update(hit(self._edge_res.shortlist))
        if r.route == "cloud" and self.last is not None:
            self.q_cloud.update(hit(self.last.shortlist))

    # --- the epoch ---------------------------------------------------------------------------
    def _probe(self) -> None:
        """An RTT probe on its own thread (one at a time), so it never costs the epoch."""
        if self.probe_url is None or self._probing.is_set():
            return
        self._probing.set()
        headers = getattr(self.cloud, "headers", None)

        def run() -> None:
            try:
                self.link.probe(probe_models(self.probe_url, self.route.budget_s, headers))
            finally:
                self._probing.clear()

        self._probe_pool.submit(run)

    def _decide(self, conf: float, time_left: float, nbytes: int) -> tuple[bool, RouteRecord]:
        est = self.link.estimate()
        pred = est.predict(nbytes)
        p = in_time_probability(time_left, pred, est.sd_s, est.up)
        q_e, q_c = self.edge_quality(conf), self.q_cloud.mean
        theta = threshold(q_c, self.route.cost, p)
        pol = self.route.policy
        if time_left <= 0 or self._cloud_busy is not None or pol == "edge":
            ask = False
        elif pol == "cloud":
            ask = True
        elif pol == "fixed":
            ask = q_e < self.route.fixed_threshold
        else:
            ask = q_e < theta
        rec = RouteRecord(
            "edge", conf, q_e, q_c, p, theta, time_left, est.rtt_s, est.bandwidth_bps, pred, 0.0
        )
        return ask, rec

    def shortlist(self, snap: Snapshot, candidates: list[Candidate], seed: int) -> ShortlistResult:
        t0 = time.perf_counter()
        self._probe()
        edge = super().shortlist(snap, candidates, seed)
        if edge.source == "llm":
            edge.backend = self.backend.name  # which of the two answered
        self._edge_res = edge
        edge_s = time.perf_counter() - t0
        conf = getattr(self.backend, "last_confidence", None)
        conf = 0.0 if edge.source != "llm" or conf is None else conf
        prompt = build_prompt(snap, candidates, self.label_seed, self.k, [])
        nbytes = len(prompt.system.encode()) + len(prompt.user.encode()) + 600  # + JSON, answer
        left = self.route.budget_s - self.route.margin_s - edge_s
        ask, rec = self._decide(conf, left, nbytes)
        rec.edge_s = edge_s
        rec.edge_top = edge.shortlist[0] if edge.shortlist else ""
        res = edge
        if ask:
            res = self._ask_cloud(prompt, left, rec, edge)
        rec.total_s = time.perf_counter() - t0
        if rec.total_s > self.route.budget_s:
            self.rstats.over_budget += 1
        self.rstats.routes[rec.route] += 1
        if rec.cloud_top and rec.edge_top:
            self.rstats.both += 1
            self.rstats.agree += rec.cloud_top == rec.edge_top
        self.last_route = rec
        self.last = res
        if self.on_route is not None:
            self.on_route(rec)
        return res

    def _ask_cloud(self, prompt, left: float, rec: RouteRecord, edge: ShortlistResult):
        t0 = time.perf_counter()
        fut = self._cloud_pool.submit(self.cloud.complete, prompt)
        try:
            answer = fut.result(timeout=left)
            labels = parse_shortlist(answer, (*prompt.labels, *prompt.candidate_ids), self.k)
            ids = list(dict.fromkeys(prompt.cid_of(x) or x for x in labels))
            err = "" if ids else "invalid answer"
        except FutureTimeout:
            self._cloud_busy = fut  # left to finish; no new cloud call until it has
            fut.add_done_callback(lambda _f: setattr(self, "_cloud_busy", None))
            answer, ids, err = "", [], f"deadline: no answer within {left:.2f} s"
        except BackendError as exc:
            answer, ids, err = "", [], f"backend: {exc}"
        took = time.perf_counter() - t0
        rec.cloud_s = took
        if err:
            self.link.failed(took)
            self.rstats.cloud_errors[err.split(":")[0]] += 1
            rec.route, rec.error = "cloud-late", err
            log.info(
                "cloud %s gave no answer in time (%s): the edge's stands", self.cloud.name, err
            )
            return edge
        nbytes = getattr(self.cloud, "last_bytes", 0) or len(answer) + 600
        self.link.call(took, nbytes, getattr(self.cloud, "last_server_s", None))
        rec.route, rec.cloud_top = "cloud", ids[0]
        return ShortlistResult(
            ids, "llm", self.cloud.name, took, prompt.sha256, answer, labels=labels
        )

    def learn(self, e: Experience, routed: str = "") -> None:
        """A decision's outcome. Cloud-routed ones are the edge's lessons: kept and saved."""
        if routed != "cloud":
            return
        assert self.pool is not None
        self.pool.add(e)
        if self.store_path is not None:
            try:
                self.pool.save(self.store_path)
            except OSError as exc:  # a full disk must not stop the epoch
                log.error("cannot save the cloud lessons to %s: %s", self.store_path, exc)

    def route_summary(self) -> dict:
        st = self.rstats
        n = sum(st.routes.values())
        est = self.link.estimate()
        return {
            "policy": self.route.policy,
            "routes": dict(st.routes),
            "cloud_share": st.routes["cloud"] / n if n else 0.0,
            "asked_share": (st.routes["cloud"] + st.routes["cloud-late"]) / n if n else 0.0,
            "cloud_errors": dict(st.cloud_errors),
            "agreement": st.agree / st.both if st.both else None,
            "over_budget": st.over_budget,
            "lessons": len(self.pool or ()),
            "q_cloud": self.q_cloud.mean,
            "q_edge_by_confidence": [b.mean for b in self.q_edge],
            "link": asdict(est),
        }

    def close(self) -> None:
        self._cloud_pool.shutdown(wait=False, cancel_futures=True)
        self._probe_pool.shutdown(wait=False, cancel_futures=True)
