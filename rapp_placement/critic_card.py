"""The critic's model card: what it was trained on, how, and how well (written by training)."""

from __future__ import annotations

from pathlib import Path

from rapp_placement.critic import CLASSES, DEFAULT_CLASS_WEIGHTS, FEATURE_NAMES
from rapp_placement.critic_train import CriticReport


def card_path_for(weights: Path) -> Path:
    return (
        weights.with_name("CRITIC_CARD.md")
        if weights.name == "critic_weights.pt"
        else weights.with_suffix(".card.md")
    )


def write_card(
    path: Path,
    report: CriticReport,
    *,
    dataset: str,
    runs: list[str],
    val_runs: list[int],
    label_window_s: float | None,
    hidden: int,
    epochs: int,
    seed: int,
    command: str,
) -> None:
    held_out = ", ".join(runs[k] for k in val_runs) if runs else "-"
    lines = [
        "# Model card: HAF predictive critic",
        "",
        "**What it does.** Forecasts the deadline-fulfilment rate of large-AI, small-AI and "
        "RAN-only requests over the next placement epoch after an action, for the placement "
        "layer's selection (spec §3.3, eqs. 9, 11, 12). Frozen at run time.",
        "",
        f"**Model.** 2-layer MLP: {len(FEATURE_NAMES)} standardised features → {hidden} ReLU → "
        f"{len(CLASSES)} sigmoid outputs ({', '.join(CLASSES)}). J weights "
        f"{DEFAULT_CLASS_WEIGHTS}. Loaded with `torch.load(..., weights_only=True)`.",
        "",
        f"**Features.** {', '.join(FEATURE_NAMES)} (definitions: `rapp_placement/critic.py`). "
        "They assume the paper testbed's shape (two AI services).",
        "",
        "**Data.** Counterfactual rollouts of the digital twin (`haf critic dataset`): per "
        "epoch, the twin is forked once per sampled candidate (always the no-op and the "
        "heuristic shortlist), the candidate applied, and the class fulfilment of the requests "
        f"ending within {label_window_s or 5.0:g} s recorded. Dataset `{dataset}`; runs: "
        f"{', '.join(runs)}.",
        "",
        f"**Training.** Masked MSE, Adam, full batch, {epochs} epochs, seed {seed}, output "
        "bias initialised at each class's base rate. Validation split by run; held-out runs: "
        f"{held_out}.",
        "",
        f"**Held-out metrics** ({report.val_samples} samples, {report.epochs_ranked} epochs "
        "ranked):",
        "",
        "| class | MSE | R² |",
        "|---|---|---|",
        *(f"| {k} | {report.mse[k]:.4f} | {report.r2[k]:.3f} |" for k in CLASSES),
        "",
        f"Ranking: the critic's best candidate is the realised best in "
        f"{100 * report.top1_accuracy:.1f} % of held-out epochs; mean regret in realised J "
        f"{report.mean_regret:.4f} ({report.mean_regret_when_wrong:.4f} when wrong); the "
        f"no-op is its pick in {100 * report.noop_chosen_share:.0f} %.",
        "",
        "**Limits.** Trained on one testbed's shape and on the twin, not on a real cluster. "
        + (
            f"Label window {label_window_s or 5.0:g} s: the epochs covering the longest "
            "reconfiguration window (8 s) plus one epoch — a documented deviation from spec "
            "§3.4's one epoch, which cannot contain that window. "
            if (label_window_s or 5.0) > 5.0
            else "Label window one epoch (5 s), spec §3.4 read literally: a large-AI migration "
            "(τ = 8 s) cannot show its gain inside it, and the critic stops after one LLM "
            "move. "
        )
        + "docs/results.md compares both windows. R² near or below 0 for small-AI and "
        "RAN-only means their rates barely vary in the data (≈ 99.9 % and ≈ 96 %): the "
        "critic predicts their base rates.",
        "",
        "**Reproduce.** `make experiments` runs the dataset and training steps; this file: "
        f"`{command}`.",
        "",
    ]
    path.write_text("\n".join(lines))
