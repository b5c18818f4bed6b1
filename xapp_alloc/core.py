"""The xApp's core: a pure state machine — message type + bytes in, messages out.

``XappCore.handle(mtype, payload, now, sub_id, meid)`` returns the messages to send. No I/O, no
clock, no threads: every transport (RMR, gRPC, HTTP, file replay) is a thin adapter around a
:class:`Handler`, and a recording replayed through it gives the same outputs bit for bit.

* RIC_INDICATION (12050): E2AP → E2SM-KPM report of one node, every value range-checked into
  :class:`~proto.observation.InstanceMeasurement` records → demand terms (13)–(15) → allocator
  (16)–(19) → E2SM-HAF control in an E2AP RIC_CONTROL_REQ (12040) to that node, with any
  migration it must carry out. A report with one bad value is dropped whole (counted by kind);
  the node's last good report stays.
* A1_POLICY_REQ (20010): the HAF placement policy, read within size and depth limits and
  validated (``a1_policies.haf_placement.parse_policy_request``), checked against the cluster
  (instances, nodes, target placement), then the epoch rule: identical to what is applied → OK;
  conflicting (the same epoch, other migrations) or stale (an instance it moves was moved by a
  later epoch) → ERROR with the reason; new → checked against the live state (memory (4) from
  the last good reports, instances migrating per the xApp or their E2 node) and applied, or
  ERROR. The rule is per instance, so replaying policies in any order (a mediator's recovery)
  reaches the same placement. A1_POLICY_RESP (20011) answers; a refused policy changes nothing.
* :meth:`XappCore.start` gives the A1_POLICY_QUERY (20012) that recovers policies after a
  restart; RIC_HEALTH_CHECK_REQ (100) is answered with 101.
* Bad input (malformed E2AP, KPM or JSON bytes, values out of range, unknown message types,
  oversize payloads) is counted by kind and dropped; nothing a peer sends raises out of
  :meth:`XappCore.handle`. docs/xapp.md lists every bound and every reason.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from a1_policies.haf_placement import (
    POLICY_TYPE_ID,
    PolicyError,
    class_weights_of,
    constraints_of,
    parse_policy_request,
)
from proto import haf_pb2, safejson
from proto.observation import (
    ClassWeights,
    ClusterConfig,
    Constraints,
    InstanceConfig,
    InstanceMeasurement,
    NodeConfig,
)
from proto.wire import to_proto
from xapp_alloc.allocator import InstanceDemand, NodeDemand, allocate_node
from xapp_alloc.demand import ran_floor
from xapp_alloc.e2 import codec
from xapp_alloc.observation import build_snapshot

log = logging.getLogger(__name__)

RIC_HEALTH_CHECK_REQ, RIC_HEALTH_CHECK_RESP = 100, 101
RIC_CONTROL_REQ, RIC_INDICATION = 12040, 12050
A1_POLICY_REQ, A1_POLICY_RESP, A1_POLICY_QUERY = 20010, 20011, 20012
#: Every RMR message type the xApp receives or sends, by its RIC name: the dispatch table below,
#: the metrics' labels and the descriptor's ``rxMessages``/``txMessages`` all use these names.
MESSAGE_NAMES: dict[int, str] = {
    RIC_HEALTH_CHECK_REQ: "RIC_HEALTH_CHECK_REQ",
    RIC_HEALTH_CHECK_RESP: "RIC_HEALTH_CHECK_RESP",
    RIC_CONTROL_REQ: "RIC_CONTROL_REQ",
    RIC_INDICATION: "RIC_INDICATION",
    A1_POLICY_REQ: "A1_POLICY_REQ",
    A1_POLICY_RESP: "A1_POLICY_RESP",
    A1_POLICY_QUERY: "A1_POLICY_QUERY",
}
RX_TYPES = (RIC_HEALTH_CHECK_REQ, RIC_INDICATION, A1_POLICY_REQ)
TX_TYPES = (RIC_HEALTH_CHECK_RESP, RIC_CONTROL_REQ, A1_POLICY_RESP, A1_POLICY_QUERY)
MAX_PAYLOAD = 64 * 1024
MAX_POLICIES = 1024  # policy instances held at once; more are refused
APPLIED_EPOCHS_KEPT = 256  # migrations of this many recent epochs are kept for the epoch rule
HANDLER_ID = "haf-xapp"
LOG_INTERVAL_S = 60.0  # bad input is logged once per kind per interval, and always counted

# The config types are the contracts' (one record per fact); the xApp's config is the cluster.
XappConfig = ClusterConfig
__all__ = ["Handler", "InstanceConfig", "Message", "NodeConfig", "XappConfig", "XappCore"]


@dataclass(frozen=True)
class Message:
    mtype: int
    payload: bytes
    sub_id: int = -1
    meid: str = ""


class Handler(Protocol):
    """The seam every transport talks to: the core, the instrumented core and the standalone
    host implement exactly this (httpx's ``BaseTransport.handle_request`` in spirit)."""

    def start(self) -> list[Message]:
        """Messages to send when the transport is up (A1_POLICY_QUERY)."""
        ...

    def handle(
        self, mtype: int, payload: bytes, now: float, sub_id: int = -1, meid: str = ""
    ) -> list[Message]:
        """One inbound message at time ``now``: the messages to send in answer."""
        ...


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
    """What the xApp knows of a node: its last good report and the allocation it sent."""

    collected_at: float = -math.inf
    received_at: float = -math.inf
    measurements: tuple[InstanceMeasurement, ...] = ()
    allocation: dict[str, tuple[float, float]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Move:
    """One change a policy makes: a migration (src → dst), a variant change (``variant``;
    src may equal dst) or an admission (``admitted``: the new instance's config; src "")."""

    instance_id: str
    src: str
    dst: str
    variant: str = ""
    admitted: InstanceConfig | None = None


class _Refused(Exception):
    """A policy the xApp will not apply; the message is the reason sent back."""


class XappCore:
    """Holds the cluster view; :meth:`handle` is the only way state changes."""

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.nodes = {n.node_id: n for n in config.nodes}
        self.instances = {i.instance_id: i for i in config.instances}
        self.catalogue = config.instance_ids
        self.earlier_sizes: frozenset[int] = frozenset()  # catalogue lengths before admissions
        self.placement: dict[str, str] = {i.instance_id: i.node_id for i in config.instances}
        self.migrating_until: dict[str, float] = {}
        self.views: dict[str, NodeView] = {n.node_id: NodeView() for n in config.nodes}
        self.policies: dict[str, dict[str, Any]] = {}  # policy instance id -> policy body
        self.epoch = 0  # last applied policy epoch (0 before any)
        self.applied: OrderedDict[int, str] = OrderedDict()  # epoch -> its migrations (JSON)
        self.moved_at: dict[str, int] = {}  # instance -> epoch of the last policy that moved it
        self.weights: OrderedDict[str, ClassWeights] = OrderedDict()  # policy id -> J weights
        self.rules: OrderedDict[str, Constraints] = OrderedDict()  # policy id -> placement rules
        self.pending: dict[str, list[haf_pb2.MigrationCommand]] = {}  # source node -> commands
        self.counters = Counters()
        self.last_infeasible: dict[str, bool] = {}  # node -> was its last allocation infeasible
        self._last_logged: dict[str, float] = {}  # kind -> time of its last log line
        self._now = 0.0  # the time of the message being handled (given, never read from a clock)
        self._dispatch: dict[int, Callable[[bytes, float, int, str], list[Message]]] = {
            RIC_INDICATION: self._on_indication,
            A1_POLICY_REQ: self._on_policy,
            RIC_HEALTH_CHECK_REQ: self._on_health_check,
        }

    # --- entry points ----------------------------------------------------------------------------
    def start(self) -> list[Message]:
        """Messages to send on start: recover A1 policies (the mediator re-sends CREATEs)."""
        body = safejson.dumps({"policy_type_id": POLICY_TYPE_ID}).encode()
        return [Message(A1_POLICY_QUERY, body, POLICY_TYPE_ID)]

    def handle(
        self, mtype: int, payload: bytes, now: float, sub_id: int = -1, meid: str = ""
    ) -> list[Message]:
        self._now = now
        if len(payload) > MAX_PAYLOAD:
            return self.drop("oversize", f"{len(payload)} bytes (type {mtype})")
        on = self._dispatch.get(mtype)
        if on is None:
            return self.drop("unknown-type", f"message type {mtype}")
        return on(payload, now, sub_id, meid)

    def drop(self, kind: str, detail: str) -> list[Message]:
        """Count a refused input by kind; log it at most once per kind per interval."""
        self.counters.dropped[kind] += 1
        last = self._last_logged.get(kind)
        if last is None or not self._now - last < LOG_INTERVAL_S:  # the counters carry the rest
            self._last_logged[kind] = self._now
            log.warning(
                "dropped %s: %s (%d so far; logged at most once per %g s per kind)",
                kind,
                detail[:300],
                self.counters.dropped[kind],
                LOG_INTERVAL_S,
            )
        return []

    def _on_health_check(self, payload: bytes, now: float, sub_id: int, meid: str):
        return [Message(RIC_HEALTH_CHECK_RESP, b"OK\n", sub_id, meid)]

    # --- E2 -----------------------------------------------------------------------------------
    def _on_indication(self, payload: bytes, now: float, sub_id: int, meid: str) -> list[Message]:
        try:
            ind = codec.decode_indication(payload)
            collected, sender, meas = codec.decode_report(
                ind.header, ind.message, self.catalogue, self.earlier_sizes
            )
        except codec.E2DecodeError as exc:
            return self.drop(exc.kind, str(exc))
        node_id = meid or sender
        if node_id not in self.nodes:
            return self.drop("unknown-node", repr(node_id[:80]))
        # Validated: from here on the report is the node's last good one.
        self._learn_residency(node_id, meas)
        self.counters.indications += 1
        view = self.views[node_id]
        view.collected_at, view.received_at, view.measurements = collected, now, tuple(meas)
        control = self.allocate(node_id, meas, collected)
        self.counters.controls += 1
        body = codec.encode_control(ind.requestor_id, ind.instance_id, control.SerializeToString())
        return [Message(RIC_CONTROL_REQ, body, -1, node_id)]

    def allocate(
        self, node_id: str, meas: list[InstanceMeasurement], collected_at: float
    ) -> haf_pb2.E2smHafControl:
        """Eqs. (13)–(19) on one node's report; the E2SM-HAF control that answers it."""
        node = self.nodes[node_id]
        demands = []
        for m in meas:
            if m.migrating:
                demands.append(InstanceDemand(m.instance_id, 0.0, 0.0, 0.0))
                continue
            cat = self.instances[m.instance_id].category
            floor = ran_floor(m.ran_pending_work, m.ran_min_slack)
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
    def _on_policy(self, payload: bytes, now: float, sub_id: int, meid: str) -> list[Message]:
        try:
            req = parse_policy_request(payload)
        except PolicyError as exc:
            if not exc.instance_id:  # nothing to answer to: count and drop
                return self.drop("a1-invalid", str(exc))
            return [self._reject(exc.instance_id, str(exc))]
        iid = req.instance_id
        if req.operation == "DELETE":
            self.policies.pop(iid, None)
            self.weights.pop(iid, None)
            self.rules.pop(iid, None)
            self.counters.policies_deleted += 1
            return [self._resp(iid, "DELETED")]
        policy = req.policy
        assert policy is not None
        if iid not in self.policies and len(self.policies) >= MAX_POLICIES:
            return [self._reject(iid, f"{MAX_POLICIES} policy instances are held already")]
        try:
            todo = self._admit(iid, policy, now)
        except _Refused as exc:
            return [self._reject(iid, str(exc))]
        if todo is not None:
            self._apply(policy, *todo, now)
        self.policies[iid] = policy
        weights = class_weights_of(policy)
        self.weights.pop(iid, None)
        if weights is not None:
            self.weights[iid] = weights  # the latest policy with weights is in force
        rules = constraints_of(policy)
        self.rules.pop(iid, None)
        if rules is not None:
            self.rules[iid] = rules  # likewise the latest placement rules
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
        return Message(A1_POLICY_RESP, safejson.dumps(body).encode(), POLICY_TYPE_ID)

    def _admit(self, iid: str, policy: dict[str, Any], now: float) -> tuple[list[Move], str] | None:
        """Check a validated policy; the moves to start and the epoch's key (None: nothing to
        apply).

        Raises :class:`_Refused` with the reason. Order: what the cluster can never accept
        (unknown ids, variants it does not offer), then the epoch rule, then the live state
        (migrating, memory (4)), then the target placement. A migration, a variant change
        (issue 16, in place unless the instance also migrates) and an admission are all moves.
        """
        migrations = [(m["instance_id"], m["to_node"]) for m in policy["migrations"]]
        variants: dict[str, str] = policy.get("variants", {})
        admit = policy.get("admit", [])
        seen: set[str] = set()
        for k, (inst, dst) in enumerate(migrations):
            if inst not in self.instances:
                raise _Refused(f"migrations[{k}].instance_id: unknown instance {inst!r}")
            if dst not in self.nodes:
                raise _Refused(f"migrations[{k}].to_node: unknown node {dst!r}")
            if inst in seen:
                raise _Refused(f"migrations[{k}].instance_id: {inst} is moved twice")
            seen.add(inst)
        for inst, name in variants.items():
            if inst not in self.instances:
                raise _Refused(f"variants.{inst}: unknown instance")
            cat = self.instances[inst].category
            if self.config.variant(cat, name) is None:
                raise _Refused(f"variants.{inst}: {cat} offers no variant {name!r}")
        new: dict[str, InstanceConfig] = {}
        for k, a in enumerate(admit):
            if a["node"] not in self.nodes:
                raise _Refused(f"admit[{k}].node: unknown node {a['node']!r}")
            if a["instance_id"] in new:
                raise _Refused(f"admit[{k}].instance_id: {a['instance_id']} is admitted twice")
            new[a["instance_id"]] = self._new_instance(k, a)
        target = policy.get("placement", {})
        for inst, node in target.items():
            if inst not in self.instances and inst not in new:
                raise _Refused(f"placement.{inst}: unknown instance")
            if node not in self.nodes:
                raise _Refused(f"placement.{inst}: unknown node {node!r}")
        if self.policies.get(iid) == policy:
            return None  # an identical retry (epoch 0 too): already done
        rules = constraints_of(policy) or self.constraints
        wanted = [(f"migrations[{k}]", i, d) for k, (i, d) in enumerate(migrations)] + [
            (f"admit[{k}]", a["instance_id"], a["node"]) for k, a in enumerate(admit)
        ]
        for where, inst, dst in wanted:
            cat = (new.get(inst) or self.instances[inst]).category
            if rules is not None and not rules.allows(cat, inst, dst, self.nodes[dst].kind):
                raise _Refused(
                    f"{where}: {inst} onto {dst} ({self.nodes[dst].kind}) breaks the "
                    "placement rules in force"
                )
        # Admissions of instances that exist already (a policy recovered after a restart)
        # are satisfied; a different instance under that id is refused.
        for k, a in enumerate(admit):
            have = self.instances.get(a["instance_id"])
            if have is not None:
                if have.category != a["category"]:
                    raise _Refused(f"admit[{k}].instance_id: {a['instance_id']} exists already")
                del new[a["instance_id"]]
        variants = {
            i: v for i, v in variants.items() if self.instances[i].variant != v
        }  # already running it: satisfied
        if not migrations and not variants and not new:
            self._check_target(target, self.placement)
            return None  # moves nothing: no epoch to order (weights, a placement check)
        epoch = policy["epoch"]
        key = safejson.dumps([migrations, sorted(variants.items()), sorted(new)])
        if epoch in self.applied:
            if self.applied[epoch] != key:
                raise _Refused(f"epoch: {epoch} was already applied with other migrations")
            return None  # the same decision (e.g. recovered under another id): already done
        for inst in [i for i, _ in migrations] + list(variants):
            later = self.moved_at.get(inst, -1)  # per instance: a later decision for it stands
            if later > epoch:
                raise _Refused(f"epoch: {epoch} is stale for {inst}, moved by epoch {later}")
        placement = dict(self.placement)
        kv = self._kv_map()
        mem = self._memory_in_use(kv)
        flagged = {
            m.instance_id for v in self.views.values() for m in v.measurements if m.migrating
        }
        moves: list[Move] = []
        targets = dict(migrations)
        for inst in variants:
            targets.setdefault(inst, placement[inst])
        index = {inst: k for k, (inst, _) in enumerate(migrations)}
        for inst, dst in targets.items():
            where = f"migrations[{index[inst]}]" if inst in index else f"variants.{inst}"
            if self.migrating_until.get(inst, -math.inf) > now or inst in flagged:
                raise _Refused(f"{where}: {inst} is migrating")
            src = placement[inst]
            variant = variants.get(inst, "")
            if src == dst and not variant:
                continue  # already there (e.g. a policy recovered after a restart): satisfied
            old = self.instances[inst]
            spec = self.config.variant(old.category, variant) if variant else None
            weights = spec.weights if spec is not None else old.weights
            held = old.weights + kv.get(inst, 0.0)
            need = weights + kv.get(inst, 0.0)
            free = self.nodes[dst].mem_capacity - mem[dst] + (held if src == dst else 0.0)
            if need > free:
                raise _Refused(
                    f"{where}: {inst} needs {need / 1e9:.1f} GB on {dst}, "
                    f"{free / 1e9:.1f} GB free (4)"
                )
            mem[src] -= held
            mem[dst] += need
            placement[inst] = dst
            moves.append(Move(inst, src, dst, variant))
        for inst, cfg in new.items():
            free = self.nodes[cfg.node_id].mem_capacity - mem[cfg.node_id]
            if cfg.weights > free:
                raise _Refused(
                    f"admit: {inst} needs {cfg.weights / 1e9:.1f} GB on {cfg.node_id}, "
                    f"{free / 1e9:.1f} GB free (4)"
                )
            mem[cfg.node_id] += cfg.weights
            placement[inst] = cfg.node_id
            moves.append(Move(inst, "", cfg.node_id, cfg.variant, cfg))
        self._check_target(target, placement)
        return moves, key

    def _new_instance(self, k: int, a: dict[str, str]) -> InstanceConfig:
        """The config of an instance an ``admit`` entry starts: its variant's weights, and the
        window of the category's configured instances."""
        cat, variant = a["category"], a.get("variant", "")
        offered = [v for v in self.config.variants if v.category == cat]
        if variant:
            spec = self.config.variant(cat, variant)
            if spec is None:
                raise _Refused(f"admit[{k}].variant: {cat} offers no variant {variant!r}")
            weights = spec.weights
        elif offered:
            raise _Refused(f"admit[{k}].variant: {cat} offers variants, name one")
        peers = [i for i in self.instances.values() if i.category == cat]
        if not peers:
            raise _Refused(f"admit[{k}].category: no {cat} instance is configured to size it by")
        if not variant:
            weights = peers[0].weights
        return InstanceConfig(
            a["instance_id"], cat, weights, peers[0].reconfig_s, a["node"], variant
        )

    def _check_target(self, target: dict[str, str], placement: dict[str, str]) -> None:
        for inst, node in target.items():
            if placement[inst] != node:
                raise _Refused(
                    f"placement.{inst}: the policy expects {node}, "
                    f"its migrations leave it on {placement[inst]}"
                )

    def _apply(self, policy: dict[str, Any], moves: list[Move], key: str, now: float) -> None:
        epoch = policy["epoch"]
        changed = False
        for mv in moves:
            cfg = mv.admitted or self.instances[mv.instance_id]
            if mv.admitted is not None:  # the new instance joins the cluster the xApp knows
                self.instances[mv.instance_id] = cfg
                changed = True
            elif mv.variant:
                spec = self.config.variant(cfg.category, mv.variant)
                assert spec is not None  # checked in _admit
                cfg = replace(cfg, weights=spec.weights, variant=mv.variant)
                self.instances[mv.instance_id] = cfg
                changed = True
            self.migrating_until[mv.instance_id] = now + cfg.reconfig_s
            self.placement[mv.instance_id] = mv.dst
            # The command goes to the node that holds the instance (for an admission: the
            # node that starts it).
            self.pending.setdefault(mv.src or mv.dst, []).append(
                haf_pb2.MigrationCommand(
                    instance_id=mv.instance_id,
                    to_node=mv.dst,
                    epoch=epoch,
                    reconfig_s=cfg.reconfig_s,
                    variant=mv.variant,
                    category=cfg.category if mv.admitted is not None else "",
                )
            )
        if changed:
            self.config = replace(self.config, instances=tuple(self.instances.values()))
            # Admissions append to the catalogue; E2 nodes start them one by one, in order.
            self.earlier_sizes |= set(range(len(self.catalogue), len(self.instances)))
            self.catalogue = self.config.instance_ids
        self.applied[epoch] = key
        for mv in moves:
            self.moved_at[mv.instance_id] = max(self.moved_at.get(mv.instance_id, -1), epoch)
        while len(self.applied) > APPLIED_EPOCHS_KEPT:
            self.applied.popitem(last=False)
        self.epoch = max(self.epoch, epoch)

    def _learn_residency(self, node_id: str, resident: list[InstanceMeasurement]) -> None:
        """Reports are the ground truth of where instances are: after a restart the xApp starts
        from the config's placement, and recovered policies must not move anything twice."""
        for m in resident:
            iid = m.instance_id
            if self.placement.get(iid) != node_id:
                log.info("%s reported by %s: placement updated", iid, node_id)
                self.placement[iid] = node_id
            for src, cmds in list(self.pending.items()):
                # Done once it reports from its new node; an in-place variant change (src
                # is the node) is not shown by residency, it goes out with the next control.
                kept = [
                    c
                    for c in cmds
                    if not (c.instance_id == iid and c.to_node == node_id and src != node_id)
                ]
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
    @property
    def class_weights(self) -> ClassWeights | None:
        """The J weights in force: those of the latest applied policy that has them."""
        return next(reversed(self.weights.values()), None)

    @property
    def constraints(self) -> Constraints | None:
        """The placement rules in force: those of the latest applied policy that has them."""
        return next(reversed(self.rules.values()), None)

    def snapshot(self, now: float) -> haf_pb2.StateSnapshot:
        """The rApp's snapshot (``xapp_alloc.observation.build_snapshot``) from the last good
        report of every node, the placement and the migrations in progress."""
        busy = {i for i, until in self.migrating_until.items() if until > now}
        snap = build_snapshot(
            self.config,
            {nid: v.measurements for nid, v in self.views.items()},
            self.placement,
            busy,
            self.epoch,
            now,
            self.class_weights,
            self.constraints,
        )
        return to_proto(snap)
