"""The HAF placement A1 policy type: one JSON Schema, exported in both A1 forms.

* OSC near-RT RIC A1 mediator (``PUT /A1-P/v2/policytypes/{id}``):
  ``{name, description, policy_type_id: int, create_schema}`` — :func:`osc_policy_type`.
* O-RAN A1AP v2 (``GET /policytypes/{id}``): ``{policySchema, statusSchema}`` —
  :func:`a1ap_policy_type`.

A policy instance states the placement epoch it belongs to, the migrations to start (ordered;
the rApp issues at most one per epoch), optionally the target placement of some or all
instances (the xApp refuses the policy unless its migrations lead there), and optionally the
class weights of the objective J (11) (the xApp reports them in the snapshot; the rApp's
selection uses them). Every number is bounded in the schema itself, so a validated policy is
plain, finite, small JSON; :func:`parse_policy_request` reads the A1_POLICY_REQ envelope around
it within size and nesting limits, before anything else looks at it.

The builders here (:func:`policy_id`, :func:`build_policy`, :func:`policy_request`) are the only
place a policy or its envelope is put together: the rApp, the twin's E2 loop, the standalone A1
store and ``haf a1`` call them.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from proto import safejson
from proto.errors import HafError
from proto.observation import (
    CLASSES,
    ID_PATTERN,
    MAX_INSTANCES,
    MAX_WEIGHT,
    VARIANT_PATTERN,
    ClassWeights,
    Constraints,
)

POLICY_TYPE_ID = 21000
POLICY_TYPE_NAME = "haf-placement"
#: Largest epoch: the largest integer a double holds exactly (JSON numbers are doubles to many
#: peers, and the control message carries it as uint64).
MAX_EPOCH = 2**53 - 1
MAX_MIGRATIONS = 16
#: A policy instance id (A1-P path segment; the OSC mediator's limit).
INSTANCE_ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
#: An A1_POLICY_REQ (envelope and policy) is at most this large and this deep.
MAX_REQUEST_BYTES = 64 * 1024
MAX_REQUEST_DEPTH = 8

_ID = {"type": "string", "pattern": ID_PATTERN}
_VARIANT = {"type": "string", "pattern": VARIANT_PATTERN}
MAX_ADMISSIONS = 4
_INSTANCE_ID = re.compile(INSTANCE_ID_PATTERN)

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
            "maximum": MAX_EPOCH,
            "description": "Placement epoch id. Migrations of an epoch are applied once; a "
            "policy for an epoch already applied is OK if identical, refused otherwise.",
        },
        "migrations": {
            "type": "array",
            "maxItems": MAX_MIGRATIONS,
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
            "description": "Target placement, instance id -> node id: the policy is refused "
            "unless the placement after its migrations matches every entry.",
            "maxProperties": MAX_INSTANCES,
            "propertyNames": _ID,
            "additionalProperties": _ID,
        },
        "class_weights": {
            "type": "object",
            "description": "Weights of J (11) per class (all three, not all zero); in force "
            "until a later policy sets others or this one is deleted.",
            "additionalProperties": False,
            "required": list(CLASSES),
            "properties": {
                k: {"type": "number", "minimum": 0, "maximum": MAX_WEIGHT} for k in CLASSES
            },
        },
        "constraints": {
            "type": "object",
            "description": "Placement rules (an operator's intent): never place `category` "
            "on nodes of `node_kind` (`ai`: both AI categories, `any`: all), and pinned "
            "instances only on their node. In force until a later policy sets others or this "
            "one is deleted; migrations that break them are refused.",
            "additionalProperties": False,
            "properties": {
                "avoid": {
                    "type": "array",
                    "maxItems": 16,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["category", "node_kind"],
                        "properties": {
                            "category": {
                                "enum": ["large-ai", "small-ai", "du", "cu-up", "ai", "any"]
                            },
                            "node_kind": {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,31}$"},
                        },
                    },
                },
                "pin": {
                    "type": "object",
                    "maxProperties": 64,
                    "propertyNames": _ID,
                    "additionalProperties": _ID,
                },
            },
        },
        "variants": {
            "type": "object",
            "description": "AI service variant per instance (e.g. int4): the instance "
            "reconfigures in place for its window, like a migration; memory (4) is checked "
            "with the new weights. Variants are those the xApp's config offers.",
            "maxProperties": MAX_MIGRATIONS,
            "propertyNames": _ID,
            "additionalProperties": _VARIANT,
        },
        "admit": {
            "type": "array",
            "maxItems": MAX_ADMISSIONS,
            "description": "New AI service instances to start: each loads on its node for its "
            "category's window and serves after that (memory (4) checked).",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["instance_id", "category", "node"],
                "properties": {
                    "instance_id": _ID,
                    "category": {"enum": ["large-ai", "small-ai"]},
                    "node": _ID,
                    "variant": _VARIANT,
                },
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


class PolicyError(HafError):
    """A policy or its A1 request does not validate; the message names the offending field.

    ``instance_id`` is the request's policy instance id when it could be read (the answer to a
    malformed request carries it), else "".
    """

    def __init__(self, message: str, instance_id: str = "") -> None:
        super().__init__(message)
        self.instance_id = instance_id


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
    """Return the policy if valid; raise :class:`PolicyError` naming the first bad field.

    Beyond the schema: numbers must be finite (a policy parsed by :func:`proto.safejson.loads`
    already is; one built in Python may not be) and the class weights not all zero.
    """
    _check_finite(policy, "policy")
    errors = sorted(_VALIDATOR.iter_errors(policy), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        err = errors[0]
        raise PolicyError(f"policy{_where(err.absolute_path)}: {_short(err.message)}")
    weights = policy.get("class_weights")
    if weights is not None and not any(weights[k] > 0 for k in CLASSES):
        raise PolicyError("policy.class_weights: at least one weight must be > 0")
    return policy


def _where(path: Sequence[object]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def _short(message: str, limit: int = 160) -> str:
    return message if len(message) <= limit else message[: limit - 1] + "…"


def _check_finite(obj: Any, where: str, depth: int = 0) -> None:
    if depth > MAX_REQUEST_DEPTH:
        raise PolicyError(f"{where}: nested deeper than {MAX_REQUEST_DEPTH} levels")
    if isinstance(obj, float) and not math.isfinite(obj):
        raise PolicyError(f"{where}: must be a finite number, got {obj!r}")
    if isinstance(obj, dict):
        for k, v in obj.items():
            _check_finite(v, f"{where}.{k}", depth + 1)
    elif isinstance(obj, list):
        for k, v in enumerate(obj):
            _check_finite(v, f"{where}[{k}]", depth + 1)


def constraints_of(policy: dict[str, Any]) -> Constraints | None:
    return Constraints.of_policy(policy.get("constraints"))


def class_weights_of(policy: dict[str, Any]) -> ClassWeights | None:
    w = policy.get("class_weights")
    return None if w is None else ClassWeights(*(float(w[k]) for k in CLASSES))


# --- builders: the one place a policy and its A1 envelope are made ----------------------------
def policy_id(epoch: int) -> str:
    """The policy instance id of the rApp's decision for ``epoch``."""
    return f"haf-epoch-{epoch}"


def build_policy(
    epoch: int,
    migrations: Sequence[tuple[str, str]],
    issued_by: str,
    class_weights: ClassWeights | None = None,
    constraints: Constraints | None = None,
    variants: dict[str, str] | None = None,
    admit: Sequence[dict[str, str]] = (),
) -> dict[str, Any]:
    """A validated policy body: ``migrations`` as (instance id, destination node) pairs;
    ``variants`` instance → variant; ``admit`` new instances (instance_id, category, node,
    variant)."""
    policy: dict[str, Any] = {
        "epoch": epoch,
        "migrations": [{"instance_id": i, "to_node": n} for i, n in migrations],
        "issued_by": issued_by,
    }
    if class_weights is not None:
        policy["class_weights"] = {k: getattr(class_weights, k) for k in CLASSES}
    if constraints is not None:
        rules: dict[str, Any] = {}
        if constraints.avoid:
            rules["avoid"] = [{"category": c, "node_kind": k} for c, k in constraints.avoid]
        if constraints.pin:
            rules["pin"] = dict(constraints.pin)
        policy["constraints"] = rules
    if variants:
        policy["variants"] = dict(sorted(variants.items()))
    if admit:
        policy["admit"] = [dict(a) for a in admit]
    return validate_policy(policy)


def policy_request(operation: str, instance_id: str, policy: dict[str, Any] | None) -> bytes:
    """An A1_POLICY_REQ body as the OSC (Go) mediator sends it: every value a string."""
    return json.dumps(
        {
            "operation": operation,
            "policy_type_id": str(POLICY_TYPE_ID),
            "policy_instance_id": instance_id,
            "payload": json.dumps(policy) if policy is not None else "",
        }
    ).encode()


# --- the A1_POLICY_REQ envelope, read at the door -------------------------------------------
@dataclass(frozen=True)
class PolicyRequest:
    operation: str  # CREATE | UPDATE | DELETE
    instance_id: str
    policy: dict[str, Any] | None  # validated; None for DELETE


def _type_id(value: Any) -> int:
    """The policy type id, as an integer or a string of digits (the Go mediator's form)."""
    if isinstance(value, bool):
        raise PolicyError("policy_type_id: must be an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10:
        return int(value)
    raise PolicyError(f"policy_type_id: must be an integer, got {_short(repr(value), 40)}")


def parse_policy_request(payload: bytes) -> PolicyRequest:
    """Read an A1_POLICY_REQ (the Go mediator's all-string form or the older integer/object
    form) within size and nesting limits, and validate its policy.

    Raises :class:`PolicyError` naming the field; ``instance_id`` on the error is set once the
    instance id has been read, so the caller can answer ERROR for that instance (a request
    without a readable instance id can only be dropped).
    """
    try:
        # Non-finite numbers pass here so that the field check below can name them.
        req = safejson.loads(payload, "A1 request", MAX_REQUEST_BYTES, MAX_REQUEST_DEPTH, False)
    except HafError as exc:
        raise PolicyError(str(exc)) from None
    if not isinstance(req, dict):
        raise PolicyError("A1 request: must be a JSON object")
    iid = req.get("policy_instance_id")
    if not isinstance(iid, str) or not iid:
        raise PolicyError("policy_instance_id: must be a non-empty string")
    if _INSTANCE_ID.match(iid) is None:
        raise PolicyError(f"policy_instance_id: must match {INSTANCE_ID_PATTERN}")
    type_id = _type_id(req.get("policy_type_id"))
    if type_id != POLICY_TYPE_ID:
        raise PolicyError(f"policy_type_id: type {type_id} is not handled here", iid)
    op = req.get("operation")
    if not isinstance(op, str) or op.upper() not in ("CREATE", "UPDATE", "DELETE"):
        raise PolicyError(
            f"operation: must be CREATE, UPDATE or DELETE, got {_short(repr(op), 40)}", iid
        )
    op = op.upper()
    if op == "DELETE":
        return PolicyRequest(op, iid, None)
    body = req.get("payload")
    if isinstance(body, str):  # the string-valued form of the Go mediator
        try:
            body = safejson.loads(body, "payload", MAX_REQUEST_BYTES, MAX_REQUEST_DEPTH, False)
        except HafError as exc:
            raise PolicyError(str(exc), iid) from None
    try:
        policy = validate_policy(body)
    except PolicyError as exc:
        raise PolicyError(str(exc), iid) from None
    policy["epoch"] = int(policy["epoch"])  # JSON Schema's integer admits 5.0
    return PolicyRequest(op, iid, policy)


def export(directory: Path) -> None:
    """Write the two schema forms as JSON files (what operators upload)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "osc-policy-type.json").write_text(json.dumps(osc_policy_type(), indent=2) + "\n")
    (directory / "a1ap-policy-type.json").write_text(
        json.dumps(a1ap_policy_type(), indent=2) + "\n"
    )
