"""OSC packaging: the descriptor follows the onboarder's rules and agrees with the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from a1_policies.haf_placement import POLICY_TYPE_ID
from haf import xapp_descriptor as xd
from xapp_alloc import core as xc
from xapp_alloc.metrics import METRICS

DEPLOY = Path(__file__).resolve().parents[1] / "xapp_alloc" / "deploy"
DESC = json.loads((DEPLOY / "config-file.json").read_text())


def test_committed_files_are_what_the_generator_writes(tmp_path):
    xd.write(tmp_path)
    for name in ("config-file.json", "schema.json", "routes.rt", "routes-local.rt"):
        assert (tmp_path / name).read_text() == (DEPLOY / name).read_text(), (
            f"{name} is stale: python -m haf.xapp_descriptor"
        )


def test_descriptor_has_what_the_onboarder_requires():
    # The name becomes the container and Kubernetes names: a DNS label, at most 63 characters.
    assert re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", DESC["xapp_name"])
    assert DESC["version"] and DESC["containers"][0]["name"] == DESC["xapp_name"]
    # ricxappframe registers the xApp under the descriptor's "name" (appInstanceName).
    assert DESC["name"] == DESC["xapp_name"]
    for c in DESC["containers"]:
        assert {"registry", "name", "tag"} <= set(c["image"])
    for probe in ("livenessProbe", "readinessProbe"):
        assert DESC[probe]["httpGet"]["port"] == 8080
    ports = {p["name"]: p for p in DESC["messaging"]["ports"]}
    assert ports["rmr-data"]["port"] == 4560 and ports["rmr-route"]["port"] == 4561
    assert ports["http"]["port"] == 8080
    assert all(p["container"] == DESC["containers"][0]["name"] for p in ports.values())


def test_message_types_and_policies_agree_with_the_code():
    data = {p["name"]: p for p in DESC["messaging"]["ports"]}["rmr-data"]
    rx = {xd.NAMES[t] for t in xc.RX_TYPES}
    tx = {xd.NAMES[t] for t in xc.TX_TYPES}
    assert set(data["rxMessages"]) == rx == set(DESC["rmr"]["rxMessages"])
    assert set(data["txMessages"]) == tx == set(DESC["rmr"]["txMessages"])
    assert {"RIC_INDICATION", "A1_POLICY_REQ"} <= rx and {"RIC_CONTROL_REQ", "A1_POLICY_RESP"} <= tx
    assert data["policies"] == [POLICY_TYPE_ID] and isinstance(data["policies"][0], int)
    assert {m["name"] for m in DESC["metrics"]} == {n for n, _, _ in METRICS}


def test_controls_validate_and_load():
    schema = json.loads((DEPLOY / "schema.json").read_text())
    jsonschema.validate(DESC["controls"], schema)
    cfg = xc.XappConfig.from_dict(DESC["controls"])
    assert len(cfg.nodes) == 6 and len(cfg.instances) == 18
    bad = dict(DESC["controls"], nodes=[{"node_id": "x"}])
    try:
        jsonschema.validate(bad, schema)
    except jsonschema.ValidationError as exc:
        assert "gpu_capacity" in exc.message
    else:  # pragma: no cover
        raise AssertionError("schema accepted a node without capacities")


@pytest.mark.parametrize(
    ("name", "e2term", "a1"),
    [
        (
            "routes.rt",
            "service-ricplt-e2term-rmr-alpha.ricplt:38000",
            "service-ricplt-a1mediator-rmr.ricplt:4562",
        ),
        ("routes-local.rt", "127.0.0.1:38000", "127.0.0.1:4562"),
    ],
)
def test_route_table_format_and_coverage(name, e2term, a1):
    """Every type the xApp sends is routed, except the health-check answer (RMR returns it to
    its sender); the shipped table names an OSC RIC's services, the local one loopback."""
    text = (DEPLOY / name).read_text()
    lines = text.splitlines()
    assert lines[0] == "newrt|start" and lines[-1] == "newrt|end" and text.endswith("\n")
    routed = {}
    for line in lines[1:-1]:
        kind, mtype, target = line.split("|")
        assert kind == "rte" and re.fullmatch(r"[\w.-]+:\d+", target)
        routed[int(mtype)] = target
    assert set(routed) == set(xc.TX_TYPES) - {xc.RIC_HEALTH_CHECK_RESP}
    assert routed[xc.RIC_CONTROL_REQ] == e2term
    assert routed[xc.A1_POLICY_RESP] == routed[xc.A1_POLICY_QUERY] == a1


def test_dockerfile_installs_rmr_and_sets_the_runtime_environment():
    text = (DEPLOY / "Dockerfile").read_text()
    from tests import osc

    # The image builds the RMR release the tests build and run against, the same way.
    assert f"RMR_VERSION={osc.RMR_VERSION}" in text and "-DDEV_PKG=$dev" in text
    assert "RMR_STASH_RT" in text
    for env in (
        "LD_LIBRARY_PATH",
        "RMR_SEED_RT",
        "CONFIG_FILE",
        "PYTHONUNBUFFERED",
        "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python",
    ):
        assert env in text
    assert "ricxappframe==3.2.2" in text and "xapp_alloc.transport.rmr" in text
    assert "EXPOSE 4560 4561 8080" in text
    # The allocator kernel is compiled in a stage with a compiler; the slim image installs it.
    assert "FROM python:3.11 AS wheel" in text and "pip wheel" in text
    assert "/wheels/haf_airan-*.whl" in text
