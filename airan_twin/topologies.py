"""Generated AI-RAN topologies: seeded scenarios beyond the paper testbed.

A topology draws its nodes from real hardware (effective GPU throughput = 67 % of dense BF16
peak, as docs/calibration.md derives for the paper testbed), its cells (one DU and one CU-UP
each), its LLMs and small models, and an initial placement that either starts the LLMs on the
weakest GPUs that can hold them (the paper testbed's situation) or anywhere they fit. The
workload constants are the paper testbed's (calibrated there). Same seed, same scenario.

``haf topology --seed N --out FILE`` writes one; every experiment takes it with
``--scenario FILE``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import yaml

from airan_twin.scenario import DEFAULT_SCENARIO, Scenario


@dataclass(frozen=True)
class Hardware:
    name: str
    kind: str
    gpu_tflops: float  # effective: 0.67 × dense BF16 peak
    gpu_mem_gb: float
    cpu_cores: float


#: Node types from real accelerators (BF16 dense peaks: H100 SXM 989, A100 312, L40S 362,
#: L4 121 TFLOP/s).
HARDWARE: tuple[Hardware, ...] = (
    Hardware("4x H100 SXM 80GB", "gpu-heavy", 2650.0, 320, 32),
    Hardware("2x H100 SXM 80GB", "gpu-heavy", 1325.0, 160, 32),
    Hardware("2x A100 80GB", "gpu-heavy", 418.0, 160, 64),
    Hardware("1x A100 80GB", "balanced", 209.0, 80, 64),
    Hardware("1x L40S 48GB", "balanced", 242.5, 48, 32),
    Hardware("1x L4 24GB", "cpu-heavy", 81.0, 24, 96),
)
LLM_GB, SMALL_GB, DU_GB = 28.0, 1.0, 4.0
#: VRAM an LLM's node keeps free at the start for its KV cache.
KV_ROOM_GB = 8.0


def generate(
    seed: int,
    nodes: int | None = None,
    llms: int | None = None,
    small: int | None = None,
    llms_on_weak: bool | None = None,
) -> Scenario:
    """A validated scenario drawn from ``seed`` (unset counts drawn too: 4–9 nodes, 1–3 LLMs,
    2–6 small models, cells on up to every node, LLMs on weak GPUs half the time)."""
    rng = random.Random(seed)
    n = nodes if nodes is not None else rng.randint(4, 9)
    n_llm = llms if llms is not None else rng.randint(1, 3)
    n_small = small if small is not None else rng.randint(2, 6)
    on_weak = llms_on_weak if llms_on_weak is not None else rng.random() < 0.5
    if n < 2 or n_llm < 1 or n_small < 1:
        raise ValueError("a topology needs at least 2 nodes, 1 LLM and 1 small model")
    # One strong node at least, and enough LLM-capable VRAM for every LLM.
    hw = [rng.choice(HARDWARE[:2])] + [rng.choice(HARDWARE) for _ in range(n - 1)]
    while sum(int(h.gpu_mem_gb // (LLM_GB + KV_ROOM_GB + DU_GB)) for h in hw) < n_llm:
        hw[rng.randrange(n)] = rng.choice(HARDWARE[:3])
    rng.shuffle(hw)
    kinds_seen: dict[str, int] = {}
    node_ids = []
    for h in hw:
        kinds_seen[h.kind] = kinds_seen.get(h.kind, 0) + 1
        node_ids.append(f"{h.kind}-{kinds_seen[h.kind]}")
    free = {nid: h.gpu_mem_gb for nid, h in zip(node_ids, hw, strict=True)}
    gpu = {nid: h.gpu_tflops for nid, h in zip(node_ids, hw, strict=True)}

    instances: list[dict[str, Any]] = []
    cells = rng.randint(2, n)
    for c, nid in enumerate(rng.sample(node_ids, cells), start=1):
        instances += [
            {"id": f"du-{c}", "category": "du", "cell": c, "node": nid},
            {"id": f"cu-up-{c}", "category": "cu-up", "cell": c, "node": nid},
        ]
        free[nid] -= DU_GB
    for k in range(1, n_llm + 1):
        fits = [nid for nid in node_ids if free[nid] >= LLM_GB + KV_ROOM_GB]
        # On weak GPUs: the weakest that holds it, as on the paper testbed.
        nid = min(fits, key=lambda x: (gpu[x], x)) if on_weak else rng.choice(fits)
        instances.append({"id": f"large-ai-{k}", "category": "large-ai", "node": nid})
        free[nid] -= LLM_GB + KV_ROOM_GB
    for k in range(1, n_small + 1):
        nid = rng.choice([x for x in node_ids if free[x] >= SMALL_GB])
        instances.append({"id": f"small-ai-{k}", "category": "small-ai", "node": nid})
        free[nid] -= SMALL_GB

    base = yaml.safe_load(DEFAULT_SCENARIO.read_text())
    doc = {
        "name": f"generated-{seed}",
        "hop_delay_us": base["hop_delay_us"],
        "epoch_s": base["epoch_s"],
        "nodes": [
            {
                "id": nid,
                "kind": h.kind,
                "hardware": h.name,
                "gpu_tflops": h.gpu_tflops,
                "gpu_mem_gb": h.gpu_mem_gb,
                "cpu_cores": h.cpu_cores,
            }
            for nid, h in zip(node_ids, hw, strict=True)
        ],
        "categories": base["categories"],
        "instances": instances,
        "ran": base["ran"],
        "ai": base["ai"],
    }
    return Scenario.model_validate(doc)


def to_yaml(sc: Scenario) -> str:
    return yaml.safe_dump(sc.model_dump(mode="json"), sort_keys=False)
