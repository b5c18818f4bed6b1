"""Malformed files and options through the `haf` CLI: exit 2, one line naming file, line or
field, never a traceback; a damaged recording fails replay (exit 1). Regressions for each CLI
defect found from outside (issue 11), then generated malformations of scenario and policy files.
"""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from airan_twin.scenario import DEFAULT_SCENARIO
from proto import haf_pb2
from tests.cli_helpers import run_haf
from xapp_alloc.replay import CONFIG_MTYPE
from xapp_alloc.tracefile import write_trace

DATA = Path(__file__).parent / "data"
HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens\n"
ROWS = "2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:50.9951690,396,109\n"


def run(args: list[str], capsys) -> tuple[int, str]:
    """``haf ARGS`` in this process: (exit code, stderr)."""
    code, _, err = run_haf(args, capsys)
    return code, err


def _scenario(tmp_path: Path, mutate) -> Path:
    doc = yaml.safe_load(DEFAULT_SCENARIO.read_text())
    mutate(doc)
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p


# --- regressions -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (
            HEADER + ROWS + "2023-11-16 18:15:51.0,12345678901234567890,5\n",
            "t.csv:4: ContextTokens",
        ),
        (HEADER + ROWS + "2023-11-16 18:15:51.0," + "9" * 140_000 + ",5\n", "t.csv:4"),
        (HEADER + ROWS + "2023-11-16 18:15:51.1e999,1,5\n", "t.csv:4: TIMESTAMP"),
    ],
)
def test_trace_files_with_absurd_fields_are_named(tmp_path, capsys, body, fragment):
    p = tmp_path / "t.csv"
    p.write_text(body)
    code, err = run(["sim", "--method", "haf-static", "--trace", str(p), "--horizon", "1"], capsys)
    assert code == 2 and fragment in err.replace(str(tmp_path) + "/", ""), err


def test_non_utf8_files_are_named(tmp_path, capsys):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"name: \xff\xfe\n")
    code, err = run(["alloc-demo", "--scenario", str(bad)], capsys)
    assert code == 2 and "bad.bin:1" in err and "UTF-8" in err
    csv = tmp_path / "t.csv"
    csv.write_bytes(HEADER.encode() + ROWS.encode() + b"2023-11-16 18:15:51.0,\xff,5\n")
    code, err = run(["sim", "--trace", str(csv), "--horizon", "1"], capsys)
    assert code == 2 and "t.csv" in err and "UTF-8" in err
    pol = tmp_path / "p.json"
    pol.write_bytes(b'{"epoch": 1, "migrations": [], "issued_by": "\xff"}')
    code, err = run(["a1", "put", "x", str(pol), "--url", "http://127.0.0.1:9"], capsys)
    assert code == 2 and "p.json" in err and "UTF-8" in err


def test_deep_yaml_scenario_is_refused(tmp_path, capsys):
    p = tmp_path / "deep.yaml"
    p.write_text("name: " + "[" * 3000 + "]" * 3000 + "\n")
    code, err = run(["alloc-demo", "--scenario", str(p)], capsys)
    assert code == 2 and "deep.yaml" in err and "nested" in err


@pytest.mark.parametrize("field", ["gpu_tflops", "gpu_mem_gb", "cpu_cores"])
@pytest.mark.parametrize("value", [math.inf, math.nan])
def test_non_finite_capacities_are_refused_naming_file_and_field(tmp_path, capsys, field, value):
    p = _scenario(tmp_path, lambda d: d["nodes"][2].__setitem__(field, value))
    code, err = run(["alloc-demo", "--scenario", str(p)], capsys)
    assert code == 2 and "s.yaml:" in err and f"nodes[2].{field}" in err, err


def test_deep_policy_file_and_bad_url_exit_2(tmp_path, capsys):
    p = tmp_path / "deep.json"
    p.write_text("[" * 5000 + "]" * 5000)
    code, err = run(["a1", "put", "x", str(p), "--url", "http://127.0.0.1:9"], capsys)
    assert code == 2 and "deep.json" in err and "nested" in err
    for url in ("ht!tp://x", "http://", "ftp://host", "http://h:99999", "http://h/?q=1"):
        code, err = run(["a1", "status", "x", "--url", url], capsys)
        assert code == 2 and "--url" in err, (url, err)
    code, err = run(["a1", "status", "bad id", "--url", "http://127.0.0.1:9"], capsys)
    assert code == 2 and "policy id" in err


def _recording(path: Path, config_payload: bytes) -> Path:
    write_trace(path, [haf_pb2.TraceRecord(mtype=CONFIG_MTYPE, payload=config_payload)])
    return path


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (b"[" * 5000 + b"]" * 5000, "nested"),
        (b"not json", "not JSON"),
        (
            json.dumps(
                {
                    "nodes": [
                        {"node_id": "a", "gpu_capacity": 1, "cpu_capacity": 1, "mem_capacity": 1}
                    ],
                    "instances": [
                        {
                            "instance_id": "x",
                            "category": "du",
                            "weights": 0,
                            "reconfig_s": 0,
                            "node_id": "nowhere",
                        }
                    ],
                }
            ).encode(),
            "config.instances[0].node_id",
        ),
        (b'{"nodes": [], "instances": []}', "config.nodes"),
    ],
)
def test_replay_of_a_bad_config_record_exits_2_naming_it(tmp_path, capsys, payload, fragment):
    p = _recording(tmp_path / "r.haftrace", payload)
    code, err = run(["replay", str(p)], capsys)
    assert code == 2 and "r.haftrace" in err and fragment in err, err


def test_truncated_recording_fails_replay(tmp_path, capsys):
    data = (DATA / "e2-static-0.3s.haftrace").read_bytes()
    cut = tmp_path / "cut.haftrace"
    cut.write_bytes(data[: len(data) - 10])
    code, _ = run(["replay", str(cut)], capsys)
    assert code == 1
    empty = tmp_path / "empty.haftrace"
    empty.write_bytes(b"")
    code, err = run(["replay", str(empty)], capsys)
    assert code == 2 and "no readable record" in err


def test_errors_reach_a_user_as_one_line_without_traceback(tmp_path):
    """End to end through the console script: exit 2, no traceback."""
    p = tmp_path / "deep.json"
    p.write_text("{" * 3000)
    r = subprocess.run(
        [sys.executable, "-c", "from haf.cli import main; main()", "a1", "put", "x", str(p)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr and "deep.json" in r.stderr


# --- generated malformations of scenario files and policy files ----------------------------
NODE_FIELDS = ["gpu_tflops", "gpu_mem_gb", "cpu_cores"]


def _positive_number(text: str) -> bool:
    """Text that pydantic (lax) reads as a valid positive finite number."""
    try:
        v = float(text)
    except ValueError:
        return False
    return math.isfinite(v) and v > 0


BAD_NUMBERS = st.one_of(
    st.sampled_from([math.inf, -math.inf, math.nan, -1.0, 0.0, 1e300, "x", None, [], {}, True]),
    st.floats(max_value=0.0),
    st.text(max_size=8).filter(lambda t: not _positive_number(t)),
)
BASE_DOC = yaml.safe_load(DEFAULT_SCENARIO.read_text())


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.one_of(
        st.tuples(st.just("nodes"), st.integers(0, 5), st.sampled_from(NODE_FIELDS), BAD_NUMBERS),
        st.tuples(
            st.just("categories"),
            st.sampled_from(["du", "cu-up", "large-ai", "small-ai"]),
            st.sampled_from(["weights_gb", "reconfig_s"]),
            st.one_of(st.sampled_from([math.inf, math.nan, -1.0, "x"]), st.floats(max_value=-1e-9)),
        ),
        st.tuples(
            st.just("instances"),
            st.integers(0, 15),
            st.sampled_from(["id", "node", "category"]),
            st.sampled_from(["", "a b", "ü", "x" * 64, 5, None, True]),
        ),
        st.tuples(
            st.just("instances"),
            st.integers(0, 15),
            st.sampled_from(["node", "category"]),
            st.just("nowhere"),
        ),
    )
)
def test_generated_scenario_malformations_exit_2_naming_the_field(tmp_path_factory, capsys, case):
    section, key, field, value = case
    doc = copy.deepcopy(BASE_DOC)
    doc[section][key][field] = value
    p = tmp_path_factory.mktemp("s") / "s.yaml"
    p.write_text(yaml.safe_dump(doc))
    code, err = run(["alloc-demo", "--scenario", str(p)], capsys)
    assert code == 2, err
    assert "s.yaml" in err and (field in err or section in err), err


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.sampled_from(["epoch", "migrations", "class_weights", "placement", "issued_by"]),
    st.one_of(
        st.sampled_from([math.nan, math.inf, -1, 2**64, "x", None, [], {"a b": 1}, True]),
        st.text(max_size=5),
    ),
)
def test_generated_policy_files_exit_2_before_sending(tmp_path_factory, capsys, field, value):
    assume(not (field == "migrations" and value == []))  # the one valid value drawn
    policy = {"epoch": 1, "migrations": [], field: value}
    if field == "issued_by" and isinstance(value, str):
        policy[field] = value * 70 or "x" * 65
    p = tmp_path_factory.mktemp("p") / "p.json"
    p.write_text(json.dumps(policy))
    code, err = run(
        ["a1", "put", "x", str(p), "--url", "http://127.0.0.1:9", "--wait", "0"], capsys
    )
    assert code == 2 and "p.json" in err, err
