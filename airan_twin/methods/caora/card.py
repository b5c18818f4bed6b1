"""The model card of a CAORA actor, written from its metadata, its training curve and the
held-out evaluation (``haf caora evaluate --card``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path


def write_card(
    path: Path, meta: dict, rows: Sequence, title: str, curve: Path | None, command: str
) -> None:
    cfg = meta.get("config", {})
    lines = [
        "# Model card: CAORA RAN/AI split policy (SAC actor)",
        "",
        "**What it is.** The actor of a Soft Actor-Critic policy that, every second and per node,",
        "chooses the AI share `a ∈ [0, 1]` of the GPU capacity left after the RAN floors (15) —",
        "the CAORA baseline of the paper's Table III (placement static). State, action and reward:",
        "docs/caora.md. Weights: `airan_twin/methods/caora/caora_actor.pt` (actor only, loaded",
        "with `torch.load(weights_only=True)`; 13 inputs, two hidden layers of",
        f"{cfg.get('hidden', '?')}, Gaussian head squashed to [0, 1]).",
        "",
        "**Training data.** Only the digital twin: the paper testbed with its initial placement,",
        f"{cfg.get('episodes', '?')} episodes of {cfg.get('horizon_s', '?')} s of arrivals"
        " at loads",
        f"{', '.join(str(x) for x in cfg.get('loads', []))} (cycled), synthetic conv-like AI",
        "stream, workload seeds 1000 + episode (disjoint from the evaluation seeds). SAC: γ 0.9,",
        "τ 0.005, Adam 3e-4, batch 128, replay 100 000, target entropy −1, "
        f"{cfg.get('warmup', '?')} uniform-random warm-up transitions, one update per transition",
        f"({meta.get('updates', 0):,} updates over {meta.get('transitions', 0):,} transitions),",
        f"seed {cfg.get('seed', '?')}. Reproduce: `haf caora train --episodes",
        f"{cfg.get('episodes', '?')} --horizon {cfg.get('horizon_s', '?')}"
        f" --seed {cfg.get('seed', '?')} --install`.",
        "",
    ]
    if curve is not None and curve.exists():
        data = json.loads(curve.read_text())["curve"]
        lines += [
            "**Learning curve** (mean interval reward; first and last episode per load):",
            "",
            "| ρ | first episode | reward | last episode | reward | last overall % |"
            " last mean split |",
            "|---|---|---|---|---|---|---|",
        ]
        for rho in sorted({r["rho"] for r in data}):
            rs = [r for r in data if r["rho"] == rho]
            f, last = rs[0], rs[-1]
            lines.append(
                f"| {rho:g} | {f['episode']} | {f['reward']:+.3f} | {last['episode']} |"
                f" {last['reward']:+.3f} | {last['overall']:.1f} | {last['mean_split']:.2f} |"
            )
        lines += ["", "![learning curve](../../../docs/img/caora-learning-curve.png)", ""]
    lines += [
        f"**Evaluation** ({title}; `{command}`): fulfilment in %, mean over seeds.",
        "",
        "| policy | overall | ± sd | RAN-only | AI | large-AI | small-AI |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        f = r.fulfilment
        lines.append(
            f"| {r.label} | {f['overall']:.2f} |"
            f" {r.fulfilment_sd['overall']:.2f} |"
            f" {f['ran_only']:.2f} | {f['ai']:.2f} | {f['large_ai']:.2f} | {f['small_ai']:.2f} |"
        )
    lines += [
        "",
        "**Limits.** Trained and evaluated on the twin only, on one testbed and its static",
        "placement; the split has little leverage there (docs/caora.md explains why), so the",
        "policy is a faithful baseline, not a tuned controller; not meant for a real cluster.",
        "",
    ]
    path.write_text("\n".join(lines))
