"""Offline training of the critic (eq. 10) and its held-out report.

Supervised regression, MSE over the classes that had outcomes in the window (a mask), Adam,
full batch, seeded. Train and validation are split **by run**, never by sample, so the report
measures generalisation to unseen trajectories. The report gives MSE and R² per class and the
ranking quality: how often the critic's best candidate of an epoch is the realised best, and
the regret in realised J when it is not.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from proto.errors import InputError
from rapp_placement.critic import CLASSES, DEFAULT_CLASS_WEIGHTS, FEATURE_NAMES, Critic


@dataclass
class CriticReport:
    train_samples: int
    val_samples: int
    val_runs: list[int]
    mse: dict[str, float]
    r2: dict[str, float]
    epochs_ranked: int
    top1_accuracy: float
    mean_regret: float  # realised J of the best minus realised J of the critic's pick
    mean_regret_when_wrong: float
    noop_chosen_share: float

    def as_dict(self) -> dict:
        return asdict(self)


def _realised_j(y: np.ndarray, m: np.ndarray, w: np.ndarray) -> np.ndarray:
    return (y * m) @ w / np.maximum((m * w).sum(axis=1), 1e-9)


def ranking_quality(
    critic: Critic, data: dict[str, np.ndarray], rows: np.ndarray
) -> tuple[int, float, float, float, float]:
    w = np.asarray(critic.class_weights, dtype=np.float64)
    pred_j = critic.predict(data["X"][rows]) @ w / w.sum()
    real_j = _realised_j(data["Y"][rows], data["M"][rows], w)
    groups: dict[tuple[int, int], list[int]] = {}
    for k, (r, e) in enumerate(zip(data["run"][rows], data["epoch"][rows], strict=True)):
        groups.setdefault((int(r), int(e)), []).append(k)
    hits, regrets, wrong, noop = 0, [], [], 0
    for idx in groups.values():
        if len(idx) < 2:
            continue
        idx_a = np.asarray(idx)
        pick = idx_a[int(np.argmax(pred_j[idx_a]))]
        best = real_j[idx_a].max()
        regret = float(best - real_j[pick])
        hits += regret <= 1e-12
        regrets.append(regret)
        if regret > 1e-12:
            wrong.append(regret)
        noop += str(data["cid"][rows][pick]) == "noop"
    n = len(regrets)
    return (
        n,
        hits / n if n else float("nan"),
        float(np.mean(regrets)) if n else float("nan"),
        float(np.mean(wrong)) if wrong else 0.0,
        noop / n if n else float("nan"),
    )


def train_critic(
    data: dict[str, np.ndarray],
    val_fraction: float = 0.25,
    hidden: int = 64,
    epochs: int = 600,
    lr: float = 3e-3,
    weight_decay: float = 1e-4,
    seed: int = 0,
) -> tuple[Critic, CriticReport]:
    import torch

    if list(data["feature_names"]) != list(FEATURE_NAMES):
        raise InputError("dataset features differ from the critic's; regenerate the dataset")
    runs = np.unique(data["run"])
    rng = np.random.default_rng(seed)
    n_val = max(1, round(len(runs) * val_fraction)) if len(runs) > 1 else 0
    val_runs = sorted(rng.choice(runs, size=n_val, replace=False).tolist()) if n_val else []
    is_val = np.isin(data["run"], val_runs)
    tr, va = np.flatnonzero(~is_val), np.flatnonzero(is_val)
    if len(va) == 0:
        va = tr

    critic = Critic.new(hidden, seed)
    model = critic.model
    x_tr = torch.as_tensor(data["X"][tr])
    y_tr = torch.as_tensor(data["Y"][tr])
    m_tr = torch.as_tensor(data["M"][tr].astype(np.float32))
    model.mean.copy_(x_tr.mean(0))
    model.std.copy_(x_tr.std(0).clamp_min(1e-6))
    with torch.no_grad():  # start at each class's base rate, not at 0.5
        base = ((y_tr * m_tr).sum(0) / m_tr.sum(0).clamp_min(1.0)).clamp(1e-3, 1 - 1e-3)
        model.out.bias.copy_(torch.log(base / (1 - base)))
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(epochs):
        opt.zero_grad()
        loss = (((model(x_tr) - y_tr) ** 2) * m_tr).sum() / m_tr.sum().clamp_min(1.0)
        loss.backward()
        opt.step()
    model.eval()
    for prm in model.parameters():
        prm.requires_grad_(False)

    pred = critic.predict(data["X"][va])
    y, m = data["Y"][va], data["M"][va]
    mse, r2 = {}, {}
    for k, name in enumerate(CLASSES):
        sel = m[:, k]
        err = pred[sel, k] - y[sel, k]
        mse[name] = float(np.mean(err**2)) if sel.any() else float("nan")
        var = float(np.var(y[sel, k])) if sel.any() else 0.0
        r2[name] = 1.0 - mse[name] / var if var > 0 else float("nan")
    n_ep, acc, regret, regret_wrong, noop = ranking_quality(critic, data, va)
    report = CriticReport(
        len(tr), len(va), [int(r) for r in val_runs], mse, r2, n_ep, acc, regret, regret_wrong, noop
    )
    return critic, report


__all__ = ["DEFAULT_CLASS_WEIGHTS", "CriticReport", "ranking_quality", "train_critic"]
