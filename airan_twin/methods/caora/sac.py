"""Soft Actor-Critic (Haarnoja et al. 2018, with automatic entropy tuning) for a scalar action
in [0, 1]. Pure torch, independent of the twin.

* Actor: state → (μ, log σ) of a Gaussian on ``u``; the action is ``a = (tanh(u) + 1) / 2``
  and its log-density carries the change of variables (:func:`squash_log_prob`).
* Twin Q critics ``Q1, Q2(s, a)`` and their target copies, moved by Polyak averaging with
  rate ``tau`` (:func:`soft_update`).
* Critic target: ``y = r + γ (min_j Q'_j(s', a') − α log π(a'|s'))``, ``a' ~ π(·|s')``.
* Actor loss: ``E[α log π(a|s) − min_j Q_j(s, a)]``; temperature loss:
  ``E[−log α (log π(a|s) + H̄)]`` with target entropy ``H̄ = −1`` (one action dimension).
* Uniform replay buffer (numpy ring).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


@dataclass(frozen=True)
class SacConfig:
    state_dim: int
    hidden: int = 64
    gamma: float = 0.9  # 1 s decisions: the effect of a split shows within seconds
    tau: float = 0.005
    lr: float = 3e-4
    batch: int = 128
    buffer: int = 100_000
    target_entropy: float = -1.0
    init_alpha: float = 0.2


def _mlp(inp: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inp, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, out),
    )


def squash_log_prob(u: torch.Tensor, mu: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log π(a|s) for ``a = (tanh(u) + 1) / 2``, ``u ~ N(μ, σ²)``: the Gaussian log-density
    minus ``log |da/du| = log(0.5 (1 − tanh² u))`` (computed stably)."""
    var = torch.exp(2 * log_std)
    gauss = -((u - mu) ** 2) / (2 * var) - log_std - 0.5 * math.log(2 * math.pi)
    # log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u))
    log_jac = math.log(0.5) + 2 * (math.log(2.0) - u - nn.functional.softplus(-2 * u))
    return (gauss - log_jac).sum(-1)


class Actor(nn.Module):
    def __init__(self, state_dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = _mlp(state_dim, hidden, 2)

    def forward(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_std = self.net(s).chunk(2, dim=-1)
        return mu, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)

    def sample(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reparameterised action in [0, 1] and its log-probability."""
        mu, log_std = self(s)
        u = mu + torch.exp(log_std) * torch.randn_like(mu)
        return (torch.tanh(u) + 1) / 2, squash_log_prob(u, mu, log_std)

    def greedy(self, s: torch.Tensor) -> torch.Tensor:
        mu, _ = self(s)
        return (torch.tanh(mu) + 1) / 2


class QNet(nn.Module):
    def __init__(self, state_dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = _mlp(state_dim + 1, hidden, 1)

    def forward(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([s, a], dim=-1)).squeeze(-1)


def soft_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """θ' ← τ θ + (1 − τ) θ'."""
    with torch.no_grad():
        for tp, sp in zip(target.parameters(), source.parameters(), strict=True):
            tp.mul_(1 - tau).add_(sp, alpha=tau)


class ReplayBuffer:
    def __init__(self, state_dim: int, capacity: int, seed: int = 0) -> None:
        self.s = np.zeros((capacity, state_dim), np.float32)
        self.a = np.zeros((capacity, 1), np.float32)
        self.r = np.zeros(capacity, np.float32)
        self.s2 = np.zeros((capacity, state_dim), np.float32)
        self.capacity, self.size, self.pos = capacity, 0, 0
        self.rng = np.random.default_rng(seed)

    def push(self, s, a: float, r: float, s2) -> None:
        i = self.pos
        self.s[i], self.a[i, 0], self.r[i], self.s2[i] = s, a, r, s2
        self.pos = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, n: int) -> tuple[torch.Tensor, ...]:
        idx = self.rng.integers(0, self.size, n)
        return tuple(torch.from_numpy(x[idx]) for x in (self.s, self.a, self.r, self.s2))

    def __len__(self) -> int:
        return self.size


class Sac:
    def __init__(self, cfg: SacConfig, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.cfg = cfg
        self.actor = Actor(cfg.state_dim, cfg.hidden)
        self.q1, self.q2 = QNet(cfg.state_dim, cfg.hidden), QNet(cfg.state_dim, cfg.hidden)
        self.q1_t, self.q2_t = QNet(cfg.state_dim, cfg.hidden), QNet(cfg.state_dim, cfg.hidden)
        self.q1_t.load_state_dict(self.q1.state_dict())
        self.q2_t.load_state_dict(self.q2.state_dict())
        self.log_alpha = torch.tensor(math.log(cfg.init_alpha), requires_grad=True)
        self.opt_actor = torch.optim.Adam(self.actor.parameters(), lr=cfg.lr)
        self.opt_q = torch.optim.Adam([*self.q1.parameters(), *self.q2.parameters()], lr=cfg.lr)
        self.opt_alpha = torch.optim.Adam([self.log_alpha], lr=cfg.lr)
        self.buffer = ReplayBuffer(cfg.state_dim, cfg.buffer, seed)
        self.updates = 0

    @property
    def alpha(self) -> float:
        return float(self.log_alpha.detach().exp())

    def act(self, state: np.ndarray, deterministic: bool = False) -> float:
        with torch.no_grad():
            s = torch.as_tensor(state, dtype=torch.float32).unsqueeze(0)
            a = self.actor.greedy(s) if deterministic else self.actor.sample(s)[0]
        return float(a.item())

    def update(self, batch: tuple[torch.Tensor, ...] | None = None) -> dict[str, float]:
        """One gradient step of the critics, the actor and the temperature."""
        s, a, r, s2 = batch if batch is not None else self.buffer.sample(self.cfg.batch)
        alpha = self.log_alpha.exp().detach()
        with torch.no_grad():
            a2, logp2 = self.actor.sample(s2)
            q_next = torch.min(self.q1_t(s2, a2), self.q2_t(s2, a2)) - alpha * logp2
            y = r + self.cfg.gamma * q_next
        q_loss = ((self.q1(s, a) - y) ** 2).mean() + ((self.q2(s, a) - y) ** 2).mean()
        self.opt_q.zero_grad()
        q_loss.backward()
        self.opt_q.step()

        a_new, logp = self.actor.sample(s)
        q_new = torch.min(self.q1(s, a_new), self.q2(s, a_new))
        actor_loss = (alpha * logp - q_new).mean()
        self.opt_actor.zero_grad()
        actor_loss.backward()
        self.opt_actor.step()

        alpha_loss = -(self.log_alpha * (logp.detach() + self.cfg.target_entropy)).mean()
        self.opt_alpha.zero_grad()
        alpha_loss.backward()
        self.opt_alpha.step()

        soft_update(self.q1_t, self.q1, self.cfg.tau)
        soft_update(self.q2_t, self.q2, self.cfg.tau)
        self.updates += 1
        return {
            "q_loss": q_loss.item(),
            "actor_loss": actor_loss.item(),
            "alpha_loss": alpha_loss.item(),
            "alpha": self.alpha,
            "entropy": -logp.mean().item(),
        }

    # --- persistence --------------------------------------------------------------------------
    def save_checkpoint(self, path: str | Path) -> None:
        """Everything needed to resume training (networks, optimisers, temperature)."""
        torch.save(
            {
                "config": asdict(self.cfg),
                "actor": self.actor.state_dict(),
                "q1": self.q1.state_dict(),
                "q2": self.q2.state_dict(),
                "q1_t": self.q1_t.state_dict(),
                "q2_t": self.q2_t.state_dict(),
                "log_alpha": self.log_alpha.detach(),
                "opt_actor": self.opt_actor.state_dict(),
                "opt_q": self.opt_q.state_dict(),
                "opt_alpha": self.opt_alpha.state_dict(),
                "updates": self.updates,
            },
            path,
        )

    @classmethod
    def load_checkpoint(cls, path: str | Path) -> Sac:
        ck = torch.load(path, map_location="cpu", weights_only=True)
        sac = cls(SacConfig(**ck["config"]))
        for name in ("actor", "q1", "q2", "q1_t", "q2_t", "opt_actor", "opt_q", "opt_alpha"):
            getattr(sac, name).load_state_dict(ck[name])
        with torch.no_grad():
            sac.log_alpha.copy_(ck["log_alpha"])
        sac.updates = int(ck["updates"])
        return sac
