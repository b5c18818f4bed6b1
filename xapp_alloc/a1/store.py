"""The A1 mediator's side of the standalone xApp: policy instances, their status, recovery.

In a near-RT RIC the A1 mediator keeps the policy instances, forwards each as an
A1_POLICY_REQ over RMR, marks it ENFORCED when the xApp answers ``OK``, and answers an
A1_POLICY_QUERY by re-sending a CREATE for every instance. Without a RIC, this store plays that
part beside the core: the A1-P REST adapter (:mod:`xapp_alloc.a1.rest`) writes to it, and it
turns every operation into the same A1_POLICY_REQ bytes the mediator would send. With a
``path`` it persists instances (atomically, JSON) so a restarted xApp recovers them through
its own A1_POLICY_QUERY.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from a1_policies.haf_placement import POLICY_TYPE_ID, policy_request, validate_policy
from proto import safejson
from proto.errors import HafError

log = logging.getLogger(__name__)


@dataclass
class PolicyRecord:
    policy: dict[str, Any]
    enforce_status: str = "NOT_ENFORCED"  # ENFORCED | NOT_ENFORCED
    enforce_reason: str = "OTHER_REASON"
    detail: str = "not yet answered by the xApp"

    def status(self) -> dict[str, str]:
        out = {"enforceStatus": self.enforce_status}
        if self.enforce_status != "ENFORCED":
            out["enforceReason"] = self.enforce_reason
            out["detail"] = self.detail
        return out


class PolicyStore:
    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else None
        self.records: dict[str, PolicyRecord] = {}
        if self.path is not None and self.path.exists():
            self._load()

    def _load(self) -> None:
        assert self.path is not None
        try:
            data = safejson.load_file(self.path, "A1 state")
            records = {iid: PolicyRecord(**rec) for iid, rec in data["instances"].items()}
        except (OSError, HafError, KeyError, TypeError, AttributeError) as exc:
            # A damaged state file must not stop the xApp: start empty, keep the file aside.
            aside = self.path.with_suffix(".corrupt")
            log.error(
                "A1 state %s unreadable (%s); starting empty, kept as %s", self.path, exc, aside
            )
            self.path.replace(aside)
            self.records = {}
            return
        # A policy an earlier version accepted but this one refuses (e.g. an epoch beyond 2^53)
        # is dropped alone, so the others are still recovered.
        for iid, rec in records.items():
            try:
                validate_policy(rec.policy)
            except HafError as exc:
                log.error("A1 state %s: dropping policy %s: %s", self.path, iid, exc)
                continue
            self.records[iid] = rec

    def _save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = {
            "policy_type_id": POLICY_TYPE_ID,
            "instances": {i: asdict(r) for i, r in self.records.items()},
        }
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".a1-", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump(body, fh)
        os.replace(tmp, self.path)  # atomic: a crash leaves the old or the new file

    # --- operations (each returns the A1_POLICY_REQ to hand to the core) --------------------------
    def put(self, instance_id: str, policy: dict[str, Any]) -> bytes:
        """Store (create or update); the request to hand to the core."""
        operation = "UPDATE" if instance_id in self.records else "CREATE"
        self.records[instance_id] = PolicyRecord(policy)
        self._save()
        return policy_request(operation, instance_id, policy)

    def delete(self, instance_id: str) -> bytes:
        self.records.pop(instance_id, None)
        self._save()
        return policy_request("DELETE", instance_id, None)

    def recovery_requests(self) -> list[bytes]:
        """The mediator's answer to A1_POLICY_QUERY: a CREATE per instance, in epoch order."""
        order = sorted(self.records.items(), key=lambda kv: (kv[1].policy.get("epoch", 0), kv[0]))
        return [policy_request("CREATE", iid, rec.policy) for iid, rec in order]

    def on_response(self, body: bytes) -> None:
        """Record the xApp's A1_POLICY_RESP: only ``OK`` makes an instance ENFORCED."""
        try:
            resp = json.loads(body)
            iid, status = resp["policy_instance_id"], resp["status"]
        except (ValueError, KeyError, TypeError) as exc:
            log.error("unreadable A1_POLICY_RESP %r: %s", body[:200], exc)
            return
        rec = self.records.get(iid)
        if rec is None:
            return  # a DELETED answer, or an instance deleted meanwhile
        if status == "OK":
            rec.enforce_status, rec.enforce_reason, rec.detail = "ENFORCED", "", ""
        else:
            rec.enforce_status = "NOT_ENFORCED"
            rec.enforce_reason = "STATEMENT_NOT_APPLICABLE"
            rec.detail = str(resp.get("reason", status))
        self._save()
