"""The HAF placement A1 policy type: one JSON Schema, exported in both A1 forms.

* OSC near-RT RIC A1 mediator (``PUT /A1-P/v2/policytypes/{id}``):
  ``{name, description, policy_type_id: int, create_schema}`` — :func:`osc_policy_type`.
* O-RAN A1AP v2 (``GET /policytypes/{id}``): ``{policySchema, statusSchema}`` —
  :func:`a1ap_policy_type`.

A policy instance states the placement epoch it belongs to, the migrations to start (ordered;
the rApp issues at most one per epoch), optionally the full target placement, and the class
weights of the critic's objective J (11).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema

POLICY_TYPE_ID = 21000
POLICY_TYPE_NAME = "haf-placement"

_ID = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"}

POLICY_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "HAF placement policy",
    "description": "Placement decision of the HAF rApp for one placement epoch.",
    "type": "object",
    "additionalProperties": False,
    "required": ["epoch", "migrations"],
    "properties": {
        "epoch": {
            "type": "integer",
            "minimum": 0,
            "description": "Placement epoch id; a policy for an epoch already applied is ignored.",
        },
        "migrations": {
            "type": "array",
            "maxItems": 16,
            "description": "Migrations to start, in order (empty: keep the placement).",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["instance_id", "to_node"],
                "properties": {"instance_id": _ID, "to_node": _ID},
            },
        },
        "placement": {
            "type": "object",
            "description": "Full target placement, instance id -> node id (optional check).",
            "propertyNames": _ID,
            "additionalProperties": _ID,
        },
        "class_weights": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                k: {"type": "number", "minimum": 0} for k in ("large_ai", "small_ai", "ran_only")
            },
        },
        "issued_by": {"type": "string", "maxLength": 64},
    },
}

STATUS_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "HAF placement policy status",
    "type": "object",
    "required": ["enforceStatus"],
    "properties": {
        "enforceStatus": {"type": "string", "enum": ["ENFORCED", "NOT_ENFORCED"]},
        "enforceReason": {
            "type": "string",
            "enum": ["SCOPE_NOT_APPLICABLE", "STATEMENT_NOT_APPLICABLE", "OTHER_REASON"],
        },
        "detail": {"type": "string"},
    },
}


class PolicyError(ValueError):
    """A policy does not validate; the message names the offending field."""


def osc_policy_type() -> dict[str, Any]:
    return {
        "name": POLICY_TYPE_NAME,
        "description": POLICY_SCHEMA["description"],
        "policy_type_id": POLICY_TYPE_ID,
        "create_schema": copy.deepcopy(POLICY_SCHEMA),
    }


def a1ap_policy_type() -> dict[str, Any]:
    return {
        "policySchema": copy.deepcopy(POLICY_SCHEMA),
        "statusSchema": copy.deepcopy(STATUS_SCHEMA),
    }


_VALIDATOR = jsonschema.Draft7Validator(POLICY_SCHEMA)


def validate_policy(policy: Any) -> dict[str, Any]:
    """Return the policy if valid; raise :class:`PolicyError` naming the first bad field."""
    errors = sorted(_VALIDATOR.iter_errors(policy), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
        raise PolicyError(f"policy{where or ''}: {err.message}")
    return policy


def export(directory: Path) -> None:
    """Write the two schema forms as JSON files (what operators upload)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "osc-policy-type.json").write_text(json.dumps(osc_policy_type(), indent=2) + "\n")
    (directory / "a1ap-policy-type.json").write_text(
        json.dumps(a1ap_policy_type(), indent=2) + "\n"
    )
