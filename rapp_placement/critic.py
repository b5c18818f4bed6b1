"""The predictive critic (spec §3.3–3.4): ``f_θ(s, a) → (ŷ_large, ŷ_small, ŷ_RAN)``.

An ensemble of 2-layer MLPs (torch) over engineered (state, action) features, trained offline on
counterfactual rollouts of the twin on many generated topologies (``airan_twin.critic_data``)
and frozen at run time. The shipped weights (``critic_weights.pt``, loaded with
``weights_only=True``) and their model card (``CRITIC_CARD.md``) live beside this file.

**Features are relative and size-independent** (:func:`features`, :data:`FEATURE_NAMES`): no
value grows with the number of nodes or instances, so a 4-node and a 9-node cluster mean the
same thing. Per AI class: the class's backlog in seconds of the GPU it can reach, its load on
that GPU now and after the action, the log-ratio of the two, the share of its instances off-line,
and how many of its instances share a node. RAN floor pressure as max and mean shares. The
action: category one-hot, off-line fraction of the epoch, GPU and CPU utilisation and floors at
source and destination, log capacity ratios, memory headroom, the moved instance's own backlog
and share of its class's arrivals, and what co-location does to the destination: its resident
AI backlog and its AI load after the move.

**Uncertainty and the commit rule.** Every member predicts the class rates; the advantage of a
migration is its J (11) minus the no-op's, per member. The critic commits a migration only when
``mean − κ·sd`` of that advantage exceeds a margin ``m`` (:func:`commit_index`); κ and m are
chosen on validation topologies at training time and stored with the weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from proto.errors import HafError
from proto.observation import CLASSES, InstanceView, NodeView, Snapshot
from rapp_placement.candidates import Candidate

WEIGHTS_PATH = Path(__file__).with_name("critic_weights.pt")

#: Class weights of J (11): each class's share of requests on the testbed (about half RAN-only,
#: the AI half split evenly), so J estimates the paper's request-weighted overall fulfilment.
DEFAULT_CLASS_WEIGHTS = (0.25, 0.25, 0.5)

_CATS = ("noop", "du", "cu-up", "large-ai", "small-ai")
_AI_CLASSES = (("large", "large-ai"), ("small", "small-ai"))
_LOAD_CAP = 10.0  # loads beyond 10× the reachable GPU all mean "hopeless"; keeps inputs bounded
_MIN_FREE = 1e-3  # a node whose GPU is all RAN floor still counts a sliver (no division by 0)

FEATURE_NAMES: tuple[str, ...] = (
    *(
        f"{p}_{f}"
        for p, _ in _AI_CLASSES
        for f in (
            "backlog_s",
            "load_now",
            "load_after",
            "log_reach_ratio",
            "offline_share",
            "max_per_node",
        )
    ),
    "ran_floor_gpu_max",
    "ran_floor_gpu_mean",
    "ran_floor_cpu_max",
    "ran_floor_cpu_mean",
    *(f"act_{c}" for c in _CATS),
    "act_window_over_epoch",
    "act_src_gpu_util",
    "act_dst_gpu_util",
    "act_src_cpu_util",
    "act_dst_cpu_util",
    "act_src_floor_gpu",
    "act_dst_floor_gpu",
    "act_src_floor_cpu",
    "act_dst_floor_cpu",
    "act_log_gpu_cap_ratio",
    "act_log_cpu_cap_ratio",
    "act_dst_mem_headroom",
    "act_moved_backlog_s",
    "act_moved_arrival_share",
    "act_dst_ai_backlog_s",
    "act_dst_large_backlog_s",
    "act_src_ai_load",
    "act_dst_ai_load_after",
    "act_dst_llms_after",
)


def _reach(n: NodeView) -> float:
    """GPU FLOP/s an AI service can get on ``n``: what the RAN floors (15) leave."""
    return n.gpu_capacity * max(1.0 - n.ran_floor_gpu_util, _MIN_FREE)


def _load(work_rate: float, reach: float) -> float:
    return min(work_rate / reach, _LOAD_CAP) if reach > 0 else _LOAD_CAP


def _class_features(
    insts: list[InstanceView],
    nodes: dict[str, NodeView],
    moved: InstanceView | None,
    dst: str | None,
    offline: float,
) -> list[float]:
    """Backlog, load now/after, reach ratio, off-line share, co-location of one AI class."""
    if not insts:
        return [0.0] * 6
    up_now: dict[str, float] = {}
    up_after: dict[str, float] = {}
    for i in insts:
        up = 0.0 if i.migrating else 1.0
        up_now[i.node_id] = max(up_now.get(i.node_id, 0.0), up)
        if moved is not None and i.instance_id == moved.instance_id:
            up_after[dst] = max(up_after.get(dst, 0.0), up * (1.0 - offline))  # type: ignore[index]
        else:
            up_after[i.node_id] = max(up_after.get(i.node_id, 0.0), up)
    # Co-located instances of a class share their node's GPU: count each node once.
    reach_now = sum(_reach(nodes[n]) * u for n, u in up_now.items())
    reach_after = sum(_reach(nodes[n]) * u for n, u in up_after.items())
    static = sum(_reach(nodes[n]) for n in up_now)
    arrival = sum(i.arrival_work_rate for i in insts)
    backlog = sum(i.backlog_gpu for i in insts)
    per_node: dict[str, int] = {}
    for i in insts:
        per_node[i.node_id] = per_node.get(i.node_id, 0) + 1
    eps = 1e-9 * static
    return [
        math.log1p(backlog / static),
        _load(arrival, reach_now),
        _load(arrival, reach_after),
        max(-5.0, min(5.0, math.log((reach_after + eps) / (reach_now + eps)))),
        sum(i.migrating for i in insts) / len(insts),
        float(max(per_node.values())),
    ]


class _State:
    """What every candidate of one snapshot shares, computed once (features are per candidate:
    recomputing these sums for each of ~100 candidates was most of an epoch's decision time)."""

    def __init__(self, snap: Snapshot) -> None:
        self.nodes = {n.node_id: n for n in snap.nodes}
        self.insts = {i.instance_id: i for i in snap.instances}
        self.by_class = {
            cat: [i for i in snap.instances if i.category == cat] for _, cat in _AI_CLASSES
        }
        self.class_state = {
            cat: _class_features(insts, self.nodes, None, None, 0.0)
            for cat, insts in self.by_class.items()
        }
        fg = [n.ran_floor_gpu_util for n in snap.nodes]
        fc = [n.ran_floor_cpu_util for n in snap.nodes]
        self.ran = [max(fg), sum(fg) / len(fg), max(fc), sum(fc) / len(fc)]
        self.arrival_of: dict[str, float] = {}  # per category
        self.ai_backlog = dict.fromkeys(self.nodes, 0.0)
        self.large_backlog = dict.fromkeys(self.nodes, 0.0)
        self.ai_arrival = dict.fromkeys(self.nodes, 0.0)
        self.llms = dict.fromkeys(self.nodes, 0)
        for i in snap.instances:
            self.arrival_of[i.category] = self.arrival_of.get(i.category, 0.0) + i.arrival_work_rate
            if i.category in ("large-ai", "small-ai"):
                self.ai_backlog[i.node_id] += i.backlog_gpu
                self.ai_arrival[i.node_id] += i.arrival_work_rate
            if i.category == "large-ai":
                self.large_backlog[i.node_id] += i.backlog_gpu
                self.llms[i.node_id] += 1


def _features(st: _State, cand: Candidate, epoch_s: float) -> np.ndarray:
    moved = st.insts[cand.instance_id] if cand.instance_id is not None else None
    offline = min(cand.reconfig_s, epoch_s) / epoch_s if moved else 0.0
    out: list[float] = []
    for _, cat in _AI_CLASSES:
        if moved is not None and moved.category == cat:  # only the moved class changes
            out += _class_features(st.by_class[cat], st.nodes, moved, cand.dst, offline)
        else:
            out += st.class_state[cat]
    out += st.ran
    out += [1.0 if (moved.category if moved else "noop") == c else 0.0 for c in _CATS]
    if moved is None:
        return np.asarray(out + [0.0] * (len(FEATURE_NAMES) - len(out)), dtype=np.float32)
    s, d = st.nodes[cand.src], st.nodes[cand.dst]  # type: ignore[index]
    same_class = st.arrival_of.get(moved.category, 0.0)
    if moved.category == "cu-up":  # CPU-bound: its backlog in seconds of the source's cores
        moved_backlog = moved.backlog_cpu / max(s.cpu_capacity, 1e-9)
    else:
        moved_backlog = moved.backlog_gpu / _reach(s)
    moved_ai = moved.arrival_work_rate if moved.category in ("large-ai", "small-ai") else 0.0
    out += [
        offline,
        s.gpu_util,
        d.gpu_util,
        s.cpu_util,
        d.cpu_util,
        s.ran_floor_gpu_util,
        d.ran_floor_gpu_util,
        s.ran_floor_cpu_util,
        d.ran_floor_cpu_util,
        math.log(d.gpu_capacity / s.gpu_capacity),
        math.log(d.cpu_capacity / s.cpu_capacity),
        cand.dst_mem_headroom_after / max(d.mem_capacity, 1.0),
        math.log1p(moved_backlog),
        moved.arrival_work_rate / same_class if same_class > 0 else 0.0,
        math.log1p(st.ai_backlog[d.node_id] / _reach(d)),
        math.log1p(st.large_backlog[d.node_id] / _reach(d)),
        _load(st.ai_arrival[s.node_id], _reach(s)),
        _load(st.ai_arrival[d.node_id] + moved_ai, _reach(d)),
        float(st.llms[d.node_id] + (moved.category == "large-ai")),
    ]
    return np.asarray(out, dtype=np.float32)


def features(snap: Snapshot, cand: Candidate, epoch_s: float = 5.0) -> np.ndarray:
    """The critic's input for state ``snap`` and action ``cand`` (see the module docstring)."""
    return _features(_State(snap), cand, epoch_s)


def features_batch(snap: Snapshot, cands: Sequence[Candidate], epoch_s: float = 5.0) -> np.ndarray:
    """:func:`features` of every candidate, the snapshot's shared sums computed once."""
    st = _State(snap)
    return np.stack([_features(st, c, epoch_s) for c in cands])


class CriticError(HafError):
    """The critic's weights file is missing or unusable; the message says which and why."""


def _ensemble(n_in: int, hidden: int, members: int):
    import torch
    from torch import nn

    class Member(nn.Module):
        """2-layer MLP: standardised features → hidden (ReLU) → 3 rates (sigmoid)."""

        def __init__(self) -> None:
            super().__init__()
            self.hidden = nn.Linear(n_in, hidden)
            self.out = nn.Linear(hidden, len(CLASSES))

        def forward(self, z):
            return torch.sigmoid(self.out(torch.relu(self.hidden(z))))

    class CriticEnsemble(nn.Module):
        """Members share the input standardisation; forward gives (members, n, classes)."""

        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", torch.zeros(n_in))
            self.register_buffer("std", torch.ones(n_in))
            self.members = nn.ModuleList([Member() for _ in range(members)])

        def forward(self, x):
            z = (x - self.mean) / self.std
            return torch.stack([m(z) for m in self.members])

    return CriticEnsemble()


@dataclass(frozen=True)
class Assessment:
    """The critic's view of a pool whose first entry is the no-op: mean J (11) per candidate,
    and each candidate's advantage over the no-op (mean and sd over the ensemble)."""

    j: np.ndarray
    adv: np.ndarray
    adv_sd: np.ndarray


def commit_index(adv: np.ndarray, adv_sd: np.ndarray, kappa: float, margin: float) -> int:
    """The commit rule (eqs. 11–12 with uncertainty): index 0 (the no-op) unless the migration
    with the largest ``adv − κ·sd`` has it above ``margin``. κ = m = 0 is eq. (11)'s argmax
    with ties to the no-op."""
    if len(adv) < 2:
        return 0
    lcb = np.asarray(adv[1:], dtype=np.float64) - kappa * np.asarray(adv_sd[1:])
    best = int(np.argmax(lcb))  # first maximum
    return best + 1 if lcb[best] > margin else 0


def best_action(critic, snap: Snapshot, candidates: Sequence[Candidate], epoch_s: float = 5.0):
    """What ``critic``'s commit rule takes over *every* candidate (the no-op first, so ties
    and vetoes keep it): the critic alone, and the yardstick of an agent's shortlist."""
    pool = sorted(candidates, key=lambda c: not c.is_noop)
    k, _ = critic.choose(snap, pool, epoch_s)
    return pool[k]


@dataclass
class Critic:
    """A frozen critic ensemble: ``predict`` rates per class, ``score`` J (11) per candidate,
    ``assess``/``choose`` the advantage over the no-op and the commit rule."""

    model: object
    hidden: int
    members: int = 1
    class_weights: tuple[float, float, float] = DEFAULT_CLASS_WEIGHTS
    kappa: float = 0.0  # commit-rule uncertainty weight (chosen on validation topologies)
    margin: float = 0.0  # commit-rule margin on the advantage over the no-op
    _frozen: tuple | None = field(default=None, repr=False, compare=False)

    @classmethod
    def new(cls, hidden: int = 64, seed: int = 0, members: int = 1) -> Critic:
        import torch

        torch.manual_seed(seed)
        return cls(_ensemble(len(FEATURE_NAMES), hidden, members), hidden, members)

    def predict_members(self, x: np.ndarray) -> np.ndarray:
        """Class rates per member: shape (members, n, 3).

        Inference runs in numpy on a frozen copy of the weights: for ~100 × 40 inputs torch's
        per-call and threading overhead was most of the decision time (docs/performance.md).
        The copy is taken on first use, so call this only once training is over."""
        if self._frozen is None:
            self._frozen = self._freeze()
        mean, std, layers = self._frozen
        z = (np.atleast_2d(np.asarray(x, dtype=np.float32)) - mean) / std
        out = []
        for w1, b1, w2, b2 in layers:
            h = np.maximum(z @ w1 + b1, 0.0)
            out.append(0.5 * (1.0 + np.tanh(0.5 * (h @ w2 + b2))))  # sigmoid, no overflow
        return np.stack(out).astype(np.float32)

    def _freeze(self) -> tuple:
        sd = {k: v.detach().cpu().numpy() for k, v in self.model.state_dict().items()}
        layers = [
            (
                sd[f"members.{k}.hidden.weight"].T.copy(),
                sd[f"members.{k}.hidden.bias"],
                sd[f"members.{k}.out.weight"].T.copy(),
                sd[f"members.{k}.out.bias"],
            )
            for k in range(self.members)
        ]
        return sd["mean"], sd["std"], layers

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The ensemble's mean class rates: shape (n, 3)."""
        return self.predict_members(x).mean(axis=0)

    def _weights(self, snap: Snapshot | None = None) -> np.ndarray:
        chosen = snap.class_weights.as_tuple() if snap and snap.class_weights else None
        w = np.asarray(chosen or self.class_weights, dtype=np.float64)
        return w / w.sum()

    def score(self, snap: Snapshot, cands: Sequence[Candidate], epoch_s: float = 5.0) -> np.ndarray:
        """J(s, a) = Σ_c w_c ŷ_c / Σ_c w_c for each candidate (eq. 11's objective).

        ``w`` are the operator's weights when the snapshot carries them (an A1 policy's
        ``class_weights``, reported by the xApp), else the critic's own."""
        x = features_batch(snap, cands, epoch_s)
        return self.predict(x) @ self._weights(snap)

    def assess(self, snap: Snapshot, pool: Sequence[Candidate], epoch_s: float = 5.0) -> Assessment:
        """J and the advantage over the no-op (``pool[0]``, which must be it) per member."""
        if not pool or not pool[0].is_noop:
            raise ValueError("assess needs the no-op first in the pool")
        x = features_batch(snap, pool, epoch_s)
        jm = self.predict_members(x) @ self._weights(snap)  # (members, n)
        adv = jm - jm[:, :1]
        return Assessment(jm.mean(axis=0), adv.mean(axis=0), adv.std(axis=0))

    def choose(
        self, snap: Snapshot, pool: Sequence[Candidate], epoch_s: float = 5.0
    ) -> tuple[int, Assessment]:
        """The index in ``pool`` the commit rule takes, and the assessment behind it."""
        a = self.assess(snap, pool, epoch_s)
        return commit_index(a.adv, a.adv_sd, self.kappa, self.margin), a

    def save(self, path: str | Path = WEIGHTS_PATH, meta: dict | None = None) -> None:
        import torch

        torch.save(
            {
                "state_dict": self.model.state_dict(),
                "hidden": self.hidden,
                "members": self.members,
                "kappa": float(self.kappa),
                "margin": float(self.margin),
                "features": list(FEATURE_NAMES),
                "meta": meta or {},
            },
            path,
        )

    @classmethod
    def load(cls, path: str | Path = WEIGHTS_PATH) -> Critic:
        """Load frozen weights safely (``weights_only=True``); clear errors if unusable."""
        import torch

        p = Path(path)
        if not p.is_file():
            raise CriticError(f"critic weights not found at {p} (train with `haf critic train`)")
        try:
            blob = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise CriticError(f"{p}: not a loadable critic weights file ({exc})") from None
        if not isinstance(blob, dict) or "state_dict" not in blob:
            raise CriticError(f"{p}: no state_dict in the weights file")
        if list(blob.get("features", [])) != list(FEATURE_NAMES):
            raise CriticError(f"{p}: trained on other features than this code computes")
        try:
            hidden, members = int(blob["hidden"]), int(blob.get("members", 1))
            kappa, margin = float(blob.get("kappa", 0.0)), float(blob.get("margin", 0.0))
        except (KeyError, TypeError, ValueError) as exc:
            raise CriticError(f"{p}: bad model sizes or commit rule ({exc})") from None
        if not (1 <= members <= 64 and 1 <= hidden <= 4096):
            raise CriticError(f"{p}: implausible sizes (hidden {hidden}, members {members})")
        if not (math.isfinite(kappa) and math.isfinite(margin) and kappa >= 0):
            raise CriticError(f"{p}: commit rule must be finite with kappa >= 0")
        critic = cls(_ensemble(len(FEATURE_NAMES), hidden, members), hidden, members)
        critic.kappa, critic.margin = kappa, margin
        try:
            critic.model.load_state_dict(blob["state_dict"])
        except (RuntimeError, KeyError) as exc:
            raise CriticError(f"{p}: weights do not fit the model: {exc}") from None
        critic.model.eval()
        for prm in critic.model.parameters():
            prm.requires_grad_(False)
        return critic
