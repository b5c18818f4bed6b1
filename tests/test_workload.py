"""Workload: trace loader errors, chronological split, synthetic statistics, load definition."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from airan_twin.scenario import load_scenario
from airan_twin.workload import conv_stats
from airan_twin.workload.stream import ai_arrival_rate, build_workload, load_of, mean_ai_work
from airan_twin.workload.synthetic import synthetic_trace
from airan_twin.workload.trace import TraceError, load_trace

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "azure-llm-inference-2023"
CONV = SHARED / "AzureLLMInferenceTrace_conv.csv"
GOOD = (
    "TIMESTAMP,ContextTokens,GeneratedTokens\n"
    "2023-11-16 18:15:46.6805900,374,44\n"
    "2023-11-16 18:15:50.9951690,396,109\n"
    "2023-11-16 18:15:51.2224670,879,55\n"
)


def write(tmp_path, text):
    p = tmp_path / "t.csv"
    p.write_text(text)
    return p


def test_loader_reads_relative_times_and_tokens(tmp_path):
    tr = load_trace(write(tmp_path, GOOD))
    assert tr.arrival_s.tolist() == pytest.approx([0.0, 4.314579, 4.541877])
    assert tr.context_tokens.tolist() == [374, 396, 879]
    assert tr.generated_tokens.tolist() == [44, 109, 55]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (GOOD.replace("GeneratedTokens", "Output"), "t.csv:1: missing column(s) GeneratedTokens"),
        (
            GOOD.replace("396,109", "396,-3"),
            "t.csv:3: GeneratedTokens: must be an integer in 0..10000000",
        ),
        (
            GOOD.replace("879,55", "x,55"),
            "t.csv:4: ContextTokens: must be an integer in 0..10000000, got 'x'",
        ),
        (GOOD.replace("18:15:51.2224670", "18:15:40.0"), "t.csv:4: TIMESTAMP: goes backwards"),
        (GOOD.replace("2023-11-16 18:15:50", "yesterday"), "t.csv:3: TIMESTAMP: not a timestamp"),
        (GOOD.replace("374,44", "374,44,9"), "t.csv:2: expected 3 fields, got 4"),
        ("", "t.csv:1: empty file"),
        ("TIMESTAMP,ContextTokens,GeneratedTokens\n", "no requests after the header"),
    ],
)
def test_loader_errors_name_file_line_and_field(tmp_path, text, fragment):
    with pytest.raises(TraceError) as exc:
        load_trace(write(tmp_path, text))
    assert fragment in str(exc.value)


def test_missing_file_is_a_trace_error(tmp_path):
    with pytest.raises(TraceError, match="cannot read trace"):
        load_trace(tmp_path / "nope.csv")


def test_synthetic_reproduces_conv_statistics():
    tr = synthetic_trace(3502.0, conv_stats.MEAN_RATE_PER_S, seed=4)
    assert tr.mean_rate == pytest.approx(conv_stats.MEAN_RATE_PER_S, rel=0.03)
    assert tr.context_tokens.mean() == pytest.approx(conv_stats.CONTEXT_TOKENS_MEAN, rel=0.03)
    assert tr.generated_tokens.mean() == pytest.approx(conv_stats.GENERATED_TOKENS_MEAN, rel=0.03)
    assert np.median(tr.context_tokens) == pytest.approx(1020, rel=0.03)
    assert np.percentile(tr.generated_tokens, 90) == pytest.approx(424, rel=0.03)
    per_s = np.bincount(tr.arrival_s.astype(int))
    assert per_s.std() / per_s.mean() == pytest.approx(conv_stats.PER_SECOND_CV, abs=0.06)
    # Drift: the busiest minutes carry ~2.7x the first minute.
    per_min = np.bincount((tr.arrival_s // 60).astype(int))[:58]
    assert per_min[25:35].mean() / per_min[:2].mean() > 1.5


def test_load_definition_round_trips():
    sc = load_scenario()
    w = mean_ai_work(sc, conv_stats.CONTEXT_TOKENS_MEAN, conv_stats.GENERATED_TOKENS_MEAN)
    for rho in (0.3, 0.9, 1.4):
        assert load_of(sc, ai_arrival_rate(sc, rho, w), w) == pytest.approx(rho)
    with pytest.raises(ValueError, match="rho"):
        ai_arrival_rate(sc, 0.0, w)


def test_trace_workload_is_time_scaled_to_the_load(tmp_path):
    sc = load_scenario()
    rows = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
    for k in range(200):
        rows.append(f"2023-11-16 18:{15 + k // 60:02d}:{k % 60:02d}.0000000,1000,200")
    tr = load_trace(write(tmp_path, "\n".join(rows) + "\n"))
    wl = build_workload(sc, 0.9, 20.0, 1, tr)
    ai = [r for r in wl.requests if not r.cls.is_ran_only]
    assert len(ai) / 20.0 == pytest.approx(wl.rate_ai, rel=0.02)  # looped and compressed


@pytest.mark.realtrace
@pytest.mark.skipif(not CONV.exists(), reason="Azure trace not present in ../shared/data")
def test_real_conv_trace_loads_and_splits_chronologically():
    tr = load_trace(CONV)
    assert len(tr) == 19366
    assert tr.mean_rate == pytest.approx(5.53, rel=0.01)
    train, test = tr.split("train"), tr.split("test")
    assert len(train) + len(test) == len(tr)
    assert train.arrival_s[0] == 0.0 and test.arrival_s[0] == 0.0
    assert train.span_s == pytest.approx(0.7 * tr.span_s, rel=0.01)
    with pytest.raises(TraceError, match="unknown split"):
        tr.split("middle")
