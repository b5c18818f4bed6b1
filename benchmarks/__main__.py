"""`python -m benchmarks [allocator ...]`: run the benchmarks and print their tables."""

from __future__ import annotations

import platform
import sys

from rich.console import Console
from rich.table import Table

console = Console()


def bench_allocator() -> None:
    from benchmarks import allocator as b

    forms = b.kernel_forms()
    t = Table(title="Allocator: one node (allocate_node, GPU + CPU), kernel forms in one run")
    for c in ("kernel", "instances", "median µs", "p99 µs"):
        t.add_column(c, justify="left" if c == "kernel" else "right")
    for name, kernel in forms.items():
        with b.using(kernel):
            for r in b.per_node_latency():
                t.add_row(name, str(r["instances"]), f"{r['median_us']:.2f}", f"{r['p99_us']:.2f}")
    console.print(t)

    r = b.batched_throughput()
    t = Table(title="Allocator: batched (solve_share_batch, GPU + CPU)")
    for c in ("nodes × instances", "median ms", "instance-allocations/s"):
        t.add_column(c, justify="right")
    t.add_row(
        f"{r['nodes']} × {r['instances']}", f"{r['median_ms']:.2f}", f"{r['alloc_per_s']:,.0f}"
    )
    console.print(t)

    t = Table(title="Allocator vs scipy SLSQP, 8 instances, one resource, same optimum")
    for c in ("kernel", "closed form µs", "SLSQP µs", "speed-up", "worst objective gap"):
        t.add_column(c, justify="left" if c == "kernel" else "right")
    for name, kernel in forms.items():
        with b.using(kernel):
            r = b.slsqp_ratio()
        t.add_row(
            name,
            f"{r['closed_form_us']:.2f}",
            f"{r['slsqp_us']:.0f}",
            f"{r['ratio']:,.0f}×",
            f"{r['worst_rel_gap']:.1e}",
        )
    console.print(t)


def bench_twin() -> None:
    from benchmarks import twin as b

    t = Table(
        title="Twin: one paper run (rho = 0.9, 300 s of arrivals, drained), same run",
        caption="before: both sub-problems at every event, interpreted kernel; after: only the "
        "changed one, compiled kernel (docs/twin.md)",
    )
    for c in (
        "method",
        "twin",
        "events",
        "solves",
        "wall s",
        "events/s",
        "× real time",
        "overall %",
        "peak RSS MB",
        "fork ms",
    ):
        t.add_column(c, justify="left" if c in ("method", "twin") else "right")
    for m in ("haf-static", "lyapunov"):
        for label, kw in (
            ("before", {"resolve": "every-event", "pure_python": True}),
            ("after", {}),
        ):
            r = b.paper_run(m, **kw)
            t.add_row(
                m,
                label,
                f"{r['events']:,}",
                f"{r['solves']:,}",
                f"{r['wall_s']:.1f}",
                f"{r['events_per_s']:,.0f}",
                f"{r['x_real_time']:.0f}",
                f"{r['overall']:.2f}",
                f"{r['peak_rss_mb']:.0f}",
                f"{r['fork_ms']:.0f}",
            )
    console.print(t)


def bench_placement() -> None:
    from benchmarks import placement as b

    r = b.decision_latency()
    t = Table(title="Placement: one epoch's decision without the LLM")
    for c in ("feasible candidates", "scored", "median ms", "p95 ms"):
        t.add_column(c, justify="right")
    t.add_row(
        str(r["feasible_candidates"]),
        str(r["scored"]),
        f"{r['median_ms']:.1f}",
        f"{r['p95_ms']:.1f}",
    )
    console.print(t)
    from rapp_placement import models

    t = Table(
        title="Placement: shortlist latency per backend (6 successive epochs, paper testbed)",
        caption="first call: model load + whole prompt; median: later epochs, prompt cache on",
    )
    for c in ("backend", "first call s", "median s", "prompt tok", "cached tok", "valid"):
        t.add_column(c, justify="left" if c == "backend" else "right")
    names = ["heuristic", *(n for n, p in models.installed().items() if p is not None)]
    for name in names:
        r = b.llm_latency(name)
        t.add_row(
            r["backend"],
            f"{r['first_s']:.3f}",
            f"{r['median_s']:.3f}",
            f"{r['prompt_tokens']:.0f}",
            f"{r['cached_tokens']:.0f}",
            f"{r['valid']}/{r['calls']}",
        )
    t.add_row("ollama:qwen3:32b", "-", "-", "no Ollama server can run here")
    console.print(t)


def bench_xapp() -> None:
    from benchmarks import xapp as b

    before = b.indication_latency(fast=False)
    after = b.indication_latency(fast=True)
    t = Table(title="xApp core: one RIC_INDICATION → RIC_CONTROL_REQ (paper scale), same run")
    for c in (
        "E2AP + KPM codecs",
        "indications",
        "KPM records each",
        "median ms",
        "p99 ms",
        "ind/s",
    ):
        t.add_column(c, justify="right" if c != "E2AP + KPM codecs" else "left")
    for name, r in (
        ("pycrate + asn1tools (before)", before),
        ("hand-written hot path (after)", after),
    ):
        t.add_row(
            name,
            str(r["indications"]),
            str(r["records_per_indication"]),
            f"{r['median_ms']:.3f}",
            f"{r['p99_ms']:.3f}",
            f"{r['per_s']:,.0f}",
        )
    console.print(t)
    console.print(f"speed-up of the median: {before['median_ms'] / after['median_ms']:.2f}×")
    k = b.kpm_decode_latency()
    console.print(
        f"KPM report decode alone (decode_report, median): {k['before']:.0f} µs → "
        f"{k['after']:.0f} µs ({k['before'] / k['after']:.1f}×)"
    )


def bench_loop() -> None:
    from benchmarks import loop as b

    t = Table(title="Closed loop on loopback (paper testbed, 20 ms reports)")
    for c in ("step", "n", "median ms", "p99 ms"):
        t.add_column(c, justify="right" if c != "step" else "left")
    for name, r in b.loop_latencies().items():
        t.add_row(name, str(r["n"]), f"{r['median_ms']:.2f}", f"{r['p99_ms']:.2f}")
    console.print(t)


BENCHES = {
    "allocator": bench_allocator,
    "twin": bench_twin,
    "placement": bench_placement,
    "xapp": bench_xapp,
    "loop": bench_loop,
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        print(f"unknown benchmark(s): {unknown}; choose from {list(BENCHES)}", file=sys.stderr)
        return 2
    console.print(
        f"[dim]{platform.python_implementation()} {platform.python_version()}, "
        f"{platform.machine()}[/dim]"
    )
    for n in names:
        BENCHES[n]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
