"""Allocator speed: per-node latency, batched throughput, and the ratio against SLSQP."""

from __future__ import annotations

import contextlib
import random
import statistics
import time
from collections.abc import Iterator
from types import ModuleType

import numpy as np

from tests.reference import slsqp
from xapp_alloc import (
    InstanceDemand,
    NodeDemand,
    allocate_node,
    allocation_objective,
    allocator,
    kernels,
    solve_share,
    solve_share_batch,
)


def kernel_forms() -> dict[str, ModuleType]:
    """The kernel forms to compare in one run: the interpreted source, and the compiled one."""
    forms = {"interpreted": kernels.interpreted()}
    if getattr(kernels.KERNEL, "COMPILED", False):
        forms["compiled (mypyc)"] = kernels.KERNEL
    return forms


@contextlib.contextmanager
def using(kernel: ModuleType) -> Iterator[None]:
    """Run the allocator on ``kernel`` for the duration of the block."""
    saved = allocator._kernel
    allocator._kernel = kernel
    try:
        yield
    finally:
        allocator._kernel = saved


def _node(rng: random.Random, n: int) -> NodeDemand:
    insts = []
    for k in range(n):
        ran = k < n // 3
        insts.append(
            InstanceDemand(
                f"i{k}",
                work_gpu=10 ** rng.uniform(9, 14),
                work_cpu=10 ** rng.uniform(-5, -2),
                urgency=10 ** rng.uniform(-1, 4),
                floor_gpu=rng.uniform(0, 2e13) if ran else 0.0,
                floor_cpu=rng.uniform(0, 0.5) if ran else 0.0,
            )
        )
    return NodeDemand("n", 6.6e14, 32.0, tuple(insts))


def _percentile(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def per_node_latency(sizes=(4, 8, 16, 64), calls: int = 20000, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for n in sizes:
        nodes = [_node(rng, n) for _ in range(256)]
        for nd in nodes[:50]:  # warm-up
            allocate_node(nd)
        lat = []
        clock = time.perf_counter_ns
        for c in range(calls):
            nd = nodes[c & 255]
            t0 = clock()
            allocate_node(nd)
            lat.append((clock() - t0) / 1e3)
        rows.append(
            {
                "instances": n,
                "median_us": statistics.median(lat),
                "p99_us": _percentile(lat, 99),
            }
        )
    return rows


def batched_throughput(nodes: int = 1000, width: int = 20, repeats: int = 30, seed: int = 1):
    rng = np.random.default_rng(seed)
    cap = np.full(nodes, 6.6e14)
    u = 10 ** rng.uniform(-1, 4, (nodes, width))
    wg = 10 ** rng.uniform(9, 14, (nodes, width))
    wc = 10 ** rng.uniform(-5, -2, (nodes, width))
    fg = np.where(rng.random((nodes, width)) < 0.3, rng.uniform(0, 2e13, (nodes, width)), 0.0)
    fc = np.where(rng.random((nodes, width)) < 0.3, rng.uniform(0, 0.5, (nodes, width)), 0.0)
    cpu = np.full(nodes, 32.0)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        solve_share_batch(cap, u, wg, fg)
        solve_share_batch(cpu, u, wc, fc)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {
        "nodes": nodes,
        "instances": width,
        "median_ms": med * 1e3,
        "alloc_per_s": nodes * width / med,
    }


def slsqp_ratio(problems: int = 200, seed: int = 1) -> dict:
    rng = random.Random(seed)
    ours_t, ref_t, worst = [], [], 0.0
    for _ in range(problems):
        n = 8
        cap = 6.6e14
        urg = [10 ** rng.uniform(-1, 3) for _ in range(n)]
        work = [10 ** rng.uniform(10, 13) for _ in range(n)]
        floors = [rng.uniform(0, 0.1) * cap if k < 3 else 0.0 for k in range(n)]
        t0 = time.perf_counter()
        for _ in range(20):
            r = solve_share(cap, urg, work, floors)
        ours_t.append((time.perf_counter() - t0) / 20)
        t0 = time.perf_counter()
        ref = slsqp(cap, urg, work, floors)
        ref_t.append(time.perf_counter() - t0)
        a = allocation_objective(urg, work, r.shares)
        b = allocation_objective(urg, work, ref)
        worst = max(worst, (a - b) / b)
    return {
        "closed_form_us": statistics.median(ours_t) * 1e6,
        "slsqp_us": statistics.median(ref_t) * 1e6,
        "ratio": statistics.median(ref_t) / statistics.median(ours_t),
        "worst_rel_gap": worst,
    }
