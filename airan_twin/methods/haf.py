"""HAF (spec §3): LLM shortlist, critic selection (11)–(12), HAF allocator; and HAF-NoCritic."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from airan_twin.methods.base import Method, register
from proto.observation import Snapshot
from rapp_placement.agent import PlacementAgent, ShortlistResult
from rapp_placement.backends import make_agent
from rapp_placement.candidates import Candidate
from rapp_placement.critic import DEFAULT_CLASS_WEIGHTS, Critic, best_action, features
from rapp_placement.critic_online import OnlineCritic
from rapp_placement.decision import decide
from rapp_placement.experience import experience_of

if TYPE_CHECKING:
    from airan_twin.twin import Twin


class Outcomes:
    """Decisions waiting for their label window (the critic's: ``default_label_window``).
    Each matured one gives ``y``, the realised fulfilment of each class over the requests that
    ended in the window, and ``m``, which classes had any — the critic's label (eq. 10)."""

    def __init__(self) -> None:
        self.pending: list[tuple[float, np.ndarray, object]] = []
        self.window_s: float | None = None

    def push(self, twin: Twin, payload: object) -> None:
        from airan_twin.critic_data import window_outcomes

        self.pending.append((twin.now, window_outcomes(twin), payload))

    def matured(self, twin: Twin) -> list[tuple[object, np.ndarray, np.ndarray]]:
        from airan_twin.critic_data import default_label_window, window_outcomes

        if self.window_s is None:
            self.window_s = default_label_window(twin.sc)
        out = []
        now = window_outcomes(twin)
        while self.pending and twin.now >= self.pending[0][0] + self.window_s - 1e-9:
            _, before, payload = self.pending.pop(0)
            diff = now - before
            n = diff.sum(axis=1)
            out.append((payload, np.where(n > 0, diff[:, 0] / np.maximum(n, 1), 0.0), n > 0))
        return out


class Haf(Method):
    """Every epoch: the agent shortlists ≤ K candidates; the critic scores the shortlist and the
    no-op, which is always scored (12), and the best is committed. Without a critic
    (HAF-NoCritic) the shortlist's first element is committed.

    ``asynchronous``: the shortlist used at epoch k was made on epoch k−1's snapshot (what the
    rApp does when the model needs longer than the decision budget: it thinks during the
    epoch); the first epoch uses the heuristic. With an experience pool, every committed
    decision is learned from once its label window has passed: the outcome is the J the
    twin observed over the window minus the critic's J of the no-op at decision time (the
    counterfactual no one observes), the surprise its difference to the predicted advantage."""

    name = "haf"
    allocation = "haf"
    dispatch = "least-backlog"

    def __init__(
        self,
        agent: PlacementAgent,
        critic: Critic | None,
        epoch_s: float = 5.0,
        asynchronous: bool = False,
        online: OnlineCritic | None = None,
    ):
        self.agent = agent
        self.critic = critic
        self.epoch_s = epoch_s
        self.asynchronous = asynchronous
        self.vetoes = 0  # epochs where the shortlist held a migration and the critic kept the no-op
        self.epochs: list[dict] = []
        self.learned = 0
        self._next: ShortlistResult | None = None
        self.outcomes = Outcomes()
        self.online = online  # the critic learning on line (critic_online.py), if on
        self.twin: Twin | None = None
        if critic is None:
            self.name = "haf-nocritic"

    def attach(self, twin: Twin) -> None:
        self.twin = twin

    def _prepared(self, snap: Snapshot, candidates: list[Candidate]) -> ShortlistResult | None:
        if not self.asynchronous:
            return None
        if self._next is None:  # first epoch: nothing prepared yet
            from rapp_placement.agent import heuristic_shortlist

            ids = heuristic_shortlist(snap, candidates, self.agent.k, self.epoch_s)
            return ShortlistResult(ids, "heuristic", "heuristic (first epoch)", 0.0)
        return self._next

    def decide(self, snap: Snapshot, candidates: list[Candidate]) -> Candidate | None:
        prepared = self._prepared(snap, candidates)
        d = decide(self.agent, self.critic, snap, candidates, self.epoch_s, prepared)
        if self.asynchronous:  # think about the next epoch with the latest snapshot
            self._next = self.agent.shortlist(snap, candidates, seed=snap.epoch)
        route = getattr(self.agent, "last_route", None)
        self._learn(snap, d, route.route if route is not None else "")
        self.vetoes += d.vetoed
        best = self._critic_best(snap, candidates)
        self.agent.feedback(best)
        # Every epoch's decision, for `haf sim --show-decisions` and the run's JSON.
        self.epochs.append(
            {
                "epoch": snap.epoch,
                "t": round(snap.time, 3),
                "source": d.source,
                "shortlist": d.shortlist,
                "j": {k: round(v, 4) for k, v in d.scores.items()},
                "advantage": {k: [round(m, 4), round(sd, 4)] for k, (m, sd) in d.advantage.items()},
                "committed": d.choice.cid,
                "critic_best": best,
                "examples": len(self.agent.last.examples) if self.agent.last else 0,
                "explored": self.agent.last.explored if self.agent.last else "",
                **({"route": _route_row(route)} if route is not None else {}),
            }
        )
        return None if d.choice.is_noop else d.choice

    def _critic_best(self, snap: Snapshot, candidates: list[Candidate]) -> str:
        """What the critic would commit over every candidate (the agent's quality measure)."""
        if self.critic is None:
            return "noop"
        return best_action(self.critic, snap, candidates, self.epoch_s).cid

    def _learn(self, snap: Snapshot, d, routed: str = "") -> None:
        """Experience (for the agent's pool) and critic samples (online critic) from decisions
        whose label window has passed; queue this one."""
        if self.twin is None or self.critic is None:
            return
        if self.agent.pool is None and self.online is None:
            return
        from rapp_placement.critic_train import realised_j

        w = np.asarray(DEFAULT_CLASS_WEIGHTS)
        for (s0, choice, adv, j_noop, routed0), y, m in self.outcomes.matured(self.twin):
            if self.online is not None:
                self.online.observe(features(s0, choice, self.epoch_s), y, m)
            j_obs = float(realised_j(y[None], m[None], w)[0])
            self.agent.learn(
                experience_of(s0, choice, 100 * (j_obs - j_noop), 100 * adv, self.epoch_s),
                routed0,
            )
            self.learned += 1
        j_noop = d.scores.get("noop")
        if j_noop is not None:
            adv = d.advantage.get(d.choice.cid, (0.0, 0.0))[0]
            self.outcomes.push(self.twin, (snap, d.choice, adv, j_noop, routed))

    @property
    def last(self) -> dict:
        """The latest epoch's shortlist, agent source and (with a critic) J per scored action."""
        if not self.epochs:
            return {}
        e = self.epochs[-1]
        out = {"shortlist": e["shortlist"], "source": e["source"]}
        if self.critic is not None:
            out["scores"] = e["j"]
        return out

    def summary(self) -> dict:
        st = self.agent.stats
        routing = getattr(self.agent, "route_summary", None)
        return {
            **({"routing": routing()} if routing is not None else {}),
            "agent": self.agent.name,
            "calls": st.calls,
            "fallbacks": st.fallbacks,
            "fallback_reasons": dict(st.reasons),
            "critic_vetoes": self.vetoes,
            **({"critic_online": self.online.summary()} if self.online is not None else {}),
            "asynchronous": self.asynchronous,
            "learned": self.learned,
            "examples": self.agent.example_mode if self.agent.pool is not None else "none",
            "chosen_positions": {str(k): v for k, v in sorted(st.positions.items())},
            "epochs": self.epochs,
        }


def _route_row(r) -> dict:
    """An epoch's routing, rounded for the run's JSON."""
    return {
        "route": r.route,
        "confidence": round(r.confidence, 4),
        "q_edge": round(r.q_edge, 4),
        "threshold": round(r.threshold, 4) if r.threshold > -1e9 else None,
        "p_in_time": round(r.p_in_time, 4),
        "edge_s": round(r.edge_s, 3),
        "cloud_s": round(r.cloud_s, 3),
        "total_s": round(r.total_s, 3),
        "edge_top": r.edge_top,
        "cloud_top": r.cloud_top,
    }


class HafCriticOnly(Method):
    """The critic alone (ablation): it scores every feasible candidate — no agent, no
    shortlist — and the critic's commit rule takes the best or the no-op. With ``online`` the
    critic learns from each decision's realised outcome (critic_online.py)."""

    name = "haf-critic-only"
    allocation = "haf"
    dispatch = "least-backlog"

    def __init__(self, critic: Critic, epoch_s: float = 5.0, online: OnlineCritic | None = None):
        self.critic = critic
        self.epoch_s = epoch_s
        self.scored = 0
        self.online = online
        self.outcomes = Outcomes()
        self.twin: Twin | None = None
        self.epochs: list[dict] = []

    def attach(self, twin: Twin) -> None:
        self.twin = twin

    def decide(self, snap: Snapshot, candidates: list[Candidate]) -> Candidate | None:
        choice = best_action(self.critic, snap, candidates, self.epoch_s)
        self.scored += len(candidates)
        if self.online is not None and self.twin is not None:
            for (s0, c0), y, m in self.outcomes.matured(self.twin):
                self.online.observe(features(s0, c0, self.epoch_s), y, m)
            self.outcomes.push(self.twin, (snap, choice))
        self.epochs.append({"epoch": snap.epoch, "committed": choice.cid})
        return None if choice.is_noop else choice

    def summary(self) -> dict:
        out: dict = {"agent": "none (critic over all candidates)", "scored": self.scored}
        if self.online is not None:
            out["critic_online"] = self.online.summary()
        return out


def _make(
    epoch_s: float,
    agent: str = "heuristic",
    critic: str | Path | None = None,
    log: str | Path | None = None,
    use_critic: bool = True,
    examples: str = "none",
    pool: str | Path | None = None,
    epsilon: float = 0.0,
    asynchronous: bool = False,
    agent_seed: int = 0,
    route: dict | None = None,
    critic_online: bool = False,
    critic_checkpoints: str | Path | None = None,
) -> Haf:
    c = _load_critic(critic) if use_critic else None
    a = make_agent(agent, epoch_s, log, None, examples, pool, epsilon, agent_seed, route)
    return Haf(a, c, epoch_s, asynchronous, _online(c, critic_online, critic_checkpoints))


def _online(c: Critic | None, on: bool, checkpoints, seed: int = 0) -> OnlineCritic | None:
    if not on or c is None:
        return None
    from rapp_placement.critic_online import OnlineConfig

    return OnlineCritic(c, OnlineConfig(seed=seed), checkpoints)


def _make_critic_only(
    epoch_s: float,
    critic: str | Path | None = None,
    critic_online: bool = False,
    critic_checkpoints: str | Path | None = None,
) -> HafCriticOnly:
    c = _load_critic(critic)
    return HafCriticOnly(c, epoch_s, _online(c, critic_online, critic_checkpoints))


def _load_critic(path: str | Path | None) -> Critic:
    from rapp_placement.critic import WEIGHTS_PATH

    return Critic.load(path or WEIGHTS_PATH)


AGENT_OPTIONS = (
    "agent",
    "log",
    "examples",
    "pool",
    "epsilon",
    "asynchronous",
    "agent_seed",
    "route",
)
register(
    "haf",
    _make,
    "LLM shortlist + critic (eqs. 11-12), HAF allocator",
    options=(*AGENT_OPTIONS, "critic", "critic_online", "critic_checkpoints"),
    order=60,
)
register(
    "haf-nocritic",
    lambda epoch_s, **kw: _make(epoch_s, use_critic=False, **kw),
    "the agent's first shortlisted action, no critic (Table II)",
    options=AGENT_OPTIONS,
    order=61,
)
register(
    "haf-critic-only",
    _make_critic_only,
    "the critic scores every feasible candidate, no agent (ablation of the agent)",
    options=("critic", "critic_online", "critic_checkpoints"),
    order=62,
)
