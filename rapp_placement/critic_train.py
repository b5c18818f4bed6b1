"""Offline training of the critic (eq. 10), the commit rule's constants, and its reports.

Each ensemble member is a 2-layer MLP trained full-batch with Adam on a bootstrap of the
training runs (resampled by run, so members disagree where the data is thin). The loss is the
masked MSE of the class rates (eq. 10) plus a pairwise term on J (11): within an epoch, for every
two sampled candidates whose realised J differs, the squared error of the predicted difference
(the advantage the commit rule reads) and a hinge on a predicted order that is wrong, weighted by
the realised difference. The critic is used to rank; MSE alone spends its capacity on levels
that do not change the ranking. (A RankNet logistic term was tried first: it pushes predicted
gaps apart without bound, so the advantage stops meaning J points and a margin on it means
nothing — the hinge stops at the right order, the difference term keeps the scale.)

Train and validation are split **by topology** (or a separate validation dataset is given),
never by sample. On the validation set the commit rule's κ and margin (:func:`commit_index`)
are chosen by grid search for the lowest regret; they are stored with the weights. Nothing is
chosen on the evaluation settings.

Reports (:func:`evaluate`): MSE/R² per class; per pool (every sampled candidate, as the critic
alone sees it, or the heuristic shortlist plus the no-op, as HAF sees it): top-1 agreement with
the realised best (the rollout oracle's pick when the dataset rolled out every candidate),
regret in realised J, the share of epochs that migrate; and the calibration of the predicted
advantage over the no-op (binned means, Spearman ρ, coverage of ±2 ensemble sd).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from proto.errors import InputError
from rapp_placement.critic import CLASSES, FEATURE_NAMES, Critic, commit_index

#: The commit rule's grid: κ (ensemble sds subtracted) × margin (J points as fractions).
KAPPAS = (0.0, 0.5, 1.0, 2.0)
MARGINS = (0.0, 0.001, 0.002, 0.005, 0.01)


@dataclass
class PoolReport:
    epochs: int
    top1: float  # the pick is (one of) the realised best
    regret: float  # realised J of the best minus that of the pick, mean over epochs
    migrate_share: float


@dataclass
class Calibration:
    bins: list[dict]  # predicted-advantage quantile bins: n, mean predicted, mean realised
    spearman: float
    coverage_2sd: float  # realised advantage within mean ± 2 sd (sd floored at 1e-4)


@dataclass
class CriticReport:
    train_samples: int
    val_samples: int
    val_groups: list[str]
    mse: dict[str, float]
    r2: dict[str, float]
    pools: dict[str, PoolReport]
    calibration: Calibration
    kappa: float = 0.0
    margin: float = 0.0
    grid: list[dict] = field(default_factory=list)  # validation regret per (κ, margin)

    def as_dict(self) -> dict:
        return asdict(self)


def realised_j(y: np.ndarray, m: np.ndarray, w: np.ndarray) -> np.ndarray:
    """J (11) of the requests that ended in the label window; classes with none drop out."""
    return (y * m) @ w / np.maximum((m * w).sum(axis=1), 1e-9)


def epoch_groups(data: dict[str, np.ndarray], rows: np.ndarray) -> list[np.ndarray]:
    """Row indices (into ``rows``) of each (run, epoch) with the no-op first, ≥ 2 candidates."""
    keys: dict[tuple[int, int], list[int]] = {}
    for k, (r, e) in enumerate(zip(data["run"][rows], data["epoch"][rows], strict=True)):
        keys.setdefault((int(r), int(e)), []).append(k)
    cid = data["cid"][rows]
    out = []
    for idx in keys.values():
        noop = [k for k in idx if str(cid[k]) == "noop"]
        if len(idx) >= 2 and noop:
            out.append(np.asarray(noop[:1] + [k for k in idx if k != noop[0]]))
    return out


def _weights(critic: Critic) -> np.ndarray:
    return critic._weights()  # its own class weights, normalised (no operator's in training)


def _member_j(critic: Critic, x: np.ndarray) -> np.ndarray:
    return critic.predict_members(x) @ _weights(critic)  # (members, n)


def _tally(
    real: np.ndarray,
    groups: list[np.ndarray],
    keep: np.ndarray | None,
    pick: Callable[[np.ndarray], int],
) -> PoolReport:
    """Top-1, regret and migration share of ``pick`` (an index into the epoch's kept rows, 0 =
    the no-op) against the best of *every* rolled-out candidate of the epoch (the oracle's pick
    when the dataset rolled out all of them)."""
    hits, regrets, moves = 0, [], 0
    for every in groups:
        g = every[keep[every]] if keep is not None else every
        k = pick(g)
        regret = float(real[every].max() - real[g[k]])
        hits += regret <= 1e-12
        regrets.append(regret)
        moves += k != 0
    n = len(regrets)
    if n == 0:
        return PoolReport(0, float("nan"), float("nan"), float("nan"))
    return PoolReport(n, hits / n, float(np.mean(regrets)), moves / n)


def pool_quality(
    jm: np.ndarray,
    real: np.ndarray,
    groups: list[np.ndarray],
    kappa: float,
    margin: float,
    keep: np.ndarray | None = None,
) -> PoolReport:
    """Decisions of the commit rule per epoch group, choosing among ``keep`` rows if given."""

    def pick(g: np.ndarray) -> int:
        adv = jm[:, g] - jm[:, g[:1]]
        return commit_index(adv.mean(axis=0), adv.std(axis=0), kappa, margin)

    return _tally(real, groups, keep, pick)


def reference(
    real: np.ndarray, groups: list[np.ndarray], keep: np.ndarray | None, best: bool
) -> PoolReport:
    """What a perfect critic over ``keep`` (``best``) or always the no-op would realise."""
    return _tally(real, groups, keep, lambda g: int(np.argmax(real[g])) if best else 0)


def calibration(jm: np.ndarray, real: np.ndarray, groups: list[np.ndarray]) -> Calibration:
    """Predicted vs realised advantage over the no-op of every migration in the groups."""
    pred, sd, got = [], [], []
    for g in groups:
        adv = jm[:, g[1:]] - jm[:, g[:1]]
        pred += adv.mean(axis=0).tolist()
        sd += adv.std(axis=0).tolist()
        got += (real[g[1:]] - real[g[0]]).tolist()
    p, s, r = np.asarray(pred), np.asarray(sd), np.asarray(got)
    if len(p) < 5:
        return Calibration([], float("nan"), float("nan"))
    edges = np.quantile(p, np.linspace(0, 1, 6))
    bins = []
    for lo, hi in itertools.pairwise(edges):
        sel = (p >= lo) & (p <= hi)
        bins.append(
            {
                "n": int(sel.sum()),
                "predicted": float(p[sel].mean()),
                "realised": float(r[sel].mean()),
            }
        )

    def ranks(v: np.ndarray) -> np.ndarray:
        return np.argsort(np.argsort(v, kind="stable"), kind="stable").astype(np.float64)

    rho = float(np.corrcoef(ranks(p), ranks(r))[0, 1]) if p.std() > 0 and r.std() > 0 else 0.0
    cover = float(np.mean(np.abs(r - p) <= 2 * np.maximum(s, 1e-4)))
    return Calibration(bins, rho, cover)


def evaluate(
    critic: Critic, data: dict[str, np.ndarray], rows: np.ndarray | None = None
) -> tuple[dict[str, PoolReport], Calibration, dict[str, float], dict[str, float]]:
    """Pools, calibration, MSE and R² of ``critic`` on ``rows`` of ``data`` (default: all)."""
    rows = np.arange(len(data["X"])) if rows is None else rows
    x, y, m = data["X"][rows], data["Y"][rows], data["M"][rows]
    per_member = critic.predict_members(x)  # one forward pass for J and for the rates
    jm = per_member @ _weights(critic)
    real = realised_j(y, m, _weights(critic))
    groups = epoch_groups(data, rows)
    pools = {"all": pool_quality(jm, real, groups, critic.kappa, critic.margin)}
    if "short" in data:
        keep = data["short"][rows]
        pools["shortlist"] = pool_quality(jm, real, groups, critic.kappa, critic.margin, keep)
        pools["bound:shortlist-best"] = reference(real, groups, keep, best=True)
    pools["ref:no-op"] = reference(real, groups, None, best=False)
    pred = per_member.mean(axis=0)
    mse, r2 = {}, {}
    for k, name in enumerate(CLASSES):
        sel = m[:, k]
        err = pred[sel, k] - y[sel, k]
        mse[name] = float(np.mean(err**2)) if sel.any() else float("nan")
        var = float(np.var(y[sel, k])) if sel.any() else 0.0
        r2[name] = 1.0 - mse[name] / var if var > 0 else float("nan")
    return pools, calibration(jm, real, groups), mse, r2


def _pairs(
    data: dict[str, np.ndarray], rows: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(better, worse, realised J difference) row pairs within each epoch whose realised J
    differs, and the median difference (the unit of the pair term)."""
    real = realised_j(data["Y"][rows], data["M"][rows], w)
    hi, lo, diff = [], [], []
    for g in epoch_groups(data, rows):
        for a in range(len(g)):
            for b in range(a + 1, len(g)):
                d = real[g[a]] - real[g[b]]
                if abs(d) > 1e-6:
                    hi.append(g[a] if d > 0 else g[b])
                    lo.append(g[b] if d > 0 else g[a])
                    diff.append(abs(d))
    dv = np.asarray(diff, dtype=np.float64)
    scale = float(np.median(dv)) if len(dv) else 1.0
    return np.asarray(hi, int), np.asarray(lo, int), dv, scale


def _split(
    data: dict[str, np.ndarray], val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Rows of training and validation groups (topologies; runs when there is one topology)."""
    if "topology" in data and len(np.unique(data["topology"])) > 1:
        key = np.asarray([f"topo{t}" for t in data["topology"]])
    else:
        key = np.asarray([f"run{r}" for r in data["run"]])
    names = sorted(set(key.tolist()))
    rng = np.random.default_rng(seed)
    n_val = max(1, round(len(names) * val_fraction)) if len(names) > 1 else 0
    val = sorted(rng.choice(names, size=n_val, replace=False).tolist()) if n_val else []
    is_val = np.isin(key, val)
    tr, va = np.flatnonzero(~is_val), np.flatnonzero(is_val)
    return tr, (va if len(va) else tr), val


def _fit_member(
    critic: Critic,
    k: int,
    data: dict[str, np.ndarray],
    tr: np.ndarray,
    sample_w: np.ndarray,
    pairs: tuple[np.ndarray, np.ndarray, np.ndarray, float],
    epochs: int,
    lr: float,
    weight_decay: float,
    rank_weight: float,
) -> None:
    import torch

    member = critic.model.members[k]
    z = (torch.as_tensor(data["X"][tr]) - critic.model.mean) / critic.model.std
    y = torch.as_tensor(data["Y"][tr])
    m = torch.as_tensor(data["M"][tr].astype(np.float32)) * torch.as_tensor(
        sample_w, dtype=torch.float32
    ).unsqueeze(1)
    w = torch.as_tensor(_weights(critic), dtype=torch.float32)
    hi, lo, real = (torch.as_tensor(a) for a in pairs[:3])
    real, scale = real.float(), pairs[3]
    pw = (real / scale).clamp(max=5.0)  # a wrong order costs more the more it loses
    # A pair counts as often as the bootstrap drew its run.
    bw = torch.as_tensor(sample_w, dtype=torch.float32)[hi]
    with torch.no_grad():  # start at each class's base rate, not at 0.5
        base = ((y * m).sum(0) / m.sum(0).clamp_min(1.0)).clamp(1e-3, 1 - 1e-3)
        member.out.bias.copy_(torch.log(base / (1 - base)))
    opt = torch.optim.Adam(member.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(epochs):
        opt.zero_grad()
        pred = member(z)
        loss = (((pred - y) ** 2) * m).sum() / m.sum().clamp_min(1.0)
        if rank_weight > 0 and len(hi):
            j = pred @ w
            d = (j[hi] - j[lo]) / scale  # predicted difference, in units of the median
            pair = (d - real / scale) ** 2 + pw * torch.relu(-d)  # scale, then order
            # × 0.01: a mean pair loss of ~1 unit weighs as a rate MSE of ~0.01 (eq. 10's).
            loss = loss + rank_weight * 0.01 * (pair * bw).sum() / bw.sum().clamp_min(1.0)
        loss.backward()
        opt.step()


def choose_commit_rule(
    critic: Critic, data: dict[str, np.ndarray], rows: np.ndarray
) -> tuple[float, float, list[dict]]:
    """κ and margin with the lowest validation regret for HAF's pool (the shortlist and the
    no-op; every candidate when the dataset has no shortlist flags). Ties go to the larger
    margin, then the larger κ: fewer migrations for the same regret."""
    jm = _member_j(critic, data["X"][rows])
    real = realised_j(data["Y"][rows], data["M"][rows], _weights(critic))
    groups = epoch_groups(data, rows)
    keep = data["short"][rows] if "short" in data else None
    grid = []
    for kappa in KAPPAS:
        for margin in MARGINS:
            short = pool_quality(jm, real, groups, kappa, margin, keep)
            every = pool_quality(jm, real, groups, kappa, margin)
            grid.append(
                {
                    "kappa": kappa,
                    "margin": margin,
                    "regret_shortlist": short.regret,
                    "regret_all": every.regret,
                    "migrate_share": short.migrate_share,
                }
            )
    best = min(grid, key=lambda g: (round(g["regret_shortlist"], 6), -g["margin"], -g["kappa"]))
    return best["kappa"], best["margin"], grid


def train_critic(
    data: dict[str, np.ndarray],
    val_data: dict[str, np.ndarray] | None = None,
    val_fraction: float = 0.25,
    hidden: int = 64,
    members: int = 5,
    epochs: int = 600,
    lr: float = 3e-3,
    weight_decay: float = 1e-4,
    rank_weight: float = 1.0,
    seed: int = 0,
    choose_rule: bool = True,
) -> tuple[Critic, CriticReport]:
    """Train the ensemble, choose the commit rule on validation, report on validation."""
    import torch

    for d in (data, val_data):
        if d is not None and list(d["feature_names"]) != list(FEATURE_NAMES):
            raise InputError("dataset features differ from the critic's; regenerate the dataset")
    if val_data is None:
        tr, va, val_groups = _split(data, val_fraction, seed)
        val, va_rows = data, va
    else:
        tr, val_groups = (
            np.arange(len(data["X"])),
            sorted({str(g) for g in val_data.get("run_groups", np.asarray(["validation"]))}),
        )
        val, va_rows = val_data, np.arange(len(val_data["X"]))

    critic = Critic.new(hidden, seed, members)
    x_tr = torch.as_tensor(data["X"][tr])
    critic.model.mean.copy_(x_tr.mean(0))
    # A feature constant in training (e.g. CPU load where no CU-UP was ever busy) keeps unit
    # scale: dividing by a ~0 sd would turn its first non-zero value at run time into ±1e6.
    sd = x_tr.std(0)
    critic.model.std.copy_(torch.where(sd < 1e-3, torch.ones_like(sd), sd))
    pairs = _pairs(data, tr, _weights(critic))
    runs_tr = data["run"][tr]
    uniq = np.unique(runs_tr)
    rng = np.random.default_rng(seed)
    for k in range(members):
        torch.manual_seed(seed * 1000 + k)
        if members > 1:  # bootstrap by run: member k sees each run as often as it was drawn
            drawn = rng.choice(uniq, size=len(uniq), replace=True)
            counts = {int(r): int((drawn == r).sum()) for r in uniq}
            sample_w = np.asarray([counts[int(r)] for r in runs_tr], dtype=np.float64)
        else:
            sample_w = np.ones(len(tr))
        _fit_member(critic, k, data, tr, sample_w, pairs, epochs, lr, weight_decay, rank_weight)
    critic.model.eval()
    for prm in critic.model.parameters():
        prm.requires_grad_(False)

    grid: list[dict] = []
    if choose_rule:
        critic.kappa, critic.margin, grid = choose_commit_rule(critic, val, va_rows)
    pools, calib, mse, r2 = evaluate(critic, val, va_rows)
    report = CriticReport(
        len(tr), len(va_rows), val_groups, mse, r2, pools, calib, critic.kappa, critic.margin, grid
    )
    return critic, report


__all__ = [
    "CriticReport",
    "choose_commit_rule",
    "evaluate",
    "realised_j",
    "train_critic",
]
