"""A critic that keeps learning after deployment, with a guard (``--critic-online``).

After each decision the realised class fulfilment over the label window becomes known (in the
twin directly, in the RIC from the xApp's reports): one labelled sample ``(x, y, m)`` of the
action that was taken — the features of (state, action), the class rates, and which classes
had requests. :class:`OnlineCritic` learns from these samples, guarded so that learning can
never make the deployed critic worse on what it has seen:

- **Held-back validation buffer.** Every sample goes, by a seeded draw, either to the training
  buffer or (share ``val_share``) to the validation buffer; both are bounded (oldest out).
- **Guarded update.** Every ``update_every`` new samples (once both buffers hold enough), each
  member is fine-tuned from the current weights on a bootstrap of the training buffer — masked
  MSE of the class rates (eq. 10), a few Adam steps, and a proximal pull towards the current
  weights so that one small batch cannot erase what the offline data taught. The candidate is
  kept only if, on the validation buffer, its **ranking** (the concordance of predicted and
  realised J over pairs of samples) is no worse and its rate MSE is no worse than the current
  weights'. Otherwise it is rejected and the current weights stay.
- **Rollback.** The weights of every accepted version are checkpointed (``v0001.pt`` …, with a
  JSON line per update in ``updates.jsonl``). When the validation buffer has grown and an
  earlier version now ranks it better than the current one by more than ``rollback_tol``, the
  critic rolls back to that version.
- **Metrics.** Every update, rejection and rollback is counted in Prometheus
  (``haf_critic_updates_total{result}``), with the version and the validation concordance as
  gauges.

Only the committed action's outcome is ever observed (bandit feedback); the ranking check is
therefore across states, not across candidates of one state — it asks "does J order the
outcomes we saw", which any useful critic must.
"""

from __future__ import annotations

import copy
import json
import logging
import random
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rapp_placement.critic import Critic
from rapp_placement.critic_train import realised_j

log = logging.getLogger(__name__)


@dataclass
class OnlineConfig:
    update_every: int = 10
    min_train: int = 20
    min_val: int = 10
    val_share: float = 0.3
    capacity: int = 400  # per buffer
    steps: int = 40
    lr: float = 1e-3
    prox: float = 1.0  # weight of the pull towards the current weights
    rollback_tol: float = 0.02  # concordance points
    seed: int = 0


def concordance(pred: np.ndarray, real: np.ndarray) -> float:
    """Share of pairs with different realised J that the prediction orders alike (ties in the
    prediction count half): Harrell's C. 0.5 for no pair."""
    d_real = real[:, None] - real[None, :]
    d_pred = pred[:, None] - pred[None, :]
    mask = d_real > 1e-9
    n = int(mask.sum())
    if n == 0:
        return 0.5
    good = (d_pred[mask] > 0).sum() + 0.5 * (np.abs(d_pred[mask]) <= 1e-12).sum()
    return float(good / n)


class UpdateMetrics:
    """Prometheus counters for the online critic (a private registry unless one is given)."""

    def __init__(self, registry=None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge

        r = self.registry = registry or CollectorRegistry()
        self.updates = Counter(
            "haf_critic_updates",
            "Online critic updates by result (accepted, rejected, rollback)",
            ["result"],
            registry=r,
        )
        self.samples = Counter("haf_critic_samples", "Labelled samples observed", registry=r)
        self.version = Gauge("haf_critic_version", "Version of the critic in use", registry=r)
        self.concordance = Gauge(
            "haf_critic_val_concordance",
            "Ranking concordance of the critic in use on the validation buffer",
            registry=r,
        )


class OnlineCritic:
    """Wraps a :class:`Critic` in place: its weights change only through guarded updates."""

    def __init__(
        self,
        critic: Critic,
        cfg: OnlineConfig | None = None,
        checkpoints: str | Path | None = None,
        metrics: UpdateMetrics | None = None,
    ) -> None:
        self.critic = critic
        self.cfg = cfg or OnlineConfig()
        self.rng = random.Random(self.cfg.seed)
        self.train: deque = deque(maxlen=self.cfg.capacity)
        self.val: deque = deque(maxlen=self.cfg.capacity)
        self.dir = Path(checkpoints) if checkpoints else None
        self.metrics = metrics or UpdateMetrics()
        self.version = 0
        self.versions: dict[int, dict] = {0: copy.deepcopy(critic.model.state_dict())}
        self.log: list[dict] = []
        self._since = 0
        self.metrics.version.set(0)
        if self.dir is not None:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._checkpoint(0)

    # --- data ---------------------------------------------------------------------------------
    def observe(self, x: np.ndarray, y: np.ndarray, m: np.ndarray) -> dict | None:
        """One labelled sample; runs a guarded update when one is due. Returns its record."""
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and m.any()):
            return None  # nothing to learn from (no request ended in the window)
        sample = (np.asarray(x, np.float32), np.asarray(y, np.float32), np.asarray(m, bool))
        (self.val if self.rng.random() < self.cfg.val_share else self.train).append(sample)
        self.metrics.samples.inc()
        self._since += 1
        c = self.cfg
        if (
            self._since >= c.update_every
            and len(self.train) >= c.min_train
            and len(self.val) >= c.min_val
        ):
            self._since = 0
            return self.update()
        return None

    @staticmethod
    def _arrays(buf) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x, y, m = zip(*buf, strict=True)
        return np.stack(x), np.stack(y), np.stack(m)

    # --- the guard ----------------------------------------------------------------------------
    def score(self, critic: Critic | None = None) -> tuple[float, float]:
        """(concordance, rate MSE) of ``critic`` (default: the one in use) on validation."""
        critic = critic or self.critic
        x, y, m = self._arrays(self.val)
        w = critic._weights()
        pred = critic.predict_members(x).mean(axis=0)
        c = concordance(pred @ w, realised_j(y, m, w))
        mse = float((((pred - y) ** 2) * m).sum() / max(m.sum(), 1))
        return c, mse

    def update(self) -> dict:
        """Fine-tune a candidate, keep it only if validation does not get worse; then check
        whether an earlier version now does better (rollback)."""
        cand = self._fine_tuned()
        c_old, mse_old = self.score()
        c_new, mse_new = self.score(cand)
        rec = {
            "train": len(self.train),
            "val": len(self.val),
            "concordance_before": round(c_old, 4),
            "concordance_after": round(c_new, 4),
            "mse_before": round(mse_old, 5),
            "mse_after": round(mse_new, 5),
        }
        if c_new >= c_old and mse_new <= mse_old:
            self._install(cand.model.state_dict())
            self.version = max(self.versions) + 1
            self.versions[self.version] = copy.deepcopy(cand.model.state_dict())
            self._checkpoint(self.version)
            rec["result"] = "accepted"
        else:
            rec["result"] = "rejected"
        self.metrics.updates.labels(rec["result"]).inc()
        self._maybe_rollback(rec)
        rec["version"] = self.version
        self.metrics.version.set(self.version)
        self.metrics.concordance.set(self.score()[0])
        self.log.append(rec)
        if self.dir is not None:
            with (self.dir / "updates.jsonl").open("a") as fh:
                fh.write(json.dumps(rec) + "\n")
        log.info("critic update: %s (v%d)", rec["result"], self.version)
        return rec

    def _maybe_rollback(self, rec: dict) -> None:
        now, _ = self.score()
        best_v, best_c = self.version, now
        probe = copy.deepcopy(self.critic)
        for v, sd in self.versions.items():
            if v == self.version:
                continue
            probe.model.load_state_dict(sd)
            probe._frozen = None
            c, _ = self.score(probe)
            if c > best_c + self.cfg.rollback_tol:
                best_v, best_c = v, c
        if best_v != self.version:
            rec["rollback_to"] = best_v
            self._install(self.versions[best_v])
            self.version = best_v
            self.metrics.updates.labels("rollback").inc()
            log.warning("critic rolled back to v%d (validation concordance %.3f)", best_v, best_c)

    def _install(self, state_dict: dict) -> None:
        self.critic.model.load_state_dict(state_dict)
        self.critic._frozen = None  # inference re-reads the weights

    def _checkpoint(self, v: int) -> None:
        if self.dir is not None:
            probe = copy.deepcopy(self.critic)
            probe.model.load_state_dict(self.versions[v])
            probe.save(self.dir / f"v{v:04d}.pt", meta={"online_version": v})

    def _fine_tuned(self) -> Critic:
        import torch

        cand = copy.deepcopy(self.critic)
        cand._frozen = None
        x, y, m = self._arrays(self.train)
        model = cand.model
        for p in model.parameters():
            p.requires_grad_(True)
        z = (torch.as_tensor(x) - model.mean) / model.std
        yt, mt = torch.as_tensor(y), torch.as_tensor(m.astype(np.float32))
        gen = torch.Generator().manual_seed(self.rng.randrange(2**31))
        for member in model.members:
            anchor = [p.detach().clone() for p in member.parameters()]
            idx = torch.randint(len(x), (len(x),), generator=gen)  # a bootstrap per member
            opt = torch.optim.Adam(member.parameters(), lr=self.cfg.lr)
            for _ in range(self.cfg.steps):
                opt.zero_grad()
                pred = member(z[idx])
                mw = mt[idx]
                loss = (((pred - yt[idx]) ** 2) * mw).sum() / mw.sum().clamp_min(1.0)
                prox = sum(
                    ((p - a) ** 2).sum() for p, a in zip(member.parameters(), anchor, strict=True)
                )
                (loss + self.cfg.prox * 1e-3 * prox).backward()
                opt.step()
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        return cand

    def summary(self) -> dict:
        res = [r["result"] for r in self.log]
        return {
            "version": self.version,
            "samples": len(self.train) + len(self.val),
            "accepted": res.count("accepted"),
            "rejected": res.count("rejected"),
            "rollbacks": sum("rollback_to" in r for r in self.log),
        }
