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
from rapp_placement.critic import DEFAULT_CLASS_WEIGHTS, Critic
from rapp_placement.decision import decide
from rapp_placement.experience import experience_of

if TYPE_CHECKING:
    from airan_twin.twin import Twin

#: Seconds after a decision at which its outcome is read (the critic's label window).
LEARN_WINDOW_S = 15.0


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
    ):
        self.agent = agent
        self.critic = critic
        self.epoch_s = epoch_s
        self.asynchronous = asynchronous
        self.vetoes = 0  # epochs where the shortlist held a migration and the critic kept the no-op
        self.epochs: list[dict] = []
        self.learned = 0
        self._next: ShortlistResult | None = None
        self._pending: list[tuple] = []  # (t, outcomes at t, snap, choice, adv, j_noop)
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
        self._learn(snap, d)
        self.vetoes += d.vetoed
        best = self._critic_best(snap, candidates)
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
            }
        )
        return None if d.choice.is_noop else d.choice

    def _critic_best(self, snap: Snapshot, candidates: list[Candidate]) -> str:
        """What the critic would commit over every candidate (the agent's quality measure)."""
        if self.critic is None:
            return "noop"
        pool = sorted(candidates, key=lambda c: not c.is_noop)
        k, _ = self.critic.choose(snap, pool, self.epoch_s)
        return pool[k].cid

    def _learn(self, snap: Snapshot, d) -> None:
        """Experience from decisions whose window has passed; queue this one."""
        if self.agent.pool is None or self.twin is None or self.critic is None:
            return
        from airan_twin.critic_data import window_outcomes
        from rapp_placement.critic_train import realised_j

        now = window_outcomes(self.twin)
        while self._pending and snap.time >= self._pending[0][0] + LEARN_WINDOW_S:
            _, before, s0, choice, adv, j_noop = self._pending.pop(0)
            diff = now - before
            n = diff.sum(axis=1)
            y = np.where(n > 0, diff[:, 0] / np.maximum(n, 1), 0.0)
            w = np.asarray(DEFAULT_CLASS_WEIGHTS)
            j_obs = float(realised_j(y[None], (n > 0)[None], w)[0])
            self.agent.learn(
                experience_of(s0, choice, 100 * (j_obs - j_noop), 100 * adv, self.epoch_s)
            )
            self.learned += 1
        j_noop = d.scores.get("noop")
        if j_noop is not None:
            adv = d.advantage.get(d.choice.cid, (0.0, 0.0))[0]
            self._pending.append((snap.time, now, snap, d.choice, adv, j_noop))

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
        return {
            "agent": self.agent.name,
            "calls": st.calls,
            "fallbacks": st.fallbacks,
            "fallback_reasons": dict(st.reasons),
            "critic_vetoes": self.vetoes,
            "asynchronous": self.asynchronous,
            "learned": self.learned,
            "examples": self.agent.example_mode if self.agent.pool is not None else "none",
            "chosen_positions": {str(k): v for k, v in sorted(st.positions.items())},
            "epochs": self.epochs,
        }


class HafCriticOnly(Method):
    """The critic alone (ablation): it scores every feasible candidate — no agent, no
    shortlist — and the critic's commit rule takes the best or the no-op."""

    name = "haf-critic-only"
    allocation = "haf"
    dispatch = "least-backlog"

    def __init__(self, critic: Critic, epoch_s: float = 5.0) -> None:
        self.critic = critic
        self.epoch_s = epoch_s
        self.scored = 0

    def decide(self, snap: Snapshot, candidates: list[Candidate]) -> Candidate | None:
        pool = sorted(candidates, key=lambda c: not c.is_noop)  # the no-op first (stable)
        k, _ = self.critic.choose(snap, pool, self.epoch_s)
        self.scored += len(pool)
        return None if pool[k].is_noop else pool[k]

    def summary(self) -> dict:
        return {"agent": "none (critic over all candidates)", "scored": self.scored}


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
) -> Haf:
    c = _load_critic(critic) if use_critic else None
    a = make_agent(agent, epoch_s, log, None, examples, pool, epsilon, agent_seed)
    return Haf(a, c, epoch_s, asynchronous)


def _load_critic(path: str | Path | None) -> Critic:
    from rapp_placement.critic import WEIGHTS_PATH

    return Critic.load(path or WEIGHTS_PATH)


AGENT_OPTIONS = ("agent", "log", "examples", "pool", "epsilon", "asynchronous", "agent_seed")
register(
    "haf",
    _make,
    "LLM shortlist + critic (eqs. 11-12), HAF allocator",
    options=(*AGENT_OPTIONS, "critic"),
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
    lambda epoch_s, critic=None: HafCriticOnly(_load_critic(critic), epoch_s),
    "the critic scores every feasible candidate, no agent (ablation of the agent)",
    options=("critic",),
    order=62,
)
