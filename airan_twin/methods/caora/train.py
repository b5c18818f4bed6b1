"""Training CAORA's SAC policy in the twin, and its held-out sanity check.

Episodes are twin runs of the paper testbed (static placement) cycling through training loads,
with workload seeds ``1000 + episode`` (evaluation uses other seeds). Every node's decision
closes a transition into the replay buffer and, once ``warmup`` transitions exist (collected
with uniform random splits), triggers ``updates_per_step`` SAC updates. Everything is seeded:
the same config gives the same weights and the same learning curve.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from airan_twin.methods.caora.method import Caora, FixedSplit, RandomSplit, save_actor
from airan_twin.methods.caora.sac import Sac, SacConfig
from airan_twin.methods.caora.split import STATE_DIM
from airan_twin.run import make_twin
from airan_twin.scenario import Scenario

log = logging.getLogger(__name__)

TRAIN_SEED_BASE = 1000  # workload seeds of training episodes: 1000, 1001, ...


@dataclass(frozen=True)
class TrainConfig:
    episodes: int = 40
    horizon_s: float = 60.0
    loads: tuple[float, ...] = (0.7, 0.9, 1.1)
    seed: int = 0
    warmup: int = 400
    updates_per_step: int = 1
    interval_s: float = 1.0
    checkpoint_every: int = 10
    hidden: int = 64


@dataclass
class EpisodeRow:
    episode: int
    rho: float
    reward: float  # mean interval reward
    overall: float  # fulfilment %, the whole episode
    ran_only: float
    ai: float
    mean_split: float
    q_loss: float
    alpha: float


@dataclass
class TrainReport:
    config: TrainConfig
    curve: list[EpisodeRow] = field(default_factory=list)
    updates: int = 0
    transitions: int = 0


class _Learner(Caora):
    """Caora while training: uniform splits until the buffer has ``warmup`` transitions, then
    sampled SAC actions; each closed transition is stored and learned from."""

    def __init__(self, sac: Sac, cfg: TrainConfig, rng: np.random.Generator, losses: list):
        super().__init__(sac=sac, interval_s=cfg.interval_s, explore=True)
        self.cfg, self.rng, self.losses = cfg, rng, losses
        self.on_transition = self._learn

    def choose(self, node: str, state: np.ndarray) -> float:
        if len(self.sac.buffer) < self.cfg.warmup:  # type: ignore[union-attr]
            return float(self.rng.uniform())
        return super().choose(node, state)

    def _learn(self, tr) -> None:
        _, s, a, r, s2 = tr
        sac = self.sac
        assert sac is not None
        sac.buffer.push(s, a, r, s2)
        if len(sac.buffer) >= max(self.cfg.warmup, sac.cfg.batch):
            for _ in range(self.cfg.updates_per_step):
                self.losses.append(sac.update())


def train(
    sc: Scenario,
    cfg: TrainConfig,
    out: Path,
    progress: Callable[[int, EpisodeRow], None] | None = None,
) -> TrainReport:
    """Train, checkpoint every ``checkpoint_every`` episodes, write the actor and the curve."""
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: one thread is faster, and bit-reproducible
    try:
        rng = np.random.default_rng(cfg.seed)
        sac = Sac(SacConfig(STATE_DIM, hidden=cfg.hidden), seed=cfg.seed)
        report = TrainReport(cfg)
        for ep in range(cfg.episodes):
            rho = cfg.loads[ep % len(cfg.loads)]
            losses: list[dict] = []
            method = _Learner(sac, cfg, rng, losses)
            twin = make_twin(sc, method, rho, TRAIN_SEED_BASE + ep, cfg.horizon_s)
            twin.run()
            res = twin.result()
            row = EpisodeRow(
                ep,
                rho,
                float(np.mean(method.rewards)) if method.rewards else 0.0,
                res.fulfilment["overall"],
                res.fulfilment["ran_only"],
                res.fulfilment["ai"],
                float(np.mean(list(method.split.values()))),
                float(np.mean([x["q_loss"] for x in losses])) if losses else float("nan"),
                sac.alpha,
            )
            report.curve.append(row)
            if progress is not None:
                progress(ep, row)
            if (ep + 1) % cfg.checkpoint_every == 0 or ep + 1 == cfg.episodes:
                sac.save_checkpoint(out / f"checkpoint-{ep + 1:03d}.pt")
        report.updates, report.transitions = sac.updates, len(sac.buffer)
        save_actor(
            sac.actor,
            out / "caora_actor.pt",
            {"config": asdict(cfg), "updates": sac.updates, "transitions": len(sac.buffer)},
        )
        (out / "curve.json").write_text(
            json.dumps(
                {"config": asdict(cfg), "curve": [asdict(r) for r in report.curve]}, indent=1
            )
        )
        plot_curve(report, out / "learning-curve.png")
        return report
    finally:
        torch.set_num_threads(threads)


def plot_curve(report: TrainReport, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    eps = [r.episode for r in report.curve]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    for rho in sorted(set(r.rho for r in report.curve)):
        rows = [r for r in report.curve if r.rho == rho]
        ax1.plot(
            [r.episode for r in rows], [r.reward for r in rows], "o-", ms=3, label=f"ρ={rho:g}"
        )
        ax2.plot(
            [r.episode for r in rows], [r.overall for r in rows], "o-", ms=3, label=f"ρ={rho:g}"
        )
    warm_ep = next(
        (r.episode for r in report.curve if not np.isnan(r.q_loss)), eps[-1] if eps else 0
    )
    for ax in (ax1, ax2):
        ax.axvline(warm_ep, color="grey", ls=":", lw=1)
        ax.set_xlabel("episode")
        ax.legend(fontsize=8)
    ax1.set_ylabel("mean interval reward")
    ax2.set_ylabel("overall fulfilment, %")
    fig.suptitle("CAORA SAC training in the twin (dotted: first SAC updates)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def sanity_methods(actor, seed: int, interval_s: float = 1.0) -> dict:
    """The trained policy and its two sanity baselines, fresh for one run."""
    return {
        "caora": Caora(actor=actor, interval_s=interval_s),
        "caora-half": FixedSplit(0.5, interval_s),
        "caora-random": RandomSplit(seed, interval_s),
    }
