"""One placement epoch's decision (spec §3.3): shortlist, critic scores, eq. (11) argmax.

Shared by the twin's HAF method and the rApp service, so both decide alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from proto.observation import Snapshot
from rapp_placement.agent import PlacementAgent, ShortlistResult
from rapp_placement.candidates import NOOP, Candidate
from rapp_placement.critic import Critic


def select_action(pool: Sequence[Candidate], scores: Sequence[float]) -> Candidate:
    """Eq. (11): the argmax of J over ``pool``; ties go to the earliest (the no-op is first)."""
    best = int(np.argmax(np.asarray(scores)))  # first maximum
    return pool[best]


@dataclass
class Decision:
    choice: Candidate
    shortlist: list[str]
    source: str  # the agent's: llm | heuristic | fallback
    scores: dict[str, float] = field(default_factory=dict)  # the critic's J per scored action
    llm_latency_s: float = 0.0
    error: str = ""
    #: the critic's advantage over the no-op per scored action: (ensemble mean, sd)
    advantage: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def vetoed(self) -> bool:
        """The shortlist held a migration and the critic kept the no-op."""
        return self.choice.is_noop and len(self.scores) > 1


def decide(
    agent: PlacementAgent,
    critic: Critic | None,
    snap: Snapshot,
    candidates: list[Candidate],
    epoch_s: float,
    prepared: ShortlistResult | None = None,
) -> Decision:
    """The agent shortlists ≤ K candidates; the critic scores the shortlist and the no-op,
    which is always scored (12); its commit rule (:func:`~rapp_placement.critic.commit_index`:
    the best advantage over the no-op, less κ ensemble sds, must exceed the margin) chooses.
    Without a critic (HAF-NoCritic) the shortlist's first element is chosen.

    ``prepared``: a shortlist the agent made earlier (asynchronous mode: on the previous
    epoch's snapshot); its ids that are no longer feasible are dropped."""
    by_id = {c.cid: c for c in candidates}
    res = prepared if prepared is not None else agent.shortlist(snap, candidates, seed=snap.epoch)
    short = [by_id[i] for i in res.shortlist if i in by_id]
    if critic is None:
        choice = short[0] if short else by_id[NOOP]
        return Decision(choice, res.shortlist, res.source, {}, res.latency_s, res.error)
    pool = [by_id[NOOP], *(c for c in short if not c.is_noop)]
    k, a = critic.choose(snap, pool, epoch_s)
    return Decision(
        pool[k],
        res.shortlist,
        res.source,
        {c.cid: float(s) for c, s in zip(pool, a.j, strict=True)},
        res.latency_s,
        res.error,
        {c.cid: (float(m), float(sd)) for c, m, sd in zip(pool, a.adv, a.adv_sd, strict=True)},
    )
