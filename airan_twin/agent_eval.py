"""Epochs for judging a placement agent offline: each with every candidate's realised outcome.

An agent is judged by what its shortlist *allows*: the critic can only commit what is on it.
:func:`record_epochs` runs the twin under HAF (heuristic agent, shipped critic) and, at every
epoch, forks it once per feasible candidate and records the realised J over the label window
(the rollout oracle's view, as in ``haf critic dataset --samples 0``). :func:`judge` then asks
any agent for a shortlist on each stored snapshot and scores it against those outcomes — no
LLM call happens inside a rollout, so a slow model is measured on real states in minutes.

The file is JSON (snapshot, candidates and realised J per epoch); loading validates it and
names the first bad field.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from airan_twin.critic_data import RunSpec, default_label_window, rollout
from airan_twin.methods.base import Method
from airan_twin.run import make_twin
from airan_twin.scenario import Scenario
from airan_twin.twin import Twin
from proto import safejson
from proto.errors import InputError
from proto.observation import ClassWeights, InstanceView, NodeView, Snapshot
from rapp_placement.agent import PlacementAgent
from rapp_placement.candidates import NOOP, Candidate
from rapp_placement.critic import DEFAULT_CLASS_WEIGHTS, Critic
from rapp_placement.critic_train import realised_j
from rapp_placement.decision import decide


@dataclass
class EvalEpoch:
    run: str
    snap: Snapshot
    candidates: list[Candidate]
    realised: dict[str, float]  # realised J (0..1) of every candidate over the label window

    @property
    def best(self) -> str:
        return max(self.realised, key=lambda c: (self.realised[c], c == NOOP))

    def gain(self, cid: str) -> float:
        """Realised J of ``cid`` minus the no-op's, in points."""
        return 100.0 * (self.realised[cid] - self.realised[NOOP])


class _Recorder(Method):
    """HAF (heuristic agent + critic) that also rolls out every candidate at every epoch."""

    name = "agent-eval-recorder"

    def __init__(self, label: str, window_s: float, start_s: float, stop_s: float, epoch_s: float):
        self.label, self.window_s, self.start_s, self.stop_s = label, window_s, start_s, stop_s
        self.epoch_s = epoch_s
        self.agent = PlacementAgent(None, epoch_s=epoch_s)
        self.critic = Critic.load()
        self.twin: Twin | None = None
        self.epochs: list[EvalEpoch] = []
        self._inside = False
        self.w = np.asarray(DEFAULT_CLASS_WEIGHTS)

    def attach(self, twin: Twin) -> None:
        self.twin = twin

    def decide(self, snap: Snapshot, candidates: list[Candidate]) -> Candidate | None:
        if self.twin is None or self._inside or not self.start_s <= snap.time < self.stop_s:
            return None if self._inside else self._haf(snap, candidates)
        realised = {}
        for c in candidates:
            self._inside = True
            try:
                y, m = rollout(self.twin, c, self.window_s)
            finally:
                self._inside = False
            realised[c.cid] = float(realised_j(y[None], m[None], self.w)[0])
        self.epochs.append(EvalEpoch(self.label, snap, list(candidates), realised))
        return self._haf(snap, candidates)

    def _haf(self, snap: Snapshot, candidates: list[Candidate]) -> Candidate | None:
        d = decide(self.agent, self.critic, snap, candidates, self.epoch_s)
        return None if d.choice.is_noop else d.choice


def record_epochs(
    sc: Scenario, runs: Sequence[RunSpec], horizon: float, start_s: float = 10.0
) -> list[EvalEpoch]:
    out: list[EvalEpoch] = []
    for spec in runs:
        rsc = spec.scenario(sc)
        rec = _Recorder(
            spec.label, default_label_window(rsc), start_s, horizon - rsc.epoch_s, rsc.epoch_s
        )
        twin = make_twin(rsc, rec, spec.rho, spec.seed, horizon, spec.trace, spec.split)
        twin.run(until=horizon)
        out += rec.epochs
    return out


# --- file format ----------------------------------------------------------------------------
def save_epochs(epochs: Sequence[EvalEpoch], path: Path) -> None:
    rows = [
        {
            "run": e.run,
            "snapshot": asdict(e.snap),
            "candidates": [asdict(c) for c in e.candidates],
            "realised": e.realised,
        }
        for e in epochs
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"format": "haf-agent-eval/1", "epochs": rows}))


def snapshot_from_dict(d: dict) -> Snapshot:
    cw = d.get("class_weights")
    return Snapshot(
        float(d["time"]),
        int(d["epoch"]),
        tuple(NodeView(**n) for n in d["nodes"]),
        tuple(InstanceView(**i) for i in d["instances"]),
        ClassWeights(**cw) if cw else None,
    )


def load_epochs(path: Path) -> list[EvalEpoch]:
    doc = safejson.load_file(path, "agent evaluation set")
    if not isinstance(doc, dict) or doc.get("format") != "haf-agent-eval/1":
        raise InputError(f"{path}: not an agent evaluation set (format haf-agent-eval/1)")
    out = []
    for k, row in enumerate(doc.get("epochs", [])):
        try:
            cands = [Candidate(**c) for c in row["candidates"]]
            realised = {str(c): float(v) for c, v in row["realised"].items()}
            if {c.cid for c in cands} != set(realised) or NOOP not in realised:
                raise ValueError("realised outcomes do not match the candidates")
            out.append(
                EvalEpoch(str(row["run"]), snapshot_from_dict(row["snapshot"]), cands, realised)
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{path}: epoch {k}: {type(exc).__name__}: {exc}") from None
    return out


# --- judging an agent -----------------------------------------------------------------------
@dataclass
class Judgement:
    agent: str
    epochs: int = 0
    valid: int = 0  # answers parsed into a non-empty shortlist (no fallback)
    noop_only: int = 0  # shortlists with no migration
    best_in: int = 0  # the realised best (a migration) on the shortlist
    best_is_move: int = 0  # epochs whose realised best is a migration
    gain_critic: list[float] = field(default_factory=list)  # critic's pick from shortlist+no-op
    gain_best_in_list: list[float] = field(default_factory=list)  # best of shortlist + no-op
    gain_oracle: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    positions: Counter = field(default_factory=Counter)
    letters: Counter = field(default_factory=Counter)  # rank of the chosen instance label
    nodes: Counter = field(default_factory=Counter)  # index of the chosen node
    stay_first: int = 0  # answers that put "stay" (the no-op) first
    shortlists: list[list[str]] = field(default_factory=list)  # per epoch, candidate ids

    def row(self) -> dict[str, float | str]:
        n = max(self.epochs, 1)
        med = statistics.median(self.latencies) if self.latencies else float("nan")
        return {
            "agent": self.agent,
            "epochs": self.epochs,
            "valid %": 100 * self.valid / n,
            "no-op only %": 100 * self.noop_only / n,
            "best in list %": 100 * self.best_in / max(self.best_is_move, 1),
            "gain critic pts": float(np.mean(self.gain_critic)) if self.gain_critic else 0.0,
            "gain list-best pts": float(np.mean(self.gain_best_in_list)) if self.epochs else 0.0,
            "gain oracle pts": float(np.mean(self.gain_oracle)) if self.epochs else 0.0,
            "stay first %": 100 * self.stay_first / n,
            "median s": med,
        }


def judge(
    name: str,
    agent: PlacementAgent,
    epochs: Sequence[EvalEpoch],
    critic: Critic | None = None,
    on_epoch: Callable[[int], None] | None = None,
) -> Judgement:
    """Every stored epoch's shortlist from ``agent``, scored against the realised outcomes."""
    critic = critic or Critic.load()
    j = Judgement(name)
    for k, e in enumerate(epochs):
        t0 = time.perf_counter()
        d = decide(agent, critic, e.snap, e.candidates, 5.0)
        j.latencies.append(time.perf_counter() - t0)
        res = agent.last
        j.epochs += 1
        j.valid += res is not None and res.source in ("llm", "heuristic")
        if res is not None and res.source == "llm":
            j.positions.update(res.positions)
            j.stay_first += bool(res.labels) and res.labels[0] == "stay"
            for lab in res.labels:
                if lab != "stay":
                    letters = lab.rstrip("0123456789")
                    j.letters[_letter_rank(letters)] += 1
                    j.nodes[int(lab[len(letters) :])] += 1
        j.shortlists.append(list(d.shortlist))
        moves = [c for c in d.shortlist if c != NOOP]
        j.noop_only += not moves
        best = e.best
        if best != NOOP:
            j.best_is_move += 1
            j.best_in += best in moves
        j.gain_critic.append(e.gain(d.choice.cid))
        j.gain_best_in_list.append(max([0.0, *(e.gain(c) for c in moves if c in e.realised)]))
        j.gain_oracle.append(e.gain(best))
        if on_epoch:
            on_epoch(k)
    return j


def _letter_rank(label: str) -> int:
    from rapp_placement.prompt import _LETTERS

    return _LETTERS.index(label) if len(label) == 1 else len(_LETTERS)


def agreement(a: Judgement, b: Judgement) -> float:
    """Mean Jaccard overlap of the migrations two runs shortlisted, epoch by epoch, in %: the
    same model under two label orders agrees where its answer follows the state, not the
    labels (100: the labels do not matter; ~0: the answer is positional)."""
    scores = []
    for x, y in zip(a.shortlists, b.shortlists, strict=True):
        sx, sy = {c for c in x if c != NOOP}, {c for c in y if c != NOOP}
        scores.append(1.0 if not sx | sy else len(sx & sy) / len(sx | sy))
    return 100 * float(np.mean(scores)) if scores else float("nan")
