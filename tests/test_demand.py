"""Demand terms of the allocation layer: workload (13), urgency (14), RAN floors (15)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xapp_alloc import aggregate_workload, ran_floor_cpu, ran_floor_gpu, urgency


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


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: aggregate_workload([1.0, -1.0], "du-3"), r"residual_work\[1\] of du-3"),
        (lambda: urgency([math.nan], 0.0, instance="llm-1"), r"deadlines\[0\] of llm-1"),
        (lambda: urgency([1.0], 0.0, epsilon=0.0), "epsilon"),
        (lambda: ran_floor_cpu([1.0], [1.0, 2.0], 0.0, "cu-2"), "cu-2 differ in length"),
        (lambda: ran_floor_gpu([1.0], [1.0], 0.0, [-1.0], "du-1"), r"downstream_time\[0\] of du-1"),
    ],
)
def test_bad_input_is_named(call, fragment):
    with pytest.raises(ValueError, match=fragment):
        call()
