"""The rApp (non-RT RIC): every epoch, snapshot → candidates → agent → critic → A1 policy.

:meth:`RappService.run_epoch` is one epoch; :meth:`RappService.run_forever` calls it on a
timer (deployment: epoch ``k`` = ``floor(wall time / epoch_s)``), and :class:`RappHttp` also
lets a caller trigger epoch ``k`` (``POST /epochs/{k}``: the digital twin does, to keep
simulated time in lockstep) and serves ``/metrics`` and ``/status``.

**Asynchronous mode** (``asynchronous``): a model slower than the decision budget thinks
during the epoch instead — after deciding epoch ``k`` the rApp starts the agent on epoch ``k``'s
snapshot in a worker thread, and epoch ``k+1`` uses that shortlist (its moves that are no longer
feasible dropped; the critic scores it on the fresh snapshot). If it is not ready within
``llm_deadline_s`` of the next epoch, that epoch uses the heuristic and says so.

Within the epoch budget, always: the snapshot read has a timeout, the LLM call a deadline
after which the heuristic shortlist is used, the A1 push a timeout with retries and backoff.
Policy ids are ``haf-epoch-{k}``, so a retried or restarted epoch never issues a migration
twice: before deciding, the rApp reads the xApp's snapshot, and an epoch the xApp has already
applied (``snapshot.epoch >= k``) is not decided again.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from a1_policies.haf_placement import build_policy, policy_id
from proto import haf_pb2, haf_pb2_grpc
from proto.errors import ConfigError, InputError
from proto.wire import from_proto
from rapp_placement.a1client import A1Error, A1Target, NearRtA1, Pms, Retry, wait_enforced
from rapp_placement.agent import BackendError, ShortlistResult, heuristic_shortlist
from rapp_placement.backends import make_agent
from rapp_placement.candidates import DEFAULT_ELIGIBLE, feasible_candidates
from rapp_placement.critic import WEIGHTS_PATH, Critic, best_action
from rapp_placement.decision import decide

log = logging.getLogger(__name__)


@dataclass
class RappConfig:
    xapp_grpc: str = "127.0.0.1:50051"
    a1_mode: str = "a1p"  # a1p: a near-RT RIC's A1-P v2 | pms: a Non-RT RIC PMS
    a1_url: str = "http://127.0.0.1:10000"
    a1_prefix: str = "auto"  # a1p: /A1-P/v2 (the standard), /a1-p (OSC's older flavour) or auto
    ric_id: str = "ric1"  # PMS only
    service_id: str = "haf-rapp"  # PMS only
    epoch_s: float = 5.0
    agent: str = "heuristic"  # heuristic | embedded[:MODEL] | ollama[:MODEL[@HOST]] | replay:PATH
    llm_deadline_s: float = 2.0
    asynchronous: bool = False  # the shortlist for epoch k+1 is made during epoch k
    examples: str = "none"  # past decisions in the prompt: prioritised | random | none
    pool: str | None = None  # experience pool JSON (default: the shipped seed pool)
    route_policy: str = "dynamic"  # route:EDGE,CLOUD agents: dynamic | edge | cloud | fixed
    route_cost: float = 0.05  # κ, a cloud call's price in decision quality
    lessons: str | None = None  # route: where the cloud's answers are kept (the edge's examples)
    critic: str | None = None  # weights path (default: the shipped critic); "none": no critic
    snapshot_timeout_s: float = 1.0
    push_timeout_s: float = 1.0
    push_retries: int = 3
    enforce_timeout_s: float = 1.0
    keep_policies: int = 8  # older instances this rApp created are deleted
    eligible: tuple[str, ...] = tuple(sorted(DEFAULT_ELIGIBLE))

    @classmethod
    def from_dict(cls, d: Any) -> RappConfig:
        """A validated config; :class:`ConfigError` names the first bad field."""
        if not isinstance(d, dict):
            raise ConfigError("rApp config: must be a JSON object")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(map(str, set(d) - known))
        if unknown:
            raise ConfigError(f"rApp config: unknown field(s) {', '.join(unknown)}")
        defaults = cls()
        for name, value in d.items():
            want = type(getattr(defaults, name))
            if name in ("critic", "pool", "lessons"):
                ok = value is None or (isinstance(value, str) and len(value) <= 4096)
            elif want is bool:
                ok = isinstance(value, bool)
            elif want is float:
                ok = isinstance(value, int | float) and not isinstance(value, bool)
                ok = ok and math.isfinite(value) and 0 <= value <= 86400
            elif want is int:
                ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 1000
            elif want is tuple:
                ok = isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
            else:
                ok = isinstance(value, want) and len(value) <= 2048
            if not ok:
                raise ConfigError(
                    f"rApp config: {name}: {value!r:.80} is not a valid {want.__name__}"
                )
        cfg = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
        if cfg.a1_mode not in ("a1p", "pms"):
            raise ConfigError(f"rApp config: a1_mode must be a1p or pms, not {cfg.a1_mode!r}")
        if cfg.epoch_s <= 0 or cfg.llm_deadline_s <= 0:
            raise ConfigError("rApp config: epoch_s and llm_deadline_s must be positive")
        if cfg.route_policy not in ("dynamic", "edge", "cloud", "fixed"):
            raise ConfigError(
                "rApp config: route_policy must be dynamic, edge, cloud or fixed, "
                f"not {cfg.route_policy!r}"
            )
        if cfg.examples not in ("prioritised", "random", "none"):
            raise ConfigError(
                f"rApp config: examples must be prioritised, random or none, not {cfg.examples!r}"
            )
        return cfg


@dataclass
class EpochResult:
    epoch: int
    outcome: str  # noop | migrated | already-decided | refused | push-failed | no-snapshot
    choice: str = "noop"
    source: str = ""
    critic_score: float | None = None
    duration_s: float = 0.0
    detail: str = ""
    scores: dict[str, float] = field(default_factory=dict)
    shortlist: list[str] = field(default_factory=list)


class RappMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.epoch_s = Histogram(
            "haf_rapp_epoch_seconds",
            "Wall time of one placement epoch",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
            registry=r,
        )
        self.epochs = Counter("haf_rapp_epochs", "Epochs by outcome", ["outcome"], registry=r)
        self.llm_s = Histogram(
            "haf_rapp_llm_seconds",
            "Latency of the agent's LLM call",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
            registry=r,
        )
        self.fallbacks = Counter(
            "haf_rapp_llm_fallbacks", "Heuristic fallbacks by reason", ["reason"], registry=r
        )
        self.critic = Gauge(
            "haf_rapp_critic_score", "Critic's J of the chosen action (last epoch)", registry=r
        )
        self.push_s = Histogram(
            "haf_rapp_a1_push_seconds",
            "A1 push latency (PUT until ENFORCED)",
            buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
            registry=r,
        )
        self.a1_errors = Counter(
            "haf_rapp_a1_errors", "A1 errors by HTTP status (0: transport)", ["status"], registry=r
        )
        self.migrations = Counter(
            "haf_rapp_migrations", "Migrations issued (policies ENFORCED)", registry=r
        )
        self.refusals = Counter(
            "haf_rapp_a1_refusals",
            "Policies the RIC did not enforce, by enforceReason",
            ["reason"],
            registry=r,
        )
        self.routes = Counter(
            "haf_rapp_route_decisions",
            "Routed agent: whose answer each epoch used (edge, cloud, cloud-late)",
            ["route"],
            registry=r,
        )
        self.agent_calls = Counter(
            "haf_rapp_agent_calls",
            "LLM calls by backend and outcome (ok, late, error)",
            ["backend", "outcome"],
            registry=r,
        )


def make_target(cfg: RappConfig, transport=None) -> A1Target:
    retry = Retry(cfg.push_retries, 0.1, cfg.push_timeout_s)
    if cfg.a1_mode == "pms":
        return Pms(cfg.a1_url, cfg.ric_id, cfg.service_id, retry=retry, transport=transport)
    return NearRtA1(cfg.a1_url, retry=retry, transport=transport, prefix=cfg.a1_prefix)


class RappService:
    def __init__(
        self,
        cfg: RappConfig,
        target: A1Target | None = None,
        metrics: RappMetrics | None = None,
    ) -> None:
        self.cfg = cfg
        self.target = target or make_target(cfg)
        self.metrics = metrics or RappMetrics()
        # Asynchronous: the call has the whole epoch; the wait at the next epoch has the budget.
        budget = cfg.epoch_s if cfg.asynchronous else cfg.llm_deadline_s
        route = {"policy": cfg.route_policy, "cost": cfg.route_cost, "budget_s": budget}
        if cfg.lessons:
            route["lessons"] = cfg.lessons
        self.agent = make_agent(
            cfg.agent,
            cfg.epoch_s,
            deadline_s=budget,
            examples=cfg.examples,
            pool=cfg.pool,
            route=route,
        )
        if hasattr(self.agent, "on_route"):  # a routed agent: count every route decision
            self.agent.on_route = self._count_route
        warm = getattr(self.agent.backend, "warm", None)
        if warm is not None:  # load the model before the first epoch's deadline runs
            try:
                warm()
            except BackendError as exc:  # the epochs fall back and say why
                log.error("agent model not loaded: %s", exc)
        self._thinker = ThreadPoolExecutor(1, "rapp-agent") if cfg.asynchronous else None
        self._next: Future | None = None
        self.critic = (
            None if cfg.critic == "none" else Critic.load(Path(cfg.critic or WEIGHTS_PATH))
        )
        self.channel = grpc.insecure_channel(cfg.xapp_grpc)
        self.state = haf_pb2_grpc.StateServiceStub(self.channel)
        self.lock = threading.Lock()  # one epoch at a time
        self.type_ready = False
        self.issued: list[str] = []
        self.last: EpochResult | None = None
        self.history: list[EpochResult] = []

    # --- one epoch ----------------------------------------------------------------------------
    def run_epoch(self, epoch: int) -> EpochResult:
        with self.lock:
            t0 = time.perf_counter()
            res = self._epoch(epoch)
            res.duration_s = time.perf_counter() - t0
            self.metrics.epoch_s.observe(res.duration_s)
            self.metrics.epochs.labels(res.outcome).inc()
            self.last = res
            self.history.append(res)
            log.info("epoch %d: %s %s %s", epoch, res.outcome, res.choice, res.detail)
            return res

    def _epoch(self, epoch: int) -> EpochResult:
        try:
            msg = self.state.GetSnapshot(
                haf_pb2.SnapshotRequest(), timeout=self.cfg.snapshot_timeout_s
            )
        except grpc.RpcError as exc:
            return EpochResult(epoch, "no-snapshot", detail=f"xApp: {exc.code().name}")
        if msg.epoch >= epoch:
            # The xApp already applied a policy of this epoch (we pushed it, then restarted).
            return EpochResult(epoch, "already-decided", detail=f"xApp at epoch {msg.epoch}")
        try:
            snap = replace(from_proto(msg), epoch=epoch)  # the prompt is seeded by the epoch k
        except InputError as exc:
            return EpochResult(epoch, "no-snapshot", detail=f"xApp: {exc}")
        cands = feasible_candidates(snap, self.cfg.eligible)
        prepared = self._prepared(snap, cands) if self._thinker is not None else None
        d = decide(self.agent, self.critic, snap, cands, self.cfg.epoch_s, prepared)
        if self.critic is not None and hasattr(self.agent, "on_route"):
            # The router learns each agent's quality from the critic's best over all.
            self.agent.feedback(best_action(self.critic, snap, cands, self.cfg.epoch_s).cid)
        if self._thinker is not None:  # think about epoch k+1 on this snapshot
            self._next = self._thinker.submit(self.agent.shortlist, snap, cands, epoch)
        if d.source == "llm" or d.source == "fallback":
            self.metrics.llm_s.observe(d.llm_latency_s)
        if d.source == "fallback":
            self.metrics.fallbacks.labels(d.error.split(":")[0] or "unknown").inc()
        score = d.scores.get(d.choice.cid)
        if score is not None:
            self.metrics.critic.set(score)
        res = EpochResult(
            epoch, "noop", d.choice.cid, d.source, score, scores=d.scores, shortlist=d.shortlist
        )
        if d.choice.is_noop:
            return res
        policy = build_policy(epoch, [(d.choice.instance_id, d.choice.dst)], "haf-rapp")  # type: ignore[list-item]
        return self._push(res, policy)

    def _count_route(self, rec) -> None:
        m = self.metrics
        m.routes.labels(rec.route).inc()
        edge_name = self.agent.backend.name if self.agent.backend is not None else "heuristic"
        edge = self.agent.edge_result
        edge_ok = edge is not None and edge.source == "llm"
        m.agent_calls.labels(edge_name, "ok" if edge_ok else "error").inc()
        if rec.route != "edge":
            late = rec.error.startswith("deadline")
            outcome = "ok" if rec.route == "cloud" else "late" if late else "error"
            m.agent_calls.labels(self.agent.cloud.name, outcome).inc()

    def _prepared(self, snap, cands) -> ShortlistResult:
        """The shortlist made during the last epoch, or the heuristic's (saying why)."""
        fut, self._next = self._next, None
        if fut is not None:
            try:
                return fut.result(timeout=self.cfg.llm_deadline_s)
            except FutureTimeout:
                why = f"async: not ready within {self.cfg.llm_deadline_s:g} s"
            except Exception as exc:  # the agent never raises; a bug must not stop the epoch
                why = f"async: {type(exc).__name__}: {exc}"
        else:
            why = "async: nothing prepared (first epoch)"
        ids = heuristic_shortlist(snap, cands, self.agent.k, self.cfg.epoch_s)
        return ShortlistResult(ids, "fallback", "heuristic", 0.0, error=why)

    def _push(self, res: EpochResult, policy: dict[str, Any]) -> EpochResult:
        pid = policy_id(res.epoch)
        t0 = time.perf_counter()
        try:
            if not self.type_ready:
                self.target.ensure_type()
                self.type_ready = True
            self.target.put(pid, policy)
            st = wait_enforced(self.target, pid, self.cfg.enforce_timeout_s)
        except A1Error as exc:
            self.metrics.a1_errors.labels(str(exc.status or 0)).inc()
            log.error("epoch %d: A1 push of %s failed: %s", res.epoch, pid, exc)
            res.outcome, res.detail = "push-failed", str(exc)
            return res
        self.metrics.push_s.observe(time.perf_counter() - t0)
        if st.get("enforceStatus") != "ENFORCED":
            # The xApp's reason reaches us only where the path carries it (the standalone
            # endpoint's detail; a Go mediator says OTHER_REASON): log and count what came.
            reason = str(st.get("enforceReason") or st.get("enforceStatus") or "unknown")
            self.metrics.refusals.labels(reason).inc()
            log.warning("epoch %d: %s not enforced: %s", res.epoch, pid, json.dumps(st))
            res.outcome, res.detail = "refused", json.dumps(st)
            return res
        self.metrics.migrations.inc()
        res.outcome = "migrated"
        self.issued.append(pid)
        self._collect_old()
        return res

    def _collect_old(self) -> None:
        """Delete this rApp's instances beyond the newest ``keep_policies`` (they are applied
        orders; the xApp's placement does not depend on them staying)."""
        while len(self.issued) > self.cfg.keep_policies:
            pid = self.issued.pop(0)
            try:
                self.target.delete(pid)
            except A1Error as exc:
                log.warning("could not delete old policy %s: %s", pid, exc)

    # --- timer loop ---------------------------------------------------------------------------
    def run_forever(self, stop: threading.Event, clock=time.time) -> None:
        """Epoch ``floor(t / epoch_s)`` at each boundary of the wall clock, until ``stop``."""
        while not stop.is_set():
            now = clock()
            epoch = int(now // self.cfg.epoch_s)
            self.run_epoch(epoch)
            stop.wait(max((epoch + 1) * self.cfg.epoch_s - clock(), 0.0))

    def close(self) -> None:
        if self._thinker is not None:
            self._thinker.shutdown(wait=False, cancel_futures=True)
        self.channel.close()


_EPOCH = re.compile(r"^/epochs/(\d{1,12})/?$")


class RappHttp:
    """``/metrics`` (Prometheus), ``/status`` (JSON) and ``POST /epochs/{k}`` (trigger)."""

    def __init__(self, service: RappService, address: str = "127.0.0.1", port: int = 8090):
        svc = service

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, fmt: str, *args) -> None:
                log.debug("%s " + fmt, self.address_string(), *args)

            def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path == "/metrics":
                    self._send(200, generate_latest(svc.metrics.registry), CONTENT_TYPE_LATEST)
                elif self.path in ("/status", "/health"):
                    last = asdict(svc.last) if svc.last else None
                    body = {"status": "OK", "last_epoch": last, "epochs": len(svc.history)}
                    self._send(200, json.dumps(body).encode())
                elif self.path == "/epochs":  # every epoch's decision (haf up --show-decisions)
                    rows = [asdict(r) for r in svc.history[-1000:]]
                    self._send(200, json.dumps(rows).encode())
                else:
                    self._send(404, b'{"detail": "no such resource"}')

            def do_POST(self) -> None:
                m = _EPOCH.match(self.path)
                if m is None:
                    self._send(404, b'{"detail": "POST /epochs/{k}"}')
                    return
                res = svc.run_epoch(int(m.group(1)))
                self._send(200, json.dumps(asdict(res)).encode())

        self.httpd = ThreadingHTTPServer((address, port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> int:
        self.thread.start()
        return self.port

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
