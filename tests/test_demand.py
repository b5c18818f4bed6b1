"""Demand terms of the allocation layer: workload (13), urgency (14), RAN floors (15)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from xapp_alloc import aggregate_workload, ran_floor_cpu, ran_floor_gpu, urgency
from xapp_alloc.demand import ran_floor, ran_pending


def test_workload_is_sum_of_residuals():
    assert aggregate_workload([1.0, 2.5, 0.0]) == 3.5
    assert aggregate_workload([]) == 0.0


def test_urgency_sums_inverse_slack_with_epsilon_guard():
    # Slacks 0.5 s and 0.25 s → 2 + 4; a passed deadline counts 1/ε.
    assert urgency([10.5, 10.25], now=10.0) == pytest.approx(6.0)
    assert urgency([9.0], now=10.0, epsilon=1e-3) == pytest.approx(1000.0)
    assert urgency([], now=0.0) == 0.0


@given(st.lists(st.floats(0, 100), max_size=20), st.floats(0, 100))
def test_urgency_is_positive_and_bounded_by_epsilon(deadlines, now):
    u = urgency(deadlines, now, epsilon=1e-6)
    assert 0.0 <= u <= len(deadlines) / 1e-6 * (1 + 1e-12)


def test_du_floor_uses_min_slack_after_downstream_time():
    # Two pending requests: work 2 and 4 FLOP; slacks (1.0-0.2) and (0.5-0.1) → min 0.4.
    f = ran_floor_gpu([2.0, 4.0], [11.0, 10.5], now=10.0, downstream_time=[0.2, 0.1])
    assert f == pytest.approx(6.0 / 0.4)


def test_cu_floor_has_no_downstream_term():
    assert ran_floor_cpu([0.001, 0.003], [1.002, 1.004], now=1.0) == pytest.approx(0.004 / 0.002)


def test_no_pending_requests_means_no_floor():
    assert ran_floor_gpu([], [], 0.0, []) == 0.0
    assert ran_floor_cpu([], [], 0.0) == 0.0


def test_non_positive_slack_is_a_lost_deadline():
    assert ran_floor_cpu([1.0], [1.0], now=1.0) == math.inf
    assert ran_floor_gpu([1.0], [1.0], now=0.5, downstream_time=[0.6]) == math.inf


# --- each equation against an independent formula (fractions / numpy), and its invariants ---
finite = st.floats(-1e6, 1e6, allow_nan=False)
work = st.floats(0, 1e12, allow_nan=False)


@given(st.lists(st.tuples(work, finite, st.floats(0, 10)), max_size=12), finite)
def test_ran_pending_and_floor_match_the_definition_of_15(reqs, now):
    res = [r[0] for r in reqs]
    dl = [r[1] for r in reqs]
    down = [r[2] for r in reqs]
    pend, slack = ran_pending(res, dl, now, down)
    if not reqs:
        assert (pend, slack) == (0.0, math.inf) and ran_floor(pend, slack) == 0.0
        return
    assert pend == pytest.approx(float(sum(Fraction(x) for x in res)), rel=1e-12, abs=1e-300)
    assert slack == pytest.approx(min(d - now - t for d, t in zip(dl, down, strict=True)), abs=1e-6)
    f = ran_floor(pend, slack)
    if pend <= 0:
        assert f == 0.0
    elif slack <= 0:
        assert f == math.inf
    else:
        assert f == pytest.approx(pend / slack)
        if math.isfinite(f):  # pend / slack can overflow for a tiny slack: then inf, unattainable
            assert f * slack == pytest.approx(pend)  # done on the tightest slack


@given(st.lists(finite, max_size=20), finite, st.floats(1e-9, 1e-3))
def test_urgency_matches_numpy_of_14(deadlines, now, eps):
    ref = float(np.sum(1.0 / np.maximum(np.asarray(deadlines, dtype=float) - now, eps)))
    assert urgency(deadlines, now, eps) == pytest.approx(ref, rel=1e-9)


@given(st.lists(work, max_size=30))
def test_workload_13_is_the_exact_sum(res):
    assert aggregate_workload(res) == float(sum(Fraction(x) for x in res))


def test_floor_is_monotone_in_work_and_slack():
    assert ran_floor(2.0, 1.0) > ran_floor(1.0, 1.0) > ran_floor(1.0, 2.0) > 0.0
    assert ran_floor(0.0, -1.0) == 0.0  # nothing left to serve: no floor, even past the deadline
