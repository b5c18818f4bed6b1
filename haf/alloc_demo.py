"""Allocator demo: one allocation of every node of the paper testbed from seeded backlogs."""

from __future__ import annotations

import random
from dataclasses import dataclass

from airan_twin.scenario import Category, Scenario
from xapp_alloc import (
    InstanceDemand,
    NodeAllocation,
    NodeDemand,
    aggregate_workload,
    allocate_node,
    ran_floor_cpu,
    ran_floor_gpu,
    urgency,
)


@dataclass(frozen=True)
class DemoNode:
    demand: NodeDemand
    allocation: NodeAllocation
    categories: dict[str, Category]


def _pending(rng: random.Random, cat: Category, sc: Scenario) -> list[tuple[float, float, float]]:
    """Random pending requests of one instance: (gpu work, cpu work, relative deadline)."""
    out = []
    for _ in range(rng.randint(0, 6)):
        if cat == Category.DU:
            urllc = rng.random() < sc.ran.urllc_share
            d = (sc.ran.urllc_deadline_ms if urllc else sc.ran.embb_deadline_ms) * 1e-3
            out.append(
                (rng.expovariate(1 / (sc.ran.du_gflop_mean * 1e9)), 0.0, d * rng.uniform(0.4, 1))
            )
        elif cat == Category.CU_UP:
            d = sc.ran.urllc_deadline_ms * 1e-3 * rng.uniform(0.2, 1.0)
            out.append((0.0, rng.expovariate(1 / (sc.ran.cu_core_us_mean * 1e-6)), d))
        elif cat == Category.LARGE_AI:
            toks = rng.randint(100, 3000)
            work = toks * sc.ai.large_gflop_per_prompt_token * 1e9
            out.append((work, 0.0, rng.uniform(0.5, sc.ai.large_deadline_max_s)))
        else:
            work = rng.randint(100, 3000) * sc.ai.small_gflop_per_token * 1e9
            out.append((work, 0.0, rng.uniform(sc.ai.small_deadline_min_s, 0.5)))
    return out


def run_alloc_demo(sc: Scenario, seed: int) -> list[DemoNode]:
    """Build each node's demand with eqs. (13)–(15) and allocate it with (16)–(19)."""
    rng = random.Random(seed)
    now = 0.0
    hop = sc.hop_delay
    out = []
    for node in sc.nodes:
        demands, cats = [], {}
        for inst in (i for i in sc.instances if i.node == node.id):
            reqs = _pending(rng, inst.category, sc)
            wg = aggregate_workload(r[0] for r in reqs)
            wc = aggregate_workload(r[1] for r in reqs)
            deadlines = [now + r[2] for r in reqs]
            floor_g = floor_c = 0.0
            if inst.category == Category.DU:
                # Downstream: the mean CU-UP stage plus one hop (conservative estimate).
                down = [sc.ran.cu_core_us_mean * 1e-6 + hop] * len(reqs)
                floor_g = ran_floor_gpu([r[0] for r in reqs], deadlines, now, down)
            elif inst.category == Category.CU_UP:
                floor_c = ran_floor_cpu([r[1] for r in reqs], deadlines, now)
            demands.append(
                InstanceDemand(inst.id, wg, wc, urgency(deadlines, now), floor_g, floor_c)
            )
            cats[inst.id] = inst.category
        nd = NodeDemand(node.id, node.gpu_capacity, node.cpu_cores, tuple(demands))
        out.append(DemoNode(nd, allocate_node(nd), cats))
    return out
