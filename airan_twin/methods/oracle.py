"""The rollout oracle: the bound every placement method is measured against.

At each epoch the oracle forks the twin once per feasible candidate (all of them by default),
applies the candidate to the fork, simulates the label window (default: the critic's,
``critic_data.default_label_window``: 15 s on the paper testbed) with no further decisions, and
commits the candidate whose *realised* objective J (11) — the class fulfilment of the requests
that end in the window, under the same class weights as the critic — is highest (ties to the
no-op, listed first). It sees the future workload, so no causal method can beat it on average;
"regret to oracle" is how far a method is from it.

It is expensive: one rollout of the window per candidate per epoch (about 60–90 candidates on
the paper testbed). Rollouts run in ``workers`` processes forked from the twin at the epoch
(each inherits the state in memory; nothing is pickled but the results), or, with ``ray``
(``local`` or a cluster address), as one Ray task per candidate on a copy of the twin put in
Ray's object store once per epoch (~1 MB pickled on the paper testbed); the scores are the same
floats either way. Options: ``window_s`` (the rollout horizon), ``workers``, ``ray`` and
``ai_only`` — a pruning that evaluates every AI-service move (and the no-op) and no RAN move, so
it provably keeps every AI-service move; the default evaluates all candidates.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from typing import Any

import numpy as np

from airan_twin.methods.base import Method, register
from proto.observation import Snapshot
from rapp_placement.candidates import Candidate
from rapp_placement.critic import DEFAULT_CLASS_WEIGHTS

_TWIN: Any = None  # the twin at the epoch, inherited by forked workers


def _rollout_j(args: tuple[Candidate, float, tuple[float, ...]]) -> float:
    return _rollout_of(_TWIN, *args)


def _rollout_of(twin: Any, cand: Candidate, window: float, weights: tuple[float, ...]) -> float:
    """Realised J (11) of ``cand`` rolled out from ``twin`` for ``window`` seconds."""
    from airan_twin.critic_data import rollout
    from rapp_placement.critic_train import realised_j

    y, m = rollout(twin, cand, window)
    return float(realised_j(y[None], m[None], np.asarray(weights))[0])


_REMOTE: Any = None  # the Ray task of _rollout_of, made once per process


def _ray_rollouts(address: str, workers: int, twin: Any, jobs: list[tuple]) -> list[float]:
    """One Ray task per candidate, on one copy of ``twin`` in the object store."""
    global _REMOTE
    from airan_twin.scale_out import ray_session

    ray = ray_session(address, workers)
    if _REMOTE is None:
        _REMOTE = ray.remote(num_cpus=1)(_rollout_of)
    ref = ray.put(twin)
    return list(ray.get([_REMOTE.remote(ref, *job) for job in jobs]))


class Oracle(Method):
    name = "oracle"
    allocation = "haf"
    dispatch = "least-backlog"

    def __init__(
        self,
        window_s: float | None = None,
        workers: int | None = None,
        ai_only: bool = False,
        weights: tuple[float, float, float] = DEFAULT_CLASS_WEIGHTS,
        ray: str | None = None,
    ) -> None:
        self.window_s = window_s
        self.workers = workers or os.cpu_count() or 1
        self.ray = ray
        self.ai_only = ai_only
        self.weights = weights
        self.twin: Any = None
        self._inside = False  # a rollout's own epochs decide nothing
        self.rollouts = 0
        self.wall_s = 0.0
        self.regret_log: list[dict] = []

    def attach(self, twin: Any) -> None:
        from airan_twin.critic_data import default_label_window

        self.twin = twin
        if self.window_s is None:
            self.window_s = default_label_window(twin.sc)

    def evaluate(self, candidates: list[Candidate]) -> list[float]:
        """Realised J of each candidate from a fork of the twin now (the no-op included)."""
        global _TWIN
        t0 = time.perf_counter()
        jobs = [(c, float(self.window_s), self.weights) for c in candidates]  # type: ignore[arg-type]
        self._inside = True
        _TWIN = self.twin
        try:
            if self.ray:  # the copies carry _inside=True: their own epochs decide nothing
                scores = _ray_rollouts(self.ray, self.workers, self.twin, jobs)
            # A pool's worker (an experiment's run) may not fork children: serial there.
            elif self.workers > 1 and len(jobs) > 1 and not mp.current_process().daemon:
                with mp.get_context("fork").Pool(min(self.workers, len(jobs))) as pool:
                    scores = pool.map(_rollout_j, jobs, chunksize=max(1, len(jobs) // 16))
            else:
                scores = [_rollout_j(j) for j in jobs]
        finally:
            self._inside = False
            _TWIN = None
        self.rollouts += len(jobs)
        self.wall_s += time.perf_counter() - t0
        return scores

    def decide(self, snap: Snapshot, candidates: list[Candidate]) -> Candidate | None:
        if self._inside or self.twin is None:
            return None
        pool = [
            c
            for c in candidates
            if c.is_noop
            or not self.ai_only
            or snap.instance(c.instance_id).category in ("large-ai", "small-ai")  # type: ignore[arg-type]
        ]
        scores = self.evaluate(pool)
        best = int(np.argmax(scores))  # first maximum: the no-op on ties
        self.regret_log.append(
            {
                "epoch": snap.epoch,
                "best": pool[best].cid,
                "j_best": scores[best],
                "j_noop": scores[0],
            }
        )
        return None if pool[best].is_noop else pool[best]

    def summary(self) -> dict:
        return {
            "agent": "oracle (realised J of every candidate)",
            "rollouts": self.rollouts,
            "rollout_wall_s": round(self.wall_s, 2),
            "window_s": self.window_s,
            "workers": self.workers,
            "ray": self.ray,
            "ai_only": self.ai_only,
        }


register(
    "oracle",
    lambda epoch_s, window_s=None, workers=None, ai_only=False, ray=None: Oracle(
        window_s, workers, ai_only, ray=ray
    ),
    "the bound: every candidate rolled out in a fork for the label window, the realised best "
    "committed (expensive)",
    options=("window_s", "workers", "ai_only", "ray"),
    order=90,
)
