"""Frozen vs online critic under a distribution shift (issue 15; `haf critic shift`).

The shipped critic was trained on the conv-like workload over generated topologies. Here it is
deployed where it was not trained — the code trace, on the paper testbed and on a topology
drawn from a seed no dataset used — once frozen and once learning on line (critic_online.py),
each deciding alone over every candidate (``haf-critic-only``, so the critic is all that
differs). Every epoch the oracle's view is taken too: the twin is forked once per feasible
candidate and the label window rolled out, and the **regret** of the critic's choice is the best
realised J minus its own (J points), on every ``every``-th epoch over the no-op, every AI-service
move and the critic's own choice (the oracle's ``ai_only`` pool: rollouts cost ~0.5 s each on
the code trace here). Reported per block of 50 epochs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from airan_twin.methods.base import Method
from airan_twin.methods.oracle import Oracle
from proto.observation import Snapshot
from rapp_placement.candidates import Candidate


class RegretProbe(Method):
    """Runs ``inner`` and, every epoch, the oracle's rollouts of every candidate: the regret
    of ``inner``'s choice. The rollouts never change the run (they are forks)."""

    def __init__(self, inner: Method, workers: int | None = None, every: int = 1) -> None:
        self.inner = inner
        self.name = inner.name
        self.allocation = inner.allocation
        self.dispatch = inner.dispatch
        # The oracle's pool: the no-op, every AI-service move and the critic's own choice
        # (RAN moves are rolled out only when chosen): ~3x fewer rollouts on the testbed.
        self.oracle = Oracle(workers=workers, ai_only=True)
        self.every = every  # judge every k-th epoch (rollouts cost ~0.5 s each here)
        self.regret: list[tuple[int, float]] = []  # (epoch, regret in J points)
        self._k = 0

    def attach(self, twin) -> None:
        self.inner.attach(twin)
        self.oracle.attach(twin)

    def decide(self, snap: Snapshot, candidates: list[Candidate]) -> Candidate | None:
        if self.oracle._inside:  # a rollout's own epochs decide nothing
            return None
        choice = self.inner.decide(snap, candidates)
        self._k += 1
        if (self._k - 1) % self.every:
            return choice
        cid = "noop" if choice is None else choice.cid
        ai = ("large-ai", "small-ai")
        pool = [
            c
            for c in sorted(candidates, key=lambda c: not c.is_noop)
            if c.is_noop or c.cid == cid or snap.instance(c.instance_id).category in ai  # type: ignore[arg-type]
        ]
        scores = self.oracle.evaluate(pool)
        mine = next(s for c, s in zip(pool, scores, strict=True) if c.cid == cid)
        self.regret.append((snap.epoch, 100 * (max(scores) - mine)))
        return choice

    def summary(self) -> dict:
        return {**self.inner.summary(), "rollouts": self.oracle.rollouts}


@dataclass
class ShiftRow:
    setting: str
    critic: str  # frozen | online
    epochs: int
    regret_blocks: list[float]  # mean regret per 50 epochs, J points
    regret_mean: float
    overall: float  # fulfilment of the run, %
    online: dict = field(default_factory=dict)


def run(
    setting: str,
    sc,
    trace: str | Path | None,
    online: bool,
    seed: int,
    horizon: float,
    block: int = 50,
    checkpoints: Path | None = None,
    progress: Callable[[float], None] | None = None,
    every: int = 5,
) -> ShiftRow:
    from airan_twin.methods import make_method
    from airan_twin.run import make_twin

    inner = make_method(
        "haf-critic-only",
        sc.epoch_s,
        critic_online=online,
        critic_checkpoints=str(checkpoints) if checkpoints else None,
    )
    probe = RegretProbe(inner, every=every)
    twin = make_twin(sc, probe, 0.9, seed, horizon, trace)
    twin.run(progress=progress)
    res = twin.result(wall_s=0.0)
    ep = np.asarray([e for e, _ in probe.regret])
    r = np.asarray([x for _, x in probe.regret])
    first = ep.min() if len(ep) else 0
    blocks = (
        [
            float(r[(ep - first) // block == b].mean())
            for b in range(int((ep.max() - first) // block) + 1)
        ]
        if len(ep)
        else []
    )
    summ = inner.summary()
    return ShiftRow(
        setting,
        "online" if online else "frozen",
        int(ep.max() - first + 1) if len(ep) else 0,
        blocks,
        float(r.mean()) if len(r) else float("nan"),
        res.fulfilment.get("overall", float("nan")),
        summ.get("critic_online", {}),
    )
