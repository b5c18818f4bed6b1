"""HAF (spec §3): LLM shortlist, critic selection (11)–(12), HAF allocator; and HAF-NoCritic."""

from __future__ import annotations

from pathlib import Path

from airan_twin.methods.base import Method, register
from proto.observation import Snapshot
from rapp_placement.agent import PlacementAgent
from rapp_placement.backends import make_agent
from rapp_placement.candidates import Candidate
from rapp_placement.critic import Critic
from rapp_placement.decision import decide


class Haf(Method):
    """Every epoch: the agent shortlists ≤ K candidates; the critic scores the shortlist and the
    no-op, which is always scored (12), and the best is committed. Without a critic
    (HAF-NoCritic) the shortlist's first element is committed."""

    name = "haf"
    allocation = "haf"
    dispatch = "least-backlog"

    def __init__(self, agent: PlacementAgent, critic: Critic | None, epoch_s: float = 5.0):
        self.agent = agent
        self.critic = critic
        self.epoch_s = epoch_s
        self.vetoes = 0  # epochs where the shortlist held a migration and the critic kept the no-op
        self.epochs: list[dict] = []
        if critic is None:
            self.name = "haf-nocritic"

    def decide(self, snap: Snapshot, candidates: list[Candidate]) -> Candidate | None:
        d = decide(self.agent, self.critic, snap, candidates, self.epoch_s)
        self.vetoes += d.vetoed
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
            }
        )
        return None if d.choice.is_noop else d.choice

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
) -> Haf:
    c = _load_critic(critic) if use_critic else None
    return Haf(make_agent(agent, epoch_s, log), c, epoch_s)


def _load_critic(path: str | Path | None) -> Critic:
    from rapp_placement.critic import WEIGHTS_PATH

    return Critic.load(path or WEIGHTS_PATH)


register(
    "haf",
    _make,
    "LLM shortlist + critic (eqs. 11-12), HAF allocator",
    options=("agent", "critic", "log"),
    order=60,
)
register(
    "haf-nocritic",
    lambda epoch_s, **kw: _make(epoch_s, use_critic=False, **kw),
    "the agent's first shortlisted action, no critic (Table II)",
    options=("agent", "log"),
    order=61,
)
register(
    "haf-critic-only",
    lambda epoch_s, critic=None: HafCriticOnly(_load_critic(critic), epoch_s),
    "the critic scores every feasible candidate, no agent (ablation of the agent)",
    options=("critic",),
    order=62,
)
