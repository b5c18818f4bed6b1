"""Experience in context: a pool of past decisions, prioritised replay, ε-greedy exploration.

After the GAI-offloading seed ("Generative AI as a Service in 6G Edge-Cloud: generation task
offloading by in-context learning"): the agent keeps what it did and what came of it, and
shows the model a few past decisions that matter for the state it is in now.

- An **experience** is a compact state (the critic's 16 state features: per-class backlog and
  load, RAN floor pressure — size-independent, so one pool serves any topology), the action
  in words that do not depend on the cluster's names (kind moved, the source and destination
  node's size and load), and the realised outcome: the change in J, in points, over the label
  window against staying put. It also keeps what the critic predicted, so it knows how
  surprising the outcome was.
- **Priority** (prioritised experience replay): ``|outcome − predicted| + |outcome| + ε`` —
  surprise (the critic's error, the TD-error of PER) plus magnitude (an example that changed
  nothing teaches nothing). **Relevance** to the current state: ``exp(−d / σ)`` with ``d`` the
  RMS distance between standardised state vectors. Examples are drawn without replacement with
  probability ∝ ``(priority · relevance)^α`` from a seeded generator.
- **ε-greedy**: with probability ε (decaying per call, ``ε_t = max(ε_min, ε_0 · decay^t)``) one
  random feasible migration joins the shortlist in place of its last entry. It still has to
  pass the critic, which also scores the no-op: exploration never bypasses it.
- The pool is **bounded** (lowest priority evicted), **deduplicated** (same action in the same
  rounded state: the newer outcome replaces the older) and **persisted** as JSON; a fresh
  install starts from the shipped seed pool (``experience_seed.json``), made from twin
  rollouts on runs that no evaluation uses (``haf agent pool``).
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from proto import safejson
from proto.errors import InputError
from proto.observation import Snapshot
from rapp_placement.candidates import NOOP, Candidate

log = logging.getLogger(__name__)

SEED_POOL = Path(__file__).with_name("experience_seed.json")
STATE_DIM = 16  # the critic's state features (rapp_placement.critic.FEATURE_NAMES[:16])
_KIND = {"large-ai": "llm", "small-ai": "small-ai", "du": "du", "cu-up": "cu-up"}


@dataclass
class Experience:
    state: list[float]
    action: str  # the move in cluster-independent words, or "stay"
    gain: float  # realised J minus the no-op's over the label window, points
    predicted: float  # the critic's predicted advantage, points
    context: str  # the state in words (what the prompt shows)
    # The move's shape, to find its analogue in another cluster: (kind, source GPU, dest GPU).
    kind: str = ""  # du | cu-up | large-ai | small-ai; "" for stay
    src_gpu: float = 0.0  # FLOP/s
    dst_gpu: float = 0.0

    @property
    def key(self) -> str:
        return json.dumps([[round(x, 1) for x in self.state], self.action])

    def priority(self, eps: float = 0.05) -> float:
        return abs(self.gain - self.predicted) + abs(self.gain) + eps

    def text(self, label: str | None = None) -> str:
        """The prompt line, short (every token is read each time the examples change):
        ``label``, the same move in the current cluster (see :func:`analogue`), lets the model
        name what the example did."""
        if not self.kind:
            act = "stay"
        else:
            act = (
                f"{_KIND[self.kind]} {self.src_gpu / 1e12:.0f} to {self.dst_gpu / 1e12:.0f} TFLOPS"
            )
            act = f"{label} ({act})" if label else act
        return f"{self.context}: {act}: {self.gain:+.1f}"


def analogue(e: Experience, snap: Snapshot, candidates: Sequence[Candidate]) -> Candidate | None:
    """The feasible move of ``snap`` most like the example's: same kind, source and destination
    GPUs of the same size (within 10 %); ``None`` when there is none (or the example stayed)."""
    if not e.kind:
        return None
    best, best_d = None, 0.1
    for c in candidates:
        if c.is_noop or snap.instance(c.instance_id).category != e.kind:  # type: ignore[arg-type]
            continue
        src, dst = snap.node(c.src), snap.node(c.dst)  # type: ignore[arg-type]
        d = abs(math.log(src.gpu_capacity / e.src_gpu)) + abs(
            math.log(dst.gpu_capacity / e.dst_gpu)
        )
        if d < best_d or (d == best_d and best is None):
            best, best_d = c, d
    return best


def state_vector(snap: Snapshot, epoch_s: float = 5.0) -> list[float]:
    from rapp_placement.critic import features

    noop = Candidate(NOOP)
    return [float(x) for x in features(snap, noop, epoch_s)[:STATE_DIM]]


def describe_state(snap: Snapshot) -> str:
    """The state an example was taken in, in a few cluster-independent words."""
    by_cat: dict[str, float] = {}
    for i in snap.instances:
        node = snap.node(i.node_id)
        b = (
            i.backlog_cpu / node.cpu_capacity
            if i.category == "cu-up"
            else i.backlog_gpu / node.gpu_capacity
        )
        by_cat[i.category] = max(by_cat.get(i.category, 0.0), b)
    floor = max(max(n.ran_floor_gpu_util, n.ran_floor_cpu_util) for n in snap.nodes)
    return (
        f"llm {by_cat.get('large-ai', 0):.0f} s, small-ai {by_cat.get('small-ai', 0):.0f} s, "
        f"floor {100 * floor:.0f}%"
    )


def describe_action(snap: Snapshot, cand: Candidate) -> str:
    if cand.is_noop:
        return "stay"
    inst = snap.instance(cand.instance_id)  # type: ignore[arg-type]
    src, dst = snap.node(cand.src), snap.node(cand.dst)  # type: ignore[arg-type]

    def node(n) -> str:
        return f"{n.gpu_capacity / 1e12:.0f}-TFLOPS node (gpu {100 * n.gpu_util:.0f}%)"

    return f"moved {_KIND[inst.category]} from {node(src)} to {node(dst)}"


def experience_of(
    snap: Snapshot, cand: Candidate, gain: float, predicted: float, epoch_s: float = 5.0
) -> Experience:
    shape: tuple[str, float, float] = ("", 0.0, 0.0)
    if not cand.is_noop:
        inst = snap.instance(cand.instance_id)  # type: ignore[arg-type]
        src, dst = snap.node(cand.src), snap.node(cand.dst)  # type: ignore[arg-type]
        shape = (inst.category, src.gpu_capacity, dst.gpu_capacity)
    return Experience(
        state_vector(snap, epoch_s),
        describe_action(snap, cand),
        float(gain),
        float(predicted),
        describe_state(snap),
        *shape,
    )


class ExperiencePool:
    """Bounded, deduplicated, persisted pool with prioritised, relevance-weighted selection."""

    def __init__(self, capacity: int = 500, alpha: float = 1.0, sigma: float = 1.0) -> None:
        self.capacity, self.alpha, self.sigma = capacity, alpha, sigma
        self.items: dict[str, Experience] = {}

    def __len__(self) -> int:
        return len(self.items)

    def add(self, e: Experience) -> None:
        self.items.pop(e.key, None)  # dedup: the newer outcome replaces the older
        self.items[e.key] = e
        while len(self.items) > self.capacity:
            worst = min(self.items.values(), key=lambda x: x.priority())
            del self.items[worst.key]

    def _scale(self) -> np.ndarray:
        s = np.asarray([e.state for e in self.items.values()], dtype=float)
        sd = s.std(axis=0) if len(s) > 1 else np.ones(STATE_DIM)
        return np.where(sd > 1e-9, sd, 1.0)

    def relevance(self, state: Sequence[float]) -> np.ndarray:
        s = np.asarray([e.state for e in self.items.values()], dtype=float)
        d = np.sqrt((((s - np.asarray(state, dtype=float)) / self._scale()) ** 2).mean(axis=1))
        return np.exp(-d / self.sigma)

    def select(
        self, state: Sequence[float], m: int, rng: random.Random, mode: str = "prioritised"
    ) -> list[Experience]:
        """``m`` examples: ``prioritised`` (∝ (priority·relevance)^α), ``random`` or ``none``."""
        items = list(self.items.values())
        if mode == "none" or not items or m <= 0:
            return []
        if mode == "random":
            return rng.sample(items, min(m, len(items)))
        if mode != "prioritised":
            raise ValueError(f"unknown example selection {mode!r}")
        w = np.asarray([e.priority() for e in items]) * self.relevance(state)
        w = np.maximum(w, 1e-12) ** self.alpha
        chosen: list[Experience] = []
        idx = list(range(len(items)))
        for _ in range(min(m, len(items))):
            total = float(sum(w[i] for i in idx))
            r, acc = rng.random() * total, 0.0
            for j, i in enumerate(idx):
                acc += w[i]
                if acc >= r:
                    chosen.append(items[idx.pop(j)])
                    break
        # the most relevant last: nearest to the question it informs
        rel = self.relevance(state)
        pos = {id(e): k for k, e in enumerate(items)}
        return sorted(chosen, key=lambda e: rel[pos[id(e)]])

    # --- persistence ---------------------------------------------------------------------
    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"format": "haf-experience/1", "items": [asdict(e) for e in self.items.values()]}
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(doc))
        tmp.replace(path)  # a crash mid-write never leaves half a pool

    @classmethod
    def load(cls, path: Path, capacity: int = 500) -> ExperiencePool:
        doc = safejson.load_file(path, "experience pool")
        if not isinstance(doc, dict) or doc.get("format") != "haf-experience/1":
            raise InputError(f"{path}: not an experience pool (format haf-experience/1)")
        pool = cls(capacity)
        for k, row in enumerate(doc.get("items", [])):
            try:
                e = Experience(
                    [float(x) for x in row["state"]],
                    str(row["action"]),
                    float(row["gain"]),
                    float(row["predicted"]),
                    str(row["context"]),
                    str(row.get("kind", "")),
                    float(row.get("src_gpu", 0.0)),
                    float(row.get("dst_gpu", 0.0)),
                )
                if len(e.state) != STATE_DIM or not all(map(math.isfinite, [*e.state, e.gain])):
                    raise ValueError(f"state must be {STATE_DIM} finite numbers")
                if e.kind and not (e.kind in _KIND and e.src_gpu > 0 and e.dst_gpu > 0):
                    raise ValueError("a move needs a known kind and positive GPU sizes")
            except (KeyError, TypeError, ValueError) as exc:
                raise InputError(f"{path}: item {k}: {type(exc).__name__}: {exc}") from None
            pool.add(e)
        return pool


@dataclass
class EpsilonGreedy:
    """ε_t = max(ε_min, ε_0 · decay^t): the chance that a random feasible migration joins."""

    eps0: float = 0.2
    decay: float = 0.98
    eps_min: float = 0.02
    calls: int = 0

    def epsilon(self) -> float:
        return max(self.eps_min, self.eps0 * self.decay**self.calls)

    def apply(
        self, shortlist: list[str], candidates: Sequence[Candidate], rng: random.Random, k: int
    ) -> tuple[list[str], str | None]:
        """The shortlist with one random migration in place of its last entry, or unchanged."""
        eps = self.epsilon()
        self.calls += 1
        moves = [c.cid for c in candidates if not c.is_noop and c.cid not in shortlist]
        if not moves or rng.random() >= eps:
            return shortlist, None
        pick = rng.choice(moves)
        out = [*shortlist[: k - 1], pick] if len(shortlist) >= k else [*shortlist, pick]
        return out, pick


def seed_experiences(epochs: Sequence, per_epoch: int = 4, seed: int = 0) -> list[Experience]:
    """Experiences from recorded epochs (``airan_twin.agent_eval.EvalEpoch``: a snapshot, its
    candidates and every candidate's realised J): per epoch the realised best, the heuristic's
    first move and random other moves — good and bad outcomes both, as the pool needs."""
    from rapp_placement.agent import heuristic_shortlist
    from rapp_placement.critic import Critic

    critic = Critic.load()
    rng = random.Random(seed)
    out: list[Experience] = []
    for e in epochs:
        by_id = {c.cid: c for c in e.candidates}
        picks = [e.best]
        picks += [c for c in heuristic_shortlist(e.snap, e.candidates)[:1] if c != NOOP]
        moves = [c for c in by_id if c != NOOP and c not in picks]
        picks += rng.sample(moves, min(max(per_epoch - len(picks), 0), len(moves)))
        pool = [by_id[NOOP], *(by_id[c] for c in dict.fromkeys(picks) if c != NOOP)]
        adv = critic.assess(e.snap, pool).adv  # ensemble mean per candidate
        for c, a in zip(pool, adv, strict=True):
            if not c.is_noop:
                out.append(experience_of(e.snap, c, e.gain(c.cid), 100 * float(a)))
    return out
