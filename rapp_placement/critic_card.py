"""The critic's model card: what it was trained on, how, and how well (written by training)."""

from __future__ import annotations

from pathlib import Path

from rapp_placement.critic import CLASSES, DEFAULT_CLASS_WEIGHTS, FEATURE_NAMES
from rapp_placement.critic_train import Calibration, CriticReport, PoolReport


def card_path_for(weights: Path) -> Path:
    return (
        weights.with_name("CRITIC_CARD.md")
        if weights.name == "critic_weights.pt"
        else weights.with_suffix(".card.md")
    )


def pool_lines(pools: dict[str, PoolReport]) -> list[str]:
    """A markdown table of the pools' decision quality."""
    what = {
        "all": "every sampled candidate (critic alone)",
        "shortlist": "shortlist + no-op (HAF)",
        "bound:shortlist-best": "bound: the realised best of the shortlist",
        "ref:no-op": "reference: always the no-op",
    }
    out = [
        "| pool | epochs | top-1 agreement | mean regret (J points) | migrates |",
        "|---|---|---|---|---|",
    ]
    for k, p in pools.items():
        out.append(
            f"| {what.get(k, k)} | {p.epochs} | {100 * p.top1:.1f} % | {100 * p.regret:.2f} "
            f"| {100 * p.migrate_share:.0f} % |"
        )
    return out


def calibration_lines(c: Calibration) -> list[str]:
    out = ["| predicted advantage (bin mean) | realised advantage | n |", "|---|---|---|"]
    out += [
        f"| {100 * b['predicted']:+.2f} | {100 * b['realised']:+.2f} | {b['n']} |" for b in c.bins
    ]
    out += [
        "",
        f"Spearman ρ (predicted vs realised advantage) {c.spearman:.2f}; realised within "
        f"±2 ensemble sd of the prediction: {100 * c.coverage_2sd:.0f} %.",
    ]
    return out


def write_card(
    path: Path,
    report: CriticReport,
    *,
    dataset: str,
    val_dataset: str | None,
    runs: list[str],
    label_window_s: float | None,
    hidden: int,
    members: int,
    epochs: int,
    rank_weight: float,
    seed: int,
    command: str,
) -> None:
    groups = sorted({r.split("-")[0] for r in runs})
    window = label_window_s or 5.0
    lines = [
        "# Model card: HAF predictive critic",
        "",
        "**What it does.** Forecasts the deadline-fulfilment rate of large-AI, small-AI and "
        "RAN-only requests in the label window after an action, for the placement layer's "
        "selection (spec §3.3, eqs. 9, 11, 12), with an ensemble's uncertainty. Frozen at "
        "run time.",
        "",
        f"**Model.** Ensemble of {members} 2-layer MLPs: {len(FEATURE_NAMES)} standardised "
        f"features → {hidden} ReLU → {len(CLASSES)} sigmoid outputs ({', '.join(CLASSES)}). "
        f"J weights {DEFAULT_CLASS_WEIGHTS}. Commit rule: a migration only when its mean "
        f"advantage over the no-op minus κ = {report.kappa:g} ensemble sd exceeds the margin "
        f"m = {report.margin:g} (chosen on validation, below). Loaded with "
        "`torch.load(..., weights_only=True)`.",
        "",
        f"**Features** (relative, size-independent). {', '.join(FEATURE_NAMES)} "
        "(definitions: `rapp_placement/critic.py`).",
        "",
        "**Data.** Counterfactual rollouts of the digital twin (`haf critic dataset`): per "
        "epoch, the twin is forked once per sampled candidate (always the no-op and the "
        "heuristic shortlist), the candidate applied, and the class fulfilment of the requests "
        f"ending within {window:g} s recorded. Dataset `{dataset}`: {len(runs)} runs on "
        f"{len(groups)} topologies ({', '.join(groups[:12])}{' …' if len(groups) > 12 else ''}).",
        "",
        f"**Training.** Masked MSE (eq. 10) + {rank_weight:g} × pairwise ranking loss on J, "
        f"Adam, full batch, {epochs} epochs, each member on a bootstrap of the runs, seed "
        f"{seed}. Validation: "
        + (f"`{val_dataset}`" if val_dataset else "topologies split off the training data")
        + f" ({', '.join(report.val_groups[:10])}), never used for fitting; κ and m are "
        "chosen there for the lowest regret of HAF's pool.",
        "",
        f"**Validation metrics** ({report.val_samples} samples):",
        "",
        "| class | MSE | R² |",
        "|---|---|---|",
        *(f"| {k} | {report.mse[k]:.4f} | {report.r2[k]:.3f} |" for k in CLASSES),
        "",
        *pool_lines(report.pools),
        "",
        "Calibration of the predicted advantage over the no-op (migrations, quantile bins; J "
        "points):",
        "",
        *calibration_lines(report.calibration),
        "",
        "**Limits.** Trained on the twin, not on a real cluster. "
        + (
            f"Label window {window:g} s: the epochs covering the longest reconfiguration "
            "window (8 s) plus one epoch — a documented deviation from spec §3.4's one epoch, "
            "which cannot contain that window. "
            if window > 5.0
            else "Label window one epoch (5 s), spec §3.4 read literally: a large-AI migration "
            "(τ = 8 s) cannot show its gain inside it. "
        )
        + "R² near or below 0 for small-AI and RAN-only means their rates barely vary in "
        "the data: the critic predicts their base rates.",
        "",
        f"**Reproduce.** `make critic` (dataset and training); this file: `{command}`.",
        "",
    ]
    path.write_text("\n".join(lines))
