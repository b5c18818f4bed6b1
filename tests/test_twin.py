"""The digital twin: conservation, determinism, (3) and (4) at every event, migrations, KV
admission, hops, a queueing closed form, fork, and the E2 hooks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from airan_twin.entities import Req, ReqClass
from airan_twin.run import make_twin, simulate
from airan_twin.scenario import load_scenario
from airan_twin.twin import Twin
from rapp_placement.candidates import Candidate
from tests.twin_helpers import ai_req, ran_req, tiny_scenario, twin_for, two_llm_scenario

SC = load_scenario()


class CheckedTwin(Twin):
    """Asserts capacity (3) after every reallocation and memory (4) after every event."""

    def reallocate(self, node, t, gpu_side=True, cpu_side=True):
        super().reallocate(node, t, gpu_side, cpu_side)
        g = sum(i.rate for i in node.instances if i.uses_gpu)
        c = sum(i.rate for i in node.instances if not i.uses_gpu)
        assert g <= node.gpu_cap * (1 + 1e-9), (node.nid, g, node.gpu_cap)
        assert c <= node.cpu_cap * (1 + 1e-9), (node.nid, c, node.cpu_cap)
        assert all(i.rate >= 0.0 and not math.isnan(i.rate) for i in node.instances)
        self.checks += 1

    def run(self, until=None, progress=None):
        def check(_t):
            for node in self.nodes.values():
                held = sum(i.weights + i.kv_held for i in node.instances)
                assert node.mem_used == pytest.approx(held, rel=1e-9, abs=1.0)
                assert node.mem_used <= node.mem_cap * (1 + 1e-12)
                for inst in node.instances:
                    # Only AI instances hold KV; the RAN stages of AI requests do not.
                    kv = sum(r.kv for r in inst.active.values()) + sum(r.kv for r in inst.paused)
                    expect = kv if inst.ps else 0.0
                    assert inst.kv_held == pytest.approx(expect, rel=1e-9, abs=1.0)

        q = self.q
        while q and (until is None or q.peek_time() <= until):
            Twin.run(self, until=q.peek_time())
            check(q.now)


def checked(method="haf-static", rho=0.9, seed=3, horizon=12.0):
    base = make_twin(SC, method, rho, seed, horizon)
    twin = CheckedTwin(SC, base.method, base.workload, horizon, seed=seed, rho=rho)
    twin.checks = 0
    return twin


@pytest.mark.parametrize("method", ["haf-static", "round-robin", "lyapunov", "game-theory"])
def test_capacity_memory_and_conservation_at_every_event(method):
    twin = checked(method)
    twin.run()
    assert twin.checks > 1000
    res = twin.result()  # raises if any request never ended
    reqs = twin.arrived
    expected = sum(1 for spec in twin.workload.requests if spec.arrival < twin.horizon)
    assert res.requests == len(reqs) == expected == res.counts["overall"]
    assert res.counts["ran_only"] + res.counts["ai"] == res.requests
    for r in reqs:
        assert r.state == Req.DONE
        if r.fulfilled:
            assert r.end <= r.deadline
        else:
            assert r.end == pytest.approx(r.deadline)  # missed requests leave at their deadline


def test_same_seed_same_numbers_other_seed_other_numbers():
    a = simulate(SC, "lyapunov", 0.9, 5, 15.0)
    b = simulate(SC, "lyapunov", 0.9, 5, 15.0)
    c = simulate(SC, "lyapunov", 0.9, 6, 15.0)
    for k in ("fulfilment", "counts", "migrations", "latency_ms", "events", "epochs", "decisions"):
        assert getattr(a, k) == getattr(b, k), k
    assert a.counts != c.counts


def test_hop_delay_and_stage_times_on_an_idle_cluster():
    # DU on a, CU-UP on b: latency = du/G_a + δ + cu/C_b exactly (each alone gets its node).
    sc = tiny_scenario(
        instances=[
            {"id": "du-1", "category": "du", "cell": 1, "node": "a"},
            {"id": "cu-up-1", "category": "cu-up", "cell": 1, "node": "b"},
            {"id": "large-ai-1", "category": "large-ai", "node": "a"},
            {"id": "small-ai-1", "category": "small-ai", "node": "b"},
        ]
    )
    r = ran_req(0, 0.5, du=2e9, cu=4e-5, deadline=4e-3)
    twin = twin_for(sc, [r])
    twin.run()
    expect = 2e9 / 100e12 + 200e-6 + 4e-5 / 8
    assert r.fulfilled
    assert r.end - r.arrival == pytest.approx(expect, rel=1e-9)


def test_ai_request_crosses_du_cu_and_the_least_backlogged_instance():
    sc = two_llm_scenario()
    first = ai_req(0, 0.0, work=50e12, deadline=10.0)  # busy large-ai-1 for a while
    second = ai_req(1, 0.1, work=5e12, deadline=10.0)
    twin = twin_for(sc, [first, second])
    twin.run()
    # first went to large-ai-1 (tie → first listed); second to the idle large-ai-2 on b (+δ).
    assert first.fulfilled and second.fulfilled
    assert first.end - first.arrival == pytest.approx(50e12 / 100e12, rel=1e-9)
    assert second.end - second.arrival == pytest.approx(200e-6 + 5e12 / 50e12, rel=1e-9)


def test_kv_admission_waits_for_memory():
    # Node a: 80 GB, DU 4 + large 28 → 48 GB free; two requests of 30 GB KV cannot both fit.
    sc = tiny_scenario()
    a = ai_req(0, 0.0, work=10e12, kv=30e9, deadline=10.0)
    b = ai_req(1, 0.01, work=10e12, kv=30e9, deadline=10.0)
    twin = twin_for(sc, [a, b])
    twin.run(until=0.05)
    inst = twin.instances["large-ai-1"]
    assert b.state == Req.QUEUED and b in inst.queue
    assert inst.kv_held == pytest.approx(30e9)
    twin.run()
    # b starts only when a leaves: a alone 0.1 s, then b alone 0.1 s.
    assert a.end == pytest.approx(0.1, rel=1e-9)
    assert b.end == pytest.approx(0.2, rel=1e-9)
    assert twin.counters.kv_waits == 1


def test_migration_window_pauses_work_and_keeps_progress():
    sc = tiny_scenario()
    r = ai_req(0, 0.0, work=100e12, deadline=60.0)  # 1 s alone on node a
    later = ai_req(1, 1.0, work=10e12, deadline=60.0)
    twin = twin_for(sc, [r, later], horizon=2.0)
    twin.run(until=0.4)  # 40 % done
    twin.apply(Candidate("mig:large-ai-1:b", "large-ai-1", "a", "b"))
    inst = twin.instances["large-ai-1"]
    assert inst.node.nid == "b" and r.state == Req.PAUSED
    assert twin.nodes["a"].mem_used == pytest.approx(4e9)  # only the DU remains on a
    twin.run(until=8.3)  # window is 8 s: nothing done, the later request waits in the queue
    assert r.state == Req.PAUSED and later.state == Req.QUEUED
    twin.run()
    # Back at 8.4 s on b (50 TFLOP/s): r has 60 TFLOP left, later 10 TFLOP; PS → later ends
    # after 2×10/50 = 0.4 s, r after a further 50/50 = 1 s.
    assert later.end == pytest.approx(8.4 + 0.4, rel=1e-9)
    assert r.end == pytest.approx(8.4 + 0.4 + 1.0, rel=1e-9)
    assert twin.counters.migrations == twin.counters.large_migrations == 1


def test_migration_refuses_memory_violation_and_double_moves():
    sc = tiny_scenario(
        nodes=[
            {"id": "a", "kind": "gpu-heavy", "gpu_tflops": 100.0, "gpu_mem_gb": 80, "cpu_cores": 8},
            {"id": "b", "kind": "balanced", "gpu_tflops": 50.0, "gpu_mem_gb": 20, "cpu_cores": 8},
        ]
    )
    twin = twin_for(sc, [ai_req(0, 0.0)])
    with pytest.raises(ValueError, match="breaks GPU memory"):
        twin.apply(Candidate("mig:large-ai-1:b", "large-ai-1", "a", "b"))
    assert "mig:large-ai-1:b" not in {c.cid for c in twin.candidates()}
    twin.apply(Candidate("mig:small-ai-1:a", "small-ai-1", "b", "a"))
    with pytest.raises(ValueError, match="already migrating"):
        twin.apply(Candidate("mig:small-ai-1:b", "small-ai-1", "a", "b"))


def test_mm1_processor_sharing_mean_sojourn_matches_closed_form():
    # One AI instance alone on its node, Poisson arrivals, exponential work, no deadlines that
    # bind: M/M/1-PS mean sojourn time is 1 / (μ − λ).
    sc = tiny_scenario()
    rng = np.random.default_rng(11)
    lam, mean_work, cap = 40.0, 2e12, 100e12  # μ = 50/s, ρ = 0.8
    n = 30000
    t = np.cumsum(rng.exponential(1 / lam, n))
    reqs = [
        ai_req(k, float(t[k]), work=float(rng.exponential(mean_work)), deadline=1e6)
        for k in range(n)
    ]
    twin = twin_for(sc, reqs)
    twin.run()
    soj = np.array([r.end - r.arrival for r in reqs[1000:]])
    mu = cap / mean_work
    assert soj.mean() == pytest.approx(1 / (mu - lam), rel=0.08)


def test_fork_runs_on_independently():
    twin = make_twin(SC, "lyapunov", 0.9, 2, 12.0)
    twin.run(until=6.0)
    fork = twin.fork()
    twin.run()
    fork.run()
    a, b = twin.result(), fork.result()
    assert a.fulfilment == b.fulfilment and a.events == b.events and a.epochs == b.epochs
    # Change one: the other is unaffected.
    base = make_twin(SC, "haf-static", 0.9, 2, 12.0)
    base.run(until=6.0)
    other = base.fork()
    other.apply(Candidate("mig:large-ai-1:gpu-heavy-1", "large-ai-1", "balanced-1", "gpu-heavy-1"))
    assert base.instances["large-ai-1"].node.nid == "balanced-1"
    assert other.instances["large-ai-1"].node.nid == "gpu-heavy-1"
    base.run()
    other.run()
    assert base.result().migrations["total"] == 0
    assert other.result().migrations["total"] == 1


def test_e2_report_hook_and_external_allocation():
    sc = tiny_scenario()
    reqs = [ai_req(0, 0.0, work=10e12, deadline=10.0, kv=1e9), ran_req(1, 0.001, du=5e9)]
    # The xApp's shares exactly (no lending of idle capacity between reports).
    twin = twin_for(sc, reqs, external_allocation=True, horizon=0.5, local_work_conserving=False)
    seen = []

    def hook(tw, nid):
        seen.append((tw.now, nid, tw.node_report(nid)))
        # The "xApp": 60 % of GPU to the large-AI, 40 % to the DU, all CPU to the CU-UP.
        if nid == "a":
            tw.set_allocation(
                "a", {"large-ai-1": (60e12, 0.0), "du-1": (40e12, 0.0), "cu-up-1": (0.0, 8.0)}
            )

    twin.enable_reports(0.0005, hook)
    twin.run()
    rep = {r.instance_id: r for r in seen[0][2]}
    assert set(rep) == {"du-1", "cu-up-1", "large-ai-1"}
    assert rep["large-ai-1"].kv_bytes == pytest.approx(1e9)
    assert rep["large-ai-1"].work_gpu == pytest.approx(10e12)
    assert rep["large-ai-1"].urgency == pytest.approx(1 / (10.0 - 0.0005))
    # Before the first report nothing is allocated: the request waits for the xApp.
    big = reqs[0]
    assert big.fulfilled
    assert big.end == pytest.approx(0.0005 + 10e12 / 60e12, rel=1e-6)
    with pytest.raises(ValueError, match="not resident"):
        twin.set_allocation("a", {"small-ai-1": (1.0, 0.0)})


def test_request_classes_and_load_scale_with_rho():
    lo = make_twin(SC, "haf-static", 0.5, 1, 20.0).workload
    hi = make_twin(SC, "haf-static", 1.0, 1, 20.0).workload
    assert hi.rate_ai / lo.rate_ai == pytest.approx(2.0, rel=0.02)
    assert hi.rate_ran / lo.rate_ran == pytest.approx(hi.rate_ai / lo.rate_ai)
    n_ai = sum(1 for r in hi.requests if not r.cls.is_ran_only)
    n_large = sum(1 for r in hi.requests if r.cls == ReqClass.LARGE_AI)
    assert n_large / n_ai == pytest.approx(0.5, abs=0.03)
    assert n_ai / len(hi.requests) == pytest.approx(0.5, abs=0.03)


def test_external_mode_keeps_ran_floors_locally_between_reports():
    """With no allocation from outside yet, the node's local floors (15) still serve the RAN;
    without them every RAN request waits for a share that never comes."""
    from airan_twin.run import make_twin
    from airan_twin.scenario import load_scenario

    sc = load_scenario(None)
    res = {}
    for floors in (True, False):
        twin = make_twin(
            sc,
            "haf-static",
            0.9,
            3,
            3.0,
            external_allocation=True,
            local_ran_floors=floors,
            local_work_conserving=False,
        )
        twin.run()
        res[floors] = twin.result().fulfilment["ran_only"]
    assert res[True] > 90.0
    assert res[False] == 0.0


def test_external_mode_lends_idle_capacity_to_instances_with_work():
    """No allocation received yet: a work-conserving node serves the AI request at the full
    GPU (100 TFLOP/s) instead of leaving it waiting for a share."""
    sc = tiny_scenario()
    for wc, end in ((True, 10e12 / 100e12), (False, None)):
        req = ai_req(0, 0.0, work=10e12, deadline=1.0, kv=1e9)
        twin = twin_for(sc, [req], external_allocation=True, horizon=0.5, local_work_conserving=wc)
        twin.run()
        if end is None:
            assert not req.fulfilled  # nothing ever allocated: it misses its deadline
        else:
            assert req.fulfilled and req.end == pytest.approx(end, rel=1e-6)
