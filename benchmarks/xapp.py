"""xApp speed: one indication through the core (E2AP + KPM decode, allocate, encode control)."""

from __future__ import annotations

import statistics
import time

from airan_twin.e2node import E2Loop
from airan_twin.run import make_twin
from airan_twin.scenario import load_scenario
from xapp_alloc import core as xc
from xapp_alloc.e2 import codec


def indication_latency(n: int = 600, fast: bool = True) -> dict:
    """Real indications recorded from the twin at rho = 0.9, replayed through a fresh core;
    ``fast=False``: every message through pycrate / asn1tools (the "before" of issue 17)."""
    twin = make_twin(load_scenario(), "haf-static", 0.9, 1, 2.0, external_allocation=True)
    loop = E2Loop.build(twin, 0.01)
    twin.run()
    inds = [r for r in loop.record or [] if r.mtype == xc.RIC_INDICATION and not r.outbound][:n]
    core = xc.XappCore(loop.core.config)
    lat = []
    saved, codec.USE_FAST = codec.USE_FAST, fast
    try:
        for r in inds:
            t0 = time.perf_counter()
            core.handle(r.mtype, r.payload, r.timestamp, r.sub_id, r.meid)
            lat.append(time.perf_counter() - t0)
    finally:
        codec.USE_FAST = saved
    lat.sort()
    med = statistics.median(lat)
    return {
        "indications": len(lat),
        "median_ms": med * 1e3,
        "p99_ms": lat[int(0.99 * (len(lat) - 1))] * 1e3,
        "per_s": 1.0 / med,
        "records_per_indication": len(codec.FIELDS) * len(core.catalogue),
    }


def kpm_decode_latency(n: int = 600) -> dict:
    """``codec.decode_report`` alone on recorded reports: asn1tools vs the hand-written reader."""
    twin = make_twin(load_scenario(), "haf-static", 0.9, 1, 2.0, external_allocation=True)
    loop = E2Loop.build(twin, 0.01)
    twin.run()
    inds = [
        codec.decode_indication(r.payload)
        for r in loop.record or []
        if r.mtype == xc.RIC_INDICATION and not r.outbound
    ][:n]
    cat = loop.core.catalogue
    out = {}
    saved = codec.USE_FAST
    try:
        for fast in (False, True):
            codec.USE_FAST = fast
            lat = []
            for i in inds:
                t0 = time.perf_counter()
                codec.decode_report(i.header, i.message, cat)
                lat.append(time.perf_counter() - t0)
            out["after" if fast else "before"] = statistics.median(lat) * 1e6
    finally:
        codec.USE_FAST = saved
    return out
