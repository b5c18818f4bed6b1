"""The xApp's core: a pure state machine — message type + bytes in, messages out.

``XappCore.handle(mtype, payload, now, sub_id, meid)`` returns the messages to send. No I/O, no
clock, no threads: every transport (RMR, gRPC, HTTP, file replay) is a thin adapter around it,
and a recording replayed through it gives the same outputs bit for bit.

* RIC_INDICATION (12050): E2AP → E2SM-KPM report of one node → demand terms (13)–(15) →
  allocator (16)–(19) → E2SM-HAF control in an E2AP RIC_CONTROL_REQ (12040) to that node, with
  any migration it must carry out.
* A1_POLICY_REQ (20010): the HAF placement policy (string-valued or older integer/object form),
  validated against the policy type and enforced — each migration checked against the known
  instances and nodes, GPU memory (4) at the destination and instances already reconfiguring —
  and answered with A1_POLICY_RESP (20011). A rejected policy leaves the placement unchanged.
* :meth:`XappCore.start` gives the A1_POLICY_QUERY (20012) that recovers policies after a
  restart; RIC_HEALTH_CHECK_REQ (100) is answered with 101.
* Bad input (malformed E2AP, KPM or protobuf bytes, unknown message types, oversize payloads,
  invalid JSON) is counted by kind and dropped; the state is left as it was.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from a1_policies.haf_placement import POLICY_TYPE_ID, PolicyError, validate_policy
from proto import haf_pb2
from xapp_alloc.allocator import InstanceDemand, NodeDemand, allocate_node
from xapp_alloc.e2 import codec

log = logging.getLogger(__name__)

RIC_HEALTH_CHECK_REQ, RIC_HEALTH_CHECK_RESP = 100, 101
RIC_CONTROL_REQ, RIC_INDICATION = 12040, 12050
A1_POLICY_REQ, A1_POLICY_RESP, A1_POLICY_QUERY = 20010, 20011, 20012
RX_TYPES = (RIC_HEALTH_CHECK_REQ, RIC_INDICATION, A1_POLICY_REQ)
TX_TYPES = (RIC_HEALTH_CHECK_RESP, RIC_CONTROL_REQ, A1_POLICY_RESP, A1_POLICY_QUERY)
MAX_PAYLOAD = 64 * 1024
HANDLER_ID = "haf-xapp"
LOG_INTERVAL_S = 60.0  # bad input is logged once per kind per interval, and always counted


@dataclass(frozen=True)
class Message:
    mtype: int
    payload: bytes
    sub_id: int = -1
    meid: str = ""


@dataclass(frozen=True)
class NodeConfig:
    node_id: str
    gpu_capacity: float  # FLOP/s
    cpu_capacity: float  # cores
    mem_capacity: float  # bytes
    kind: str = ""  # gpu-heavy | cpu-heavy | balanced (shown to the rApp)


@dataclass(frozen=True)
class InstanceConfig:
    instance_id: str
    category: str  # du | cu-up | large-ai | small-ai
    weights: float  # bytes
    reconfig_s: float
    node_id: str  # initial placement


@dataclass(frozen=True)
class XappConfig:
    nodes: tuple[NodeConfig, ...]
    instances: tuple[InstanceConfig, ...]
    reporting_period_ms: int = 100
    stale_after_s: float = 1.0

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> XappConfig:
        try:
            return cls(
                tuple(
                    NodeConfig(
                        n["node_id"],
                        float(n["gpu_capacity"]),
                        float(n["cpu_capacity"]),
                        float(n["mem_capacity"]),
                        str(n.get("kind", "")),
                    )
                    for n in d["nodes"]
                ),
                tuple(
                    InstanceConfig(
                        i["instance_id"],
                        i["category"],
                        float(i["weights"]),
                        float(i["reconfig_s"]),
                        i["node_id"],
                    )
                    for i in d["instances"]
                ),
                int(d.get("reporting_period_ms", 100)),
                float(d.get("stale_after_s", 1.0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"xApp config: missing or bad field {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodes": [vars(n) | {} for n in self.nodes],
            "instances": [vars(i) | {} for i in self.instances],
            "reporting_period_ms": self.reporting_period_ms,
            "stale_after_s": self.stale_after_s,
        }

    @property
    def instance_ids(self) -> list[str]:
        return [i.instance_id for i in self.instances]


@dataclass
class Counters:
    indications: int = 0
    controls: int = 0
    policies_applied: int = 0
    policies_rejected: int = 0
    policies_deleted: int = 0
    ran_infeasible: int = 0
    dropped: Counter = field(default_factory=Counter)  # by kind


@dataclass
class NodeView:
    """What the xApp knows of a node: its last report and the allocation it sent."""

    collected_at: float = -math.inf
    received_at: float = -math.inf
    measurements: tuple[codec.InstanceMeasurement, ...] = ()
    allocation: dict[str, tuple[float, float]] = field(default_factory=dict)


class XappCore:
    """Holds the cluster view; :meth:`handle` is the only way state changes."""

    def __init__(self, config: XappConfig) -> None:
        self.config = config
        self.nodes = {n.node_id: n for n in config.nodes}
        self.instances = {i.instance_id: i for i in config.instances}
        self.catalogue = config.instance_ids
        self.placement: dict[str, str] = {i.instance_id: i.node_id for i in config.instances}
        self.migrating_until: dict[str, float] = {}
        self.views: dict[str, NodeView] = {n.node_id: NodeView() for n in config.nodes}
        self.policies: dict[str, dict[str, Any]] = {}  # instance id -> policy body
        self.epoch = 0  # last applied policy epoch
        self.pending: dict[str, list[haf_pb2.MigrationCommand]] = {}  # source node -> commands
        self.counters = Counters()
        self.last_infeasible: dict[str, bool] = {}  # node -> was its last allocation infeasible
        self._last_logged: dict[str, float] = {}  # kind -> time of its last log line
        self._now = 0.0  # the time of the message being handled (given, never read from a clock)

    # --- entry points ----------------------------------------------------------------------------
    def start(self) -> list[Message]:
        """Messages to send on start: recover A1 policies (the mediator re-sends CREATEs)."""
        body = json.dumps({"policy_type_id": POLICY_TYPE_ID}).encode()
        return [Message(A1_POLICY_QUERY, body, POLICY_TYPE_ID)]

    def handle(
        self, mtype: int, payload: bytes, now: float, sub_id: int = -1, meid: str = ""
    ) -> list[Message]:
        self._now = now
        if len(payload) > MAX_PAYLOAD:
            return self._drop("oversize", f"{len(payload)} bytes (type {mtype})")
        if mtype == RIC_INDICATION:
            return self._on_indication(payload, now, meid)
        if mtype == A1_POLICY_REQ:
            return self._on_policy(payload, now)
        if mtype == RIC_HEALTH_CHECK_REQ:
            return [Message(RIC_HEALTH_CHECK_RESP, b"OK\n", sub_id, meid)]
        return self._drop("unknown-type", f"message type {mtype}")

    def _drop(self, kind: str, detail: str) -> list[Message]:
        self.counters.dropped[kind] += 1
        last = self._last_logged.get(kind)
        if last is None or self._now - last >= LOG_INTERVAL_S:  # the counters carry the rest
            self._last_logged[kind] = self._now
            log.warning(
                "dropped %s: %s (%d so far; logged at most once per %g s per kind)",
                kind,
                detail,
                self.counters.dropped[kind],
                LOG_INTERVAL_S,
            )
        return []

    # --- E2 -----------------------------------------------------------------------------------
    def _on_indication(self, payload: bytes, now: float, meid: str) -> list[Message]:
        try:
            ind = codec.decode_indication(payload)
            collected, sender, meas = codec.decode_report(ind.header, ind.message, self.catalogue)
        except codec.E2DecodeError as exc:
            return self._drop(exc.kind, str(exc))
        node_id = meid or sender
        if node_id not in self.nodes:
            return self._drop("unknown-node", node_id)
        resident = [m for m in meas if m.instance_id in self.instances]
        self._learn_residency(node_id, resident)
        self.counters.indications += 1
        view = self.views[node_id]
        view.collected_at, view.received_at, view.measurements = collected, now, tuple(resident)
        control = self.allocate(node_id, resident, collected)
        self.counters.controls += 1
        body = codec.encode_control(ind.requestor_id, ind.instance_id, control.SerializeToString())
        return [Message(RIC_CONTROL_REQ, body, -1, node_id)]

    def allocate(
        self, node_id: str, meas: list[codec.InstanceMeasurement], collected_at: float
    ) -> haf_pb2.E2smHafControl:
        """Eqs. (13)–(19) on one node's report; the E2SM-HAF control that answers it."""
        node = self.nodes[node_id]
        demands = []
        for m in meas:
            cat = self.instances[m.instance_id].category
            if m.migrating:
                demands.append(InstanceDemand(m.instance_id, 0.0, 0.0, 0.0))
                continue
            floor = 0.0
            if m.ran_pending_work > 0.0:
                # Eq. (15) from the reported pending work and minimum slack.
                floor = m.ran_pending_work / m.ran_min_slack if m.ran_min_slack > 0 else math.inf
            demands.append(
                InstanceDemand(
                    m.instance_id,
                    m.work_gpu,
                    m.work_cpu,
                    m.urgency,
                    floor if cat == "du" else 0.0,
                    floor if cat == "cu-up" else 0.0,
                )
            )
        alloc = allocate_node(
            NodeDemand(node_id, node.gpu_capacity, node.cpu_capacity, tuple(demands))
        )
        if alloc.ran_infeasible:
            self.counters.ran_infeasible += 1
        self.last_infeasible[node_id] = alloc.ran_infeasible
        ctl = haf_pb2.E2smHafControl(
            node_id=node_id,
            placement_epoch=self.epoch,
            ran_infeasible=alloc.ran_infeasible,
            report_time_s=collected_at,
        )
        for k, iid in enumerate(alloc.instance_ids):
            ctl.allocations.add(
                instance_id=iid,
                gpu_flops=alloc.gpu.shares[k],
                cpu_cores=alloc.cpu.shares[k],
                gpu_floor_bound=alloc.gpu.floor_bound[k],
                cpu_floor_bound=alloc.cpu.floor_bound[k],
            )
        ctl.migrations.extend(self.pending.pop(node_id, []))
        self.views[node_id].allocation = dict(
            zip(
                alloc.instance_ids,
                zip(alloc.gpu.shares, alloc.cpu.shares, strict=True),
                strict=True,
            )
        )
        return ctl

    # --- A1 -----------------------------------------------------------------------------------
    def _on_policy(self, payload: bytes, now: float) -> list[Message]:
        try:
            req = json.loads(payload)
            if not isinstance(req, dict):
                raise ValueError("not a JSON object")
        except (ValueError, UnicodeDecodeError) as exc:
            return self._drop("invalid-json", str(exc))
        op = str(req.get("operation", "")).upper()
        iid = str(req.get("policy_instance_id", ""))
        try:
            type_id = int(req.get("policy_type_id"))
        except (TypeError, ValueError):
            return [self._resp(iid, "ERROR", "policy_type_id is not a number")]
        if type_id != POLICY_TYPE_ID:
            return [self._resp(iid, "ERROR", f"policy type {type_id} is not handled here")]
        if op == "DELETE":
            self.policies.pop(iid, None)
            self.counters.policies_deleted += 1
            return [self._resp(iid, "DELETED")]
        if op not in ("CREATE", "UPDATE"):
            return [self._resp(iid, "ERROR", f"unknown operation {op!r}")]
        body = req.get("payload")
        if isinstance(body, str | bytes):  # the string-valued form of the Go mediator
            try:
                body = json.loads(body)
            except ValueError as exc:
                return [self._reject(iid, f"payload is not JSON: {exc}")]
        try:
            validate_policy(body)
        except PolicyError as exc:
            return [self._reject(iid, str(exc))]
        reason = self._enforce(body, now)
        if reason:
            return [self._reject(iid, reason)]
        self.policies[iid] = body
        self.counters.policies_applied += 1
        return [self._resp(iid, "OK")]

    def _reject(self, iid: str, reason: str) -> Message:
        self.counters.policies_rejected += 1
        return self._resp(iid, "ERROR", reason)

    @staticmethod
    def _resp(iid: str, status: str, reason: str = "") -> Message:
        body: dict[str, Any] = {
            "policy_type_id": POLICY_TYPE_ID,
            "policy_instance_id": iid,
            "handler_id": HANDLER_ID,
            "status": status,
        }
        if reason:
            body["reason"] = reason
        return Message(A1_POLICY_RESP, json.dumps(body).encode(), POLICY_TYPE_ID)

    def _enforce(self, policy: dict[str, Any], now: float) -> str:
        """Check every migration, then start them all; '' or the reason for rejecting."""
        epoch = int(policy["epoch"])
        if epoch <= self.epoch and self.epoch > 0:
            return ""  # already applied (a retry or a recovered policy): idempotent
        placement = dict(self.placement)
        kv = self._kv_map()
        mem = self._memory_in_use(kv)
        busy = {i for i, until in self.migrating_until.items() if until > now}
        moves = []
        for k, mig in enumerate(policy["migrations"]):
            iid, dst = mig["instance_id"], mig["to_node"]
            if iid not in self.instances:
                return f"migrations[{k}]: unknown instance {iid!r}"
            if dst not in self.nodes:
                return f"migrations[{k}]: unknown node {dst!r}"
            if iid in busy:
                return f"migrations[{k}]: {iid} is already migrating"
            src = placement[iid]
            if src == dst:
                continue  # already there (e.g. a policy recovered after a restart): satisfied
            need = self.instances[iid].weights + kv.get(iid, 0.0)
            if mem[dst] + need > self.nodes[dst].mem_capacity:
                return (
                    f"migrations[{k}]: {iid} needs {need / 1e9:.1f} GB on {dst}, "
                    f"{(self.nodes[dst].mem_capacity - mem[dst]) / 1e9:.1f} GB free (4)"
                )
            mem[dst] += need
            mem[src] -= need
            placement[iid] = dst
            busy.add(iid)
            moves.append((iid, src, dst))
        for iid, src, dst in moves:
            inst = self.instances[iid]
            self.migrating_until[iid] = now + inst.reconfig_s
            self.pending.setdefault(src, []).append(
                haf_pb2.MigrationCommand(
                    instance_id=iid, to_node=dst, epoch=epoch, reconfig_s=inst.reconfig_s
                )
            )
        self.placement = placement
        self.epoch = max(self.epoch, epoch)
        return ""

    def _learn_residency(self, node_id: str, resident: list[codec.InstanceMeasurement]) -> None:
        """Reports are the ground truth of where instances are: after a restart the xApp starts
        from the config's placement, and recovered policies must not move anything twice."""
        for m in resident:
            iid = m.instance_id
            if self.placement.get(iid) != node_id:
                log.info("%s reported by %s: placement updated", iid, node_id)
                self.placement[iid] = node_id
            for src, cmds in list(self.pending.items()):
                kept = [c for c in cmds if not (c.instance_id == iid and c.to_node == node_id)]
                if kept:
                    self.pending[src] = kept
                else:
                    del self.pending[src]

    def _kv_map(self) -> dict[str, float]:
        """KV bytes per instance from the latest reports (the first node reporting it wins)."""
        kv: dict[str, float] = {}
        for view in self.views.values():
            for m in view.measurements:
                kv.setdefault(m.instance_id, m.kv_bytes)
        return kv

    def _memory_in_use(self, kv: dict[str, float]) -> dict[str, float]:
        mem = dict.fromkeys(self.nodes, 0.0)
        for iid, node in self.placement.items():
            mem[node] += self.instances[iid].weights + kv.get(iid, 0.0)
        return mem

    # --- the state snapshot the rApp reads ---------------------------------------------------
    def snapshot(self, now: float) -> haf_pb2.StateSnapshot:
        """Nodes and instances as the xApp knows them (spec 3.2: what the agent's prompt needs).

        Built from the config, the latest report of each node, the allocations sent and the
        migrations in progress. An instance's backlog is its reported residual work (13).
        """
        snap = haf_pb2.StateSnapshot(time=now, epoch=self.epoch)
        meas = {m.instance_id: m for v in self.views.values() for m in v.measurements}
        mem = self._memory_in_use(self._kv_map())
        for node_id, node in self.nodes.items():
            view = self.views[node_id]
            g = sum(a[0] for a in view.allocation.values())
            c = sum(a[1] for a in view.allocation.values())
            floor_g = floor_c = 0.0
            active = 0
            for m in view.measurements:
                active += m.active
                if m.ran_pending_work > 0 and not m.migrating:
                    f = m.ran_pending_work / m.ran_min_slack if m.ran_min_slack > 0 else math.inf
                    cat = self.instances[m.instance_id].category
                    if cat == "du":
                        floor_g += min(f, node.gpu_capacity)
                    elif cat == "cu-up":
                        floor_c += min(f, node.cpu_capacity)
            snap.nodes.add(
                node_id=node_id,
                kind=node.kind,
                gpu_capacity=node.gpu_capacity,
                cpu_capacity=node.cpu_capacity,
                mem_capacity=node.mem_capacity,
                mem_used=mem[node_id],
                gpu_util=min(g / node.gpu_capacity, 1.0),
                cpu_util=min(c / node.cpu_capacity, 1.0),
                ran_floor_gpu_util=min(floor_g / node.gpu_capacity, 1.0),
                ran_floor_cpu_util=min(floor_c / node.cpu_capacity, 1.0),
                active_requests=active,
            )
        for iid, inst in self.instances.items():
            m = meas.get(iid)
            migrating = self.migrating_until.get(iid, -math.inf) > now or bool(m and m.migrating)
            snap.instances.add(
                instance_id=iid,
                category=inst.category,
                node_id=self.placement[iid],
                weights=inst.weights,
                kv=m.kv_bytes if m else 0.0,
                migrating=migrating,
                reconfig_s=inst.reconfig_s,
                backlog_gpu=m.work_gpu if m else 0.0,
                backlog_cpu=m.work_cpu if m else 0.0,
                active_requests=m.active if m else 0,
                queued_requests=m.queued if m else 0,
                urgency=m.urgency if m else 0.0,
                arrival_work_rate=m.arrival_work_rate if m else 0.0,
            )
        return snap
