"""Contracts: the A1 policy type (examples, exported forms) and the generated protobuf code."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from a1_policies.haf_placement import (
    POLICY_TYPE_ID,
    PolicyError,
    a1ap_policy_type,
    export,
    osc_policy_type,
    validate_policy,
)
from proto import haf_pb2

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "a1_policies" / "examples"


@pytest.mark.parametrize("path", sorted((EXAMPLES / "valid").glob("*.json")), ids=lambda p: p.name)
def test_valid_examples_validate(path):
    validate_policy(json.loads(path.read_text()))


@pytest.mark.parametrize(
    "path", sorted((EXAMPLES / "invalid").glob("*.json")), ids=lambda p: p.name
)
def test_invalid_examples_are_rejected_naming_the_field(path):
    with pytest.raises(PolicyError, match=r"^policy"):
        validate_policy(json.loads(path.read_text()))


def test_both_forms_come_from_one_schema_and_exports_are_current(tmp_path):
    osc, a1ap = osc_policy_type(), a1ap_policy_type()
    assert osc["policy_type_id"] == POLICY_TYPE_ID and isinstance(osc["policy_type_id"], int)
    assert osc["create_schema"] == a1ap["policySchema"]
    assert a1ap["statusSchema"]["properties"]["enforceStatus"]["enum"] == [
        "ENFORCED",
        "NOT_ENFORCED",
    ]
    export(tmp_path)
    for name in ("osc-policy-type.json", "a1ap-policy-type.json"):
        assert (tmp_path / name).read_text() == (ROOT / "a1_policies" / name).read_text(), name


def test_generated_protobuf_is_current(tmp_path):
    shutil.copytree(
        ROOT / "proto",
        tmp_path / "proto",
        ignore=shutil.ignore_patterns("*_pb2*.py", "__pycache__"),
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-I",
            str(tmp_path),
            f"--python_out={tmp_path}",
            f"--grpc_python_out={tmp_path}",
            str(tmp_path / "proto" / "haf.proto"),
        ],
        check=True,
    )
    for name in ("haf_pb2.py", "haf_pb2_grpc.py"):
        fresh = (tmp_path / "proto" / name).read_text()
        assert fresh == (ROOT / "proto" / name).read_text(), (
            f"proto/{name} is stale: regenerate with "
            "python -m grpc_tools.protoc -I. --python_out=. --grpc_python_out=. proto/haf.proto"
        )


def test_control_round_trips():
    msg = haf_pb2.E2smHafControl(node_id="balanced-1", placement_epoch=7, ran_infeasible=True)
    msg.allocations.add(instance_id="du-3", gpu_flops=1.5e13, cpu_cores=0.0, gpu_floor_bound=True)
    back = haf_pb2.E2smHafControl.FromString(msg.SerializeToString())
    assert back == msg and back.allocations[0].gpu_floor_bound
