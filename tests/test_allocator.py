"""Allocator (eqs. 16–19): capacity, floors, optimality against references, batched form."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reference import kkt_bisection, slsqp
from xapp_alloc import (
    InstanceDemand,
    NodeDemand,
    allocate_node,
    allocation_objective,
    solve_share,
    solve_share_batch,
)

# Magnitudes spanning the model: FLOP/s capacities ~1e12–1e15, urgencies 1/ε = 1e6 down to
# 1/10 s, work from a few FLOP to 1e15; plus degenerate zeros.
magnitude = st.one_of(
    st.just(0.0),
    st.floats(min_value=1e-9, max_value=1e15, allow_nan=False, allow_infinity=False),
    st.builds(lambda e: 10.0**e, st.floats(min_value=-9, max_value=15)),
)


@st.composite
def problems(draw, max_n: int = 24, floor_pressure: float | None = None):
    n = draw(st.integers(min_value=1, max_value=max_n))
    cap = draw(st.one_of(st.just(0.0), st.builds(lambda e: 10.0**e, st.floats(-3, 15))))
    urg = [draw(magnitude) for _ in range(n)]
    work = [draw(magnitude) for _ in range(n)]
    # Floors: most zero, some a random fraction of capacity; their sum may exceed capacity.
    pressure = floor_pressure if floor_pressure is not None else draw(st.floats(0.0, 1.5))
    floors = []
    for _ in range(n):
        if draw(st.booleans()):
            floors.append(0.0)
        else:
            floors.append(cap * pressure * draw(st.floats(0.0, 1.0)) / n)
    return cap, urg, work, floors


@settings(max_examples=3000, deadline=None)
@given(problems())
def test_capacity_never_exceeded_and_shares_sane(p):
    cap, urg, work, floors = p
    r = solve_share(cap, urg, work, floors)
    assert len(r.shares) == len(urg)
    assert all(math.isfinite(x) and x >= 0.0 for x in r.shares)
    assert sum(r.shares) <= cap * (1 + 1e-9) + 1e-300


@settings(max_examples=1500, deadline=None)
@given(problems(floor_pressure=0.99))
def test_floors_honoured_when_they_fit(p):
    cap, urg, work, floors = p
    assert sum(floors) <= cap
    r = solve_share(cap, urg, work, floors)
    assert not r.ran_infeasible
    assert r.floor_scale == 1.0
    for x, f in zip(r.shares, floors, strict=True):
        assert x >= f * (1 - 1e-12)


@settings(max_examples=500, deadline=None)
@given(problems())
def test_floor_bound_instances_sit_on_their_floor(p):
    cap, urg, work, floors = p
    r = solve_share(cap, urg, work, floors)
    if r.ran_infeasible:
        return
    for x, f, b in zip(r.shares, floors, r.floor_bound, strict=True):
        if b:
            assert x == f and f > 0.0


def test_ran_infeasible_scales_floors_and_starves_elastic():
    # Two DU floors need 150 of 100; an AI instance with large work gets nothing.
    r = solve_share(100.0, [5.0, 3.0, 50.0], [1.0, 1.0, 1e9], [90.0, 60.0, 0.0])
    assert r.ran_infeasible
    assert r.floor_scale == pytest.approx(100.0 / 150.0)
    assert r.shares == pytest.approx((60.0, 40.0, 0.0))
    assert r.floor_bound == (True, True, False)


def test_lost_deadline_gets_what_the_feasible_floors_leave():
    r = solve_share(
        100.0, [1.0, 1.0, 1.0, 9.0], [1.0, 1.0, 1.0, 1e6], [30.0, math.inf, math.inf, 0.0]
    )
    assert r.ran_infeasible and r.floor_scale == 1.0
    assert r.lost_deadline == (False, True, True, False)
    assert r.shares == pytest.approx((30.0, 35.0, 35.0, 0.0))
    # If even the feasible floors exceed capacity they are scaled and the lost ones get 0.
    r2 = solve_share(10.0, [1.0, 1.0], [1.0, 1.0], [20.0, math.inf])
    assert r2.shares == pytest.approx((10.0, 0.0))


def test_no_work_means_floors_only():
    r = solve_share(100.0, [3.0, 0.0, 2.0], [0.0, 5.0, 0.0], [10.0, 0.0, 0.0])
    assert r.shares == (10.0, 0.0, 0.0)
    assert not r.ran_infeasible


def test_single_instance_takes_everything_above_floor():
    r = solve_share(8.0, [2.0], [3.0], [1.0])
    assert r.shares == (8.0,)
    assert r.floor_bound == (False,)


def test_square_root_rule_without_floors():
    # (17): shares proportional to √(U W): √(1·4)=2, √(9·1)=3 → 2/5 and 3/5 of capacity.
    r = solve_share(10.0, [1.0, 9.0], [4.0, 1.0], [0.0, 0.0])
    assert r.shares == pytest.approx((4.0, 6.0), rel=1e-15)


def test_clipping_cascade():
    # Instance 0's share (≈ 1/3 of 30) is below its floor 12 → floor-bound; residual 18 split.
    r = solve_share(30.0, [1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [12.0, 0.0, 0.0])
    assert r.shares == pytest.approx((12.0, 9.0, 9.0))
    assert r.floor_bound == (True, False, False)


@settings(max_examples=600, deadline=None)
@given(problems(floor_pressure=0.95))
def test_optimal_against_kkt_bisection(p):
    cap, urg, work, floors = p
    r = solve_share(cap, urg, work, floors)
    ref = kkt_bisection(cap, urg, work, floors)
    ours = allocation_objective(urg, work, r.shares)
    theirs = allocation_objective(urg, work, ref)
    if math.isinf(theirs):
        # Only when capacity is 0 or an instance with work has no room at all.
        assert math.isinf(ours) or cap == 0.0
        return
    assert ours == pytest.approx(theirs, rel=1e-6, abs=0.0)
    assert ours <= theirs * (1 + 1e-9)


def test_optimal_against_slsqp_small_cases():
    rng = random.Random(7)
    checked = 0
    for _ in range(500):
        n = rng.randint(2, 6)
        cap = 10.0 ** rng.uniform(0, 4)
        urg = [10.0 ** rng.uniform(-1, 3) for _ in range(n)]
        work = [10.0 ** rng.uniform(-2, 2) for _ in range(n)]
        floors = [0.0 if rng.random() < 0.5 else cap * rng.uniform(0, 0.9) / n for _ in range(n)]
        r = solve_share(cap, urg, work, floors)
        ref = slsqp(cap, urg, work, floors)
        assert sum(ref) <= cap * (1 + 1e-6)
        ours = allocation_objective(urg, work, r.shares)
        theirs = allocation_objective(urg, work, ref)
        # The closed form is the exact optimum: never worse, and SLSQP agrees to 1e-6.
        assert ours <= theirs * (1 + 1e-9)
        assert ours == pytest.approx(theirs, rel=1e-6)
        checked += 1
    assert checked == 500


@settings(max_examples=300, deadline=None)
@given(problems(max_n=12), st.randoms(use_true_random=False))
def test_order_of_instances_does_not_matter(p, rnd):
    cap, urg, work, floors = p
    perm = list(range(len(urg)))
    rnd.shuffle(perm)
    a = solve_share(cap, urg, work, floors)
    b = solve_share(cap, [urg[k] for k in perm], [work[k] for k in perm], [floors[k] for k in perm])
    for j, k in enumerate(perm):
        assert b.shares[j] == pytest.approx(a.shares[k], rel=1e-12, abs=1e-300)
        assert b.floor_bound[j] == a.floor_bound[k]


@settings(max_examples=300, deadline=None)
@given(st.lists(problems(max_n=10), min_size=1, max_size=12), st.data())
def test_batched_equals_per_node(nodes, data):
    width = max(len(p[1]) for p in nodes) + data.draw(st.integers(0, 3))
    n = len(nodes)
    cap = np.zeros(n)
    u = np.zeros((n, width))
    w = np.zeros((n, width))
    f = np.zeros((n, width))
    m = np.zeros((n, width), dtype=bool)
    for row, (c, urg, work, floors) in enumerate(nodes):
        k = len(urg)
        cap[row] = c
        u[row, :k], w[row, :k], f[row, :k], m[row, :k] = urg, work, floors, True
        # Junk in empty slots must be ignored.
        u[row, k:], w[row, k:], f[row, k:] = 7.0, 7.0, 7.0
    b = solve_share_batch(cap, u, w, f, m)
    for row, (c, urg, work, floors) in enumerate(nodes):
        r = solve_share(c, urg, work, floors)
        k = len(urg)
        np.testing.assert_allclose(b.shares[row, :k], r.shares, rtol=1e-12, atol=1e-300)
        assert (b.shares[row, k:] == 0.0).all()
        assert tuple(b.floor_bound[row, :k]) == r.floor_bound
        assert bool(b.ran_infeasible[row]) == r.ran_infeasible
        assert b.floor_scale[row] == pytest.approx(r.floor_scale, rel=1e-12)


def test_batched_handles_lost_deadlines_like_per_node():
    cap = np.array([100.0, 10.0])
    u = np.array([[1.0, 1.0, 1.0, 9.0], [1.0, 1.0, 0.0, 0.0]])
    w = np.array([[1.0, 1.0, 1.0, 1e6], [1.0, 1.0, 0.0, 0.0]])
    f = np.array([[30.0, math.inf, math.inf, 0.0], [20.0, math.inf, 0.0, 0.0]])
    b = solve_share_batch(cap, u, w, f)
    np.testing.assert_allclose(b.shares[0], [30.0, 35.0, 35.0, 0.0])
    np.testing.assert_allclose(b.shares[1], [10.0, 0.0, 0.0, 0.0])
    assert b.ran_infeasible.tolist() == [True, True]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"capacity": -1.0}, "capacity"),
        ({"capacity": math.nan}, "capacity"),
        ({"urgency": [1.0, -2.0]}, "urgency of instance 'b'"),
        ({"work": [math.inf, 1.0]}, "work of instance 'a'"),
        ({"floors": [0.0, math.nan]}, "floor of instance 'b'"),
        ({"floors": [0.0]}, "mismatched input lengths"),
        ({"capacity": "10"}, "capacity must be a number"),
        ({"urgency": [1.0, "1.5"]}, "urgency of instance 'b' must be a number"),
        ({"work": (None, 1.0)}, "work of instance 'a' must be a number"),
        ({"floors": np.array([0.0, -1.0])}, "floor of instance 'b'"),
    ],
)
def test_bad_input_names_field_and_instance(kwargs, fragment):
    args = {"capacity": 10.0, "urgency": [1.0, 1.0], "work": [1.0, 1.0], "floors": [0.0, 0.0]}
    args.update(kwargs)
    with pytest.raises(ValueError, match=fragment):
        solve_share(args["capacity"], args["urgency"], args["work"], args["floors"], ids=["a", "b"])


def test_tuples_arrays_and_numpy_scalars_are_numbers():
    """The kernel takes lists of floats; other real-number containers are converted."""
    ref = solve_share(10.0, [1.0, 2.0], [3.0, 4.0], [0.0, 1.0])
    other = solve_share(np.int64(10), np.array([1, 2]), (3, 4.0), [np.float32(0), True])
    assert other == ref


def test_batched_bad_input_names_position():
    with pytest.raises(ValueError, match=r"work\[node=1, instance=0\]"):
        solve_share_batch([1.0, 1.0], [[1.0], [1.0]], [[1.0], [-1.0]], [[0.0], [0.0]])
    with pytest.raises(ValueError, match="mismatched shapes"):
        solve_share_batch([1.0], [[1.0, 2.0]], [[1.0]], [[0.0]])


def test_allocate_node_solves_gpu_and_cpu_independently():
    node = NodeDemand(
        "bal-1",
        gpu_capacity=100.0,
        cpu_capacity=8.0,
        instances=(
            InstanceDemand("du-1", work_gpu=1.0, work_cpu=0.0, urgency=1000.0, floor_gpu=40.0),
            InstanceDemand("cu-1", work_gpu=0.0, work_cpu=0.1, urgency=1000.0, floor_cpu=2.0),
            InstanceDemand("llm-1", work_gpu=1e3, work_cpu=0.0, urgency=1.0),
        ),
    )
    a = allocate_node(node)
    assert sum(a.gpu.shares) == pytest.approx(100.0)
    assert a.gpu.shares[1] == 0.0
    assert a.gpu.shares[0] >= 40.0
    assert a.cpu.shares == pytest.approx((0.0, 8.0, 0.0))
    assert not a.ran_infeasible
    assert set(a.as_dict()) == {"du-1", "cu-1", "llm-1"}
    with pytest.raises(ValueError, match="node 'bal-1' gpu urgency of instance 'cu-1'"):
        allocate_node(
            NodeDemand("bal-1", 1.0, 1.0, (node.instances[0], InstanceDemand("cu-1", 0, 0, -1.0)))
        )
