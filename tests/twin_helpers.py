"""Small scenarios and hand-made workloads for the twin's tests."""

from __future__ import annotations

import copy

from airan_twin.entities import Req, ReqClass
from airan_twin.methods import make_method
from airan_twin.scenario import Scenario, load_scenario
from airan_twin.twin import Twin
from airan_twin.workload.stream import Workload


def tiny_scenario(**over) -> Scenario:
    """Two nodes, one cell, one large-AI and one small-AI; everything overridable."""
    base = load_scenario().model_dump(mode="json")
    data = {
        "name": "tiny",
        "hop_delay_us": 200,
        "epoch_s": 5.0,
        "nodes": [
            {"id": "a", "kind": "gpu-heavy", "gpu_tflops": 100.0, "gpu_mem_gb": 80, "cpu_cores": 8},
            {"id": "b", "kind": "balanced", "gpu_tflops": 50.0, "gpu_mem_gb": 40, "cpu_cores": 8},
        ],
        "categories": base["categories"],
        "instances": [
            {"id": "du-1", "category": "du", "cell": 1, "node": "a"},
            {"id": "cu-up-1", "category": "cu-up", "cell": 1, "node": "a"},
            {"id": "large-ai-1", "category": "large-ai", "node": "a"},
            {"id": "small-ai-1", "category": "small-ai", "node": "b"},
        ],
        "ran": base["ran"],
        "ai": base["ai"],
    }
    for k, v in over.items():
        data[k] = v
    return Scenario.model_validate(copy.deepcopy(data))


def two_llm_scenario() -> Scenario:
    """The tiny scenario with a second large-AI instance, on node b."""
    return tiny_scenario(
        instances=[
            {"id": "du-1", "category": "du", "cell": 1, "node": "a"},
            {"id": "cu-up-1", "category": "cu-up", "cell": 1, "node": "a"},
            {"id": "large-ai-1", "category": "large-ai", "node": "a"},
            {"id": "large-ai-2", "category": "large-ai", "node": "b"},
            {"id": "small-ai-1", "category": "small-ai", "node": "b"},
        ]
    )


def ai_req(rid, t, *, cls=ReqClass.LARGE_AI, work=1e12, deadline=100.0, du=0.0, cu=0.0, kv=0.0):
    return Req(rid, cls, 1, t, t + deadline, du, cu, work, kv)


def ran_req(rid, t, *, du=1e9, cu=1e-5, deadline=4e-3, urllc=False):
    return Req(rid, ReqClass.URLLC if urllc else ReqClass.EMBB, 1, t, t + deadline, du, cu)


def twin_for(sc: Scenario, reqs: list[Req], method: str = "haf-static", horizon=None, **kw):
    horizon = horizon if horizon is not None else max(r.arrival for r in reqs) + 1e-9
    wl = Workload(reqs, 0.0, 0.0, 0.0, "hand-made")
    return Twin(sc, make_method(method, sc.epoch_s), wl, horizon, **kw)
