"""HAF (spec §3): LLM shortlist, critic selection (11)–(12), HAF allocator; and HAF-NoCritic."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from airan_twin.methods.base import Method
from rapp_placement.agent import PlacementAgent
from rapp_placement.candidates import NOOP, Candidate
from rapp_placement.critic import Critic
from rapp_placement.snapshot import Snapshot


def select_action(pool: Sequence[Candidate], scores: Sequence[float]) -> Candidate:
    """Eq. (11): the argmax of J over ``pool``; ties go to the earliest (the no-op is first)."""
    best = int(np.argmax(np.asarray(scores)))  # first maximum
    return pool[best]


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
        self.last: dict = {}
        self.vetoes = 0  # epochs where the shortlist held a migration and the critic kept the no-op
        if critic is None:
            self.name = "haf-nocritic"

    def decide(self, snap: Snapshot, candidates: list[Candidate]) -> Candidate | None:
        by_id = {c.cid: c for c in candidates}
        res = self.agent.shortlist(snap, candidates, seed=snap.epoch)
        short = [by_id[i] for i in res.shortlist if i in by_id]
        if self.critic is None:
            choice = short[0] if short else by_id[NOOP]
            self.last = {"shortlist": res.shortlist, "source": res.source}
        else:
            pool = [by_id[NOOP], *(c for c in short if not c.is_noop)]
            scores = self.critic.score(snap, pool, self.epoch_s)
            choice = select_action(pool, scores)
            if choice.is_noop and len(pool) > 1:
                self.vetoes += 1
            self.last = {
                "shortlist": res.shortlist,
                "source": res.source,
                "scores": {c.cid: float(s) for c, s in zip(pool, scores, strict=True)},
            }
        return None if choice.is_noop else choice

    def summary(self) -> dict:
        st = self.agent.stats
        return {
            "agent": self.agent.name,
            "calls": st.calls,
            "fallbacks": st.fallbacks,
            "fallback_reasons": dict(st.reasons),
            "critic_vetoes": self.vetoes,
            "chosen_positions": {str(k): v for k, v in sorted(st.positions.items())},
        }
