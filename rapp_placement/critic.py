"""The predictive critic (spec §3.3–3.4): ``f_θ(s, a) → (ŷ_large, ŷ_small, ŷ_RAN)``.

A 2-layer MLP (torch) over engineered (state, action) features, trained offline on
counterfactual rollouts of the twin (``airan_twin.critic_data``) and frozen at run time. The
shipped weights (``critic_weights.pt``, loaded with ``weights_only=True``) and their model card
(``CRITIC_CARD.md``) live beside this file.

Features (:func:`features`, :data:`FEATURE_NAMES`): for each AI service the backlog in seconds
of its nodes' GPU, its arrival load, the GPU it can reach now and after the action (a moved
instance's share discounted by the part of the epoch it is off-line), and how many of its
instances are migrating; RAN floor pressure (max and mean floor share of GPU and CPU, and at the
action's destination); the action itself (category one-hot, window over epoch, source and
destination GPU load, destination/source capacity ratio, destination memory headroom).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from proto.errors import HafError
from proto.observation import Snapshot
from rapp_placement.candidates import Candidate

WEIGHTS_PATH = Path(__file__).with_name("critic_weights.pt")
from proto.observation import CLASSES  # noqa: E402  (the classes of J, critic output order)

#: Class weights of J (11): each class's share of requests on the testbed (about half RAN-only,
#: the AI half split evenly), so J estimates the paper's request-weighted overall fulfilment.
DEFAULT_CLASS_WEIGHTS = (0.25, 0.25, 0.5)

_CATS = ("noop", "du", "cu-up", "large-ai", "small-ai")
FEATURE_NAMES: tuple[str, ...] = (
    *(
        f"{svc}_{f}"
        for svc in ("large", "small")
        for f in ("backlog_s", "arrival_load", "gpu_now", "gpu_after", "migrating")
    ),
    "ran_floor_gpu_max",
    "ran_floor_gpu_mean",
    "ran_floor_cpu_max",
    "ran_floor_cpu_mean",
    *(f"act_{c}" for c in _CATS),
    "act_window_over_epoch",
    "act_src_gpu_util",
    "act_dst_gpu_util",
    "act_dst_floor_gpu",
    "act_log_cap_ratio",
    "act_dst_mem_headroom",
)


def features(snap: Snapshot, cand: Candidate, epoch_s: float = 5.0) -> np.ndarray:
    """The critic's input for state ``snap`` and action ``cand`` (see the module docstring)."""
    nodes = {n.node_id: n for n in snap.nodes}
    total_gpu = sum(n.gpu_capacity for n in snap.nodes)
    moved = snap.instance(cand.instance_id) if not cand.is_noop else None
    offline = min(cand.reconfig_s, epoch_s) / epoch_s if moved else 0.0
    out: list[float] = []
    for cat in ("large-ai", "small-ai"):
        insts = [i for i in snap.instances if i.category == cat]
        backlog_s = sum(i.backlog_gpu / nodes[i.node_id].gpu_capacity for i in insts)
        load = sum(i.arrival_work_rate for i in insts) / total_gpu
        now = after = 0.0
        for i in insts:
            n = nodes[i.node_id]
            reach = n.gpu_capacity * (1.0 - n.ran_floor_gpu_util) / total_gpu
            up = 0.0 if i.migrating else 1.0
            now += reach * up
            if moved is not None and i.instance_id == moved.instance_id:
                d = nodes[cand.dst]
                reach = d.gpu_capacity * (1.0 - d.ran_floor_gpu_util) / total_gpu
                up *= 1.0 - offline
            after += reach * up
        out += [math.log1p(backlog_s), load, now, after, float(sum(i.migrating for i in insts))]
    fg = [n.ran_floor_gpu_util for n in snap.nodes]
    fc = [n.ran_floor_cpu_util for n in snap.nodes]
    out += [max(fg), sum(fg) / len(fg), max(fc), sum(fc) / len(fc)]
    out += [1.0 if (moved.category if moved else "noop") == c else 0.0 for c in _CATS]
    if moved is None:
        out += [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    else:
        s, d = nodes[cand.src], nodes[cand.dst]
        out += [
            offline,
            s.gpu_util,
            d.gpu_util,
            d.ran_floor_gpu_util,
            math.log(d.gpu_capacity / s.gpu_capacity),
            cand.dst_mem_headroom_after / max(d.mem_capacity, 1.0),
        ]
    return np.asarray(out, dtype=np.float32)


class CriticError(HafError):
    """The critic's weights file is missing or unusable; the message says which and why."""


def _mlp(n_in: int, hidden: int):
    import torch
    from torch import nn

    class CriticMLP(nn.Module):
        """2-layer MLP: standardised features → hidden (ReLU) → 3 rates (sigmoid)."""

        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", torch.zeros(n_in))
            self.register_buffer("std", torch.ones(n_in))
            self.hidden = nn.Linear(n_in, hidden)
            self.out = nn.Linear(hidden, len(CLASSES))

        def forward(self, x):
            z = (x - self.mean) / self.std
            return torch.sigmoid(self.out(torch.relu(self.hidden(z))))

    return CriticMLP()


@dataclass
class Critic:
    """A frozen critic: ``predict`` rates per class, ``score`` J (11) per candidate."""

    model: object
    hidden: int
    class_weights: tuple[float, float, float] = DEFAULT_CLASS_WEIGHTS

    @classmethod
    def new(cls, hidden: int = 64, seed: int = 0) -> Critic:
        import torch

        torch.manual_seed(seed)
        return cls(_mlp(len(FEATURE_NAMES), hidden), hidden)

    def predict(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.model(torch.as_tensor(np.atleast_2d(x), dtype=torch.float32)).numpy()

    def score(self, snap: Snapshot, cands: Sequence[Candidate], epoch_s: float = 5.0) -> np.ndarray:
        """J(s, a) = Σ_c w_c ŷ_c / Σ_c w_c for each candidate (eq. 11's objective).

        ``w`` are the operator's weights when the snapshot carries them (an A1 policy's
        ``class_weights``, reported by the xApp), else the critic's own."""
        x = np.stack([features(snap, c, epoch_s) for c in cands])
        chosen = snap.class_weights.as_tuple() if snap.class_weights else self.class_weights
        w = np.asarray(chosen, dtype=np.float64)
        return self.predict(x) @ w / w.sum()

    def save(self, path: str | Path = WEIGHTS_PATH, meta: dict | None = None) -> None:
        import torch

        torch.save(
            {
                "state_dict": self.model.state_dict(),
                "hidden": self.hidden,
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
        critic = cls(_mlp(len(FEATURE_NAMES), int(blob["hidden"])), int(blob["hidden"]))
        try:
            critic.model.load_state_dict(blob["state_dict"])
        except (RuntimeError, KeyError) as exc:
            raise CriticError(f"{p}: weights do not fit the model: {exc}") from None
        critic.model.eval()
        for prm in critic.model.parameters():
            prm.requires_grad_(False)
        return critic
