"""Write the OSC xApp descriptor (config-file.json), its controls schema and the route table.

    .venv/bin/python -m haf.xapp_descriptor

It lives in the CLI layer because the descriptor's controls come from the twin's scenario;
the files it writes live beside the xApp (xapp_alloc/deploy/).

The descriptor's ``controls`` are the xApp config of the shipped paper testbed; the message
types, the policy type id and the metrics come from the code, and tests/test_deploy.py checks
the committed files are what this script writes.
"""

from __future__ import annotations

import json
from pathlib import Path

from a1_policies.haf_placement import POLICY_TYPE_ID
from airan_twin.scenario import cluster_config, load_scenario
from proto import observation as ob
from xapp_alloc import core as xc
from xapp_alloc.metrics import METRICS
from xapp_alloc.transport.rmr import GRPC_PORT

HERE = Path(__file__).resolve().parents[1] / "xapp_alloc" / "deploy"
NAMES = xc.MESSAGE_NAMES  # the core's dispatch table names, reused here
VERSION = "0.1.0"

CONTROLS_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "HAF xApp controls",
    "type": "object",
    "required": ["nodes", "instances"],
    "properties": {
        "nodes": {
            "type": "array",
            "minItems": 1,
            "maxItems": ob.MAX_NODES,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["node_id", "gpu_capacity", "cpu_capacity", "mem_capacity"],
                "properties": {
                    "node_id": {"type": "string", "pattern": ob.ID_PATTERN},
                    **{
                        k: {"type": "number", "exclusiveMinimum": 0, "maximum": ob.MAX_CAPACITY}
                        for k in ("gpu_capacity", "cpu_capacity", "mem_capacity")
                    },
                    "kind": {"enum": list(ob.NODE_KINDS)},
                },
            },
        },
        "instances": {
            "type": "array",
            "minItems": 1,
            "maxItems": ob.MAX_INSTANCES,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["instance_id", "category", "weights", "reconfig_s", "node_id"],
                "properties": {
                    "instance_id": {"type": "string", "pattern": ob.ID_PATTERN},
                    "category": {"enum": list(ob.CATEGORIES)},
                    "weights": {"type": "number", "minimum": 0, "maximum": ob.MAX_CAPACITY},
                    "reconfig_s": {"type": "number", "minimum": 0, "maximum": 86400},
                    "node_id": {"type": "string", "pattern": ob.ID_PATTERN},
                    "variant": {
                        "anyOf": [{"const": ""}, {"type": "string", "pattern": ob.VARIANT_PATTERN}]
                    },
                },
            },
        },
        "variants": {
            "type": "array",
            "maxItems": 2 * ob.MAX_VARIANTS,
            "description": "What the AI categories offer (issue 16): weights checked by (4).",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["category", "name", "weights"],
                "properties": {
                    "category": {"enum": ["large-ai", "small-ai"]},
                    "name": {"type": "string", "pattern": ob.VARIANT_PATTERN},
                    "weights": {"type": "number", "minimum": 0, "maximum": ob.MAX_CAPACITY},
                    "work_scale": {"type": "number", "exclusiveMinimum": 0, "maximum": 100},
                    "kv_scale": {"type": "number", "minimum": 0, "maximum": 100},
                    "quality": {"type": "number", "minimum": 0, "maximum": 1},
                },
            },
        },
        "reporting_period_ms": {"type": "integer", "minimum": 1, "maximum": 60000},
        "stale_after_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 86400},
    },
}


def descriptor() -> dict:
    controls = cluster_config(load_scenario(), reporting_period_ms=10).to_dict()
    rx = [NAMES[t] for t in xc.RX_TYPES]
    tx = [NAMES[t] for t in xc.TX_TYPES]
    return {
        "name": "haf-xapp",  # ricxappframe registers with it (appInstanceName)
        "xapp_name": "haf-xapp",
        "version": VERSION,
        "containers": [
            {
                "name": "haf-xapp",
                "image": {
                    "registry": "nexus3.o-ran-sc.org:10002",
                    "name": "haf/haf-xapp",
                    "tag": VERSION,
                },
            }
        ],
        "livenessProbe": {
            "httpGet": {"path": "ric/v1/health/alive", "port": 8080},
            "initialDelaySeconds": 5,
            "periodSeconds": 15,
        },
        "readinessProbe": {
            "httpGet": {"path": "ric/v1/health/ready", "port": 8080},
            "initialDelaySeconds": 5,
            "periodSeconds": 15,
        },
        "messaging": {
            "ports": [
                {
                    "name": "http",
                    "container": "haf-xapp",
                    "port": 8080,
                    "description": "health probes (ric/v1/health/*) and Prometheus /metrics",
                },
                {
                    "name": "rmr-data",
                    "container": "haf-xapp",
                    "port": 4560,
                    "rxMessages": rx,
                    "txMessages": tx,
                    "policies": [POLICY_TYPE_ID],
                    "description": "rmr receive data port",
                },
                {
                    "name": "rmr-route",
                    "container": "haf-xapp",
                    "port": 4561,
                    "description": "rmr route port",
                },
                {
                    "name": "grpc",
                    "container": "haf-xapp",
                    "port": GRPC_PORT,
                    "description": "gRPC StateService: the state snapshot the rApp reads",
                },
            ]
        },
        "rmr": {
            "protPort": "tcp:4560",
            "maxSize": xc.MAX_PAYLOAD,
            "numWorkers": 1,
            "rxMessages": rx,
            "txMessages": tx,
            "policies": [POLICY_TYPE_ID],
        },
        "metrics": [
            {
                "objectName": "haf_xapp",
                "objectInstance": "haf_xapp",
                "name": n,
                "type": t,
                "description": d,
            }
            for n, t, d in METRICS
        ],
        "controls": controls,
    }


#: Where an OSC near-RT RIC's platform components listen for RMR (ric-plt-ric-dep's services
#: and the routing manager's platform routes): the E2 termination and the A1 mediator.
OSC_ROUTES = {
    "e2term": "service-ricplt-e2term-rmr-alpha.ricplt:38000",
    "a1mediator": "service-ricplt-a1mediator-rmr.ricplt:4562",
}
#: The same on one machine (a local E2 termination / mediator stand-in on loopback).
LOCAL_ROUTES = {"e2term": "127.0.0.1:38000", "a1mediator": "127.0.0.1:4562"}


def route_table(routes: dict[str, str] = OSC_ROUTES) -> str:
    """RMR_SEED_RT: controls to the E2 termination, A1 answers and queries to the mediator.
    (Health-check answers go back to their sender; RMR needs no route for them.)"""
    lines = [
        "newrt|start",
        f"rte|{xc.RIC_CONTROL_REQ}|{routes['e2term']}",
        f"rte|{xc.A1_POLICY_RESP}|{routes['a1mediator']}",
        f"rte|{xc.A1_POLICY_QUERY}|{routes['a1mediator']}",
        "newrt|end",
    ]
    return "\n".join(lines) + "\n"


def write(directory: Path = HERE) -> None:
    (directory / "config-file.json").write_text(json.dumps(descriptor(), indent=2) + "\n")
    (directory / "schema.json").write_text(json.dumps(CONTROLS_SCHEMA, indent=2) + "\n")
    (directory / "routes.rt").write_text(route_table(OSC_ROUTES))
    (directory / "routes-local.rt").write_text(route_table(LOCAL_ROUTES))


if __name__ == "__main__":
    write()
