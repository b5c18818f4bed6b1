"""The OpenAPI 3 document of the standalone xApp's A1-P v2 subset (committed as JSON).

Paths follow the O-RAN A1AP v2 standard under ``/A1-P/v2`` with its codes (PUT policy → 201
created / 200 updated, DELETE → 204, ``/status`` with ``enforceStatus``), plus the OSC A1
mediator's ``healthcheck`` and type PUT (ric-plt-a1 ``api/swagger.yaml``).
``python -m xapp_alloc.a1.openapi`` rewrites ``xapp_alloc/deploy/a1-openapi.json``; a test keeps
the committed file equal to :func:`document`.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from a1_policies.haf_placement import (
    INSTANCE_ID_PATTERN,
    POLICY_SCHEMA,
    POLICY_TYPE_ID,
    STATUS_SCHEMA,
    osc_policy_type,
)

BASE = "/A1-P/v2"
DOC_PATH = Path(__file__).resolve().parent.parent / "deploy" / "a1-openapi.json"


def _schema(s: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema as OpenAPI 3.0 takes it (no ``$schema`` key)."""
    out = copy.deepcopy(s)
    out.pop("$schema", None)
    return out


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def _problem(desc: str) -> dict[str, Any]:
    return {
        "description": desc,
        "content": {"application/problem+json": _json("Problem")["application/json"]},
    }


def document() -> dict[str, Any]:
    type_id = {
        "name": "policy_type_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": 2147483647},
    }
    inst_id = {
        "name": "policy_instance_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": INSTANCE_ID_PATTERN},
    }
    builtin_id = type_id | {"schema": {"type": "integer", "enum": [POLICY_TYPE_ID]}}
    no_type = _problem("No such policy type")
    no_inst = _problem("No such policy type or instance")
    doc = {
        "openapi": "3.0.3",
        "info": {
            "title": "HAF xApp A1-P v2 (standalone)",
            "version": "2.0.0",
            "description": "The O-RAN A1AP v2 policy operations (with the standard's codes) and "
            "OSC's additions (healthcheck, PUT of the built-in type), for running the HAF xApp "
            "without a RIC. Policy instances are validated against the HAF placement policy "
            "type and handed to the xApp core as A1_POLICY_REQ messages.",
        },
        "paths": {
            f"{BASE}/healthcheck": {
                "get": {
                    "operationId": "healthcheck",
                    "responses": {"200": {"description": "Up", "content": _json("Health")}},
                }
            },
            f"{BASE}/policytypes": {
                "get": {
                    "operationId": "listPolicyTypes",
                    "responses": {"200": {"description": "Type ids", "content": _json("TypeIds")}},
                }
            },
            f"{BASE}/policytypes/{{policy_type_id}}": {
                "parameters": [type_id],
                "get": {
                    "operationId": "getPolicyType",
                    "responses": {
                        "200": {
                            "description": "The type, in the standard's and OSC's form at once",
                            "content": _json("PolicyTypeObject"),
                        },
                        "404": no_type,
                    },
                },
                "put": {
                    "operationId": "createPolicyType",
                    "description": "Only the built-in type can be (re-)created; no DELETE.",
                    "parameters": [builtin_id],
                    "requestBody": {"required": True, "content": _json("PolicyType")},
                    "responses": {
                        "201": {"description": "Created (the built-in type: already present)"},
                        "400": _problem("Not the built-in type, or a bad body"),
                        "415": _problem("Not JSON"),
                    },
                },
            },
            f"{BASE}/policytypes/{{policy_type_id}}/policies": {
                "parameters": [type_id],
                "get": {
                    "operationId": "listPolicies",
                    "responses": {
                        "200": {"description": "Instance ids", "content": _json("InstanceIds")},
                        "404": no_type,
                    },
                },
            },
            f"{BASE}/policytypes/{{policy_type_id}}/policies/{{policy_instance_id}}": {
                "parameters": [type_id, inst_id],
                "get": {
                    "operationId": "getPolicy",
                    "responses": {
                        "200": {"description": "The policy", "content": _json("Policy")},
                        "404": no_inst,
                    },
                },
                "put": {
                    "operationId": "putPolicy",
                    "requestBody": {"required": True, "content": _json("Policy")},
                    "responses": {
                        "200": {"description": "Updated", "content": _json("Policy")},
                        "201": {
                            "description": "Created",
                            "content": _json("Policy"),
                            "headers": {
                                "Location": {"required": True, "schema": {"type": "string"}}
                            },
                        },
                        "400": _problem("The body does not validate against the policy type"),
                        "404": no_type,
                        "415": _problem("Not JSON"),
                    },
                },
                "delete": {
                    "operationId": "deletePolicy",
                    "responses": {"204": {"description": "Deleted"}, "404": no_inst},
                },
            },
            f"{BASE}/policytypes/{{policy_type_id}}/policies/{{policy_instance_id}}/status": {
                "parameters": [type_id, inst_id],
                "get": {
                    "operationId": "getPolicyStatus",
                    "responses": {
                        "200": {"description": "Enforcement status", "content": _json("Status")},
                        "404": no_inst,
                    },
                },
            },
        },
        "components": {
            "schemas": {
                "Health": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {"status": {"type": "string", "enum": ["OK"]}},
                },
                "TypeIds": {"type": "array", "items": {"type": "integer"}},
                "InstanceIds": {"type": "array", "items": {"type": "string"}},
                "PolicyType": {
                    "type": "object",
                    "required": ["name", "policy_type_id", "create_schema"],
                    "properties": {
                        "name": {"type": "string"},
                        "description": {"type": "string"},
                        "policy_type_id": {"type": "integer", "enum": [POLICY_TYPE_ID]},
                        "create_schema": {"type": "object"},
                    },
                    "example": osc_policy_type() | {"create_schema": {"type": "object"}},
                },
                "PolicyTypeObject": {
                    "type": "object",
                    "required": ["policySchema", "name", "policy_type_id", "create_schema"],
                    "properties": {
                        "policySchema": {"type": "object"},
                        "statusSchema": {"type": "object"},
                        "name": {"type": "string"},
                        "description": {"type": "string"},
                        "policy_type_id": {"type": "integer", "enum": [POLICY_TYPE_ID]},
                        "create_schema": {"type": "object"},
                    },
                },
                "Policy": _schema(POLICY_SCHEMA),
                "Status": _schema(STATUS_SCHEMA),
                "Problem": {
                    "type": "object",
                    "required": ["status", "title", "detail"],
                    "properties": {
                        "status": {"type": "integer"},
                        "title": {"type": "string"},
                        "detail": {"type": "string"},
                    },
                },
            }
        },
    }
    # A malformed path parameter is a 400 only where something would be created; elsewhere it
    # names nothing that exists: 404.
    item = doc["paths"][f"{BASE}/policytypes/{{policy_type_id}}/policies/{{policy_instance_id}}"]
    item["put"]["responses"].setdefault("400", _problem("Bad path parameter"))
    doc["paths"][f"{BASE}/policytypes/{{policy_type_id}}"]["put"]["responses"]["400"] = _problem(
        "Not the built-in type, not an integer id, or a bad body"
    )
    return doc


def write(path: Path = DOC_PATH) -> None:
    path.write_text(json.dumps(document(), indent=2) + "\n")


if __name__ == "__main__":
    write()
