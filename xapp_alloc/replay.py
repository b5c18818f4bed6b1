"""Replay a recording through a fresh xApp core and compare its outputs with the recorded ones.

A recording (``haf record``) starts with a config record (``mtype`` :data:`CONFIG_MTYPE`,
payload: the xApp config JSON), then every message in order, inbound and outbound. Replay
feeds each inbound message to a new :class:`~xapp_alloc.core.XappCore` at its recorded time and
checks that the outbound messages it produces equal the recorded ones, byte for byte, and that
every control respects capacity (3) and the RAN floors of its report.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from proto import haf_pb2, safejson
from proto.errors import HafError, InputError
from proto.observation import ClusterConfig, InstanceMeasurement, NodeConfig
from xapp_alloc import core as xc
from xapp_alloc.demand import ran_floor
from xapp_alloc.e2 import codec
from xapp_alloc.tracefile import TraceProblem, read_trace

CONFIG_MTYPE = -1


def config_record(config: ClusterConfig) -> haf_pb2.TraceRecord:
    return haf_pb2.TraceRecord(
        timestamp=0.0, mtype=CONFIG_MTYPE, payload=safejson.dumps(config.to_dict()).encode()
    )


def read_config_record(rec: haf_pb2.TraceRecord) -> ClusterConfig:
    """The xApp config a recording starts with; :class:`HafError` naming the bad field."""
    if rec.mtype != CONFIG_MTYPE:
        raise InputError("the recording does not start with a config record")
    return ClusterConfig.from_dict(safejson.loads(rec.payload, "config record"))


@dataclass
class ReplayReport:
    inbound: int = 0
    outbound_expected: int = 0
    outbound_produced: int = 0
    mismatches: list[str] = field(default_factory=list)
    capacity_violations: list[str] = field(default_factory=list)
    floor_violations: list[str] = field(default_factory=list)
    problems: list[TraceProblem] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    controls: int = 0

    @property
    def ok(self) -> bool:
        """Every output reproduced and every check passed, and no record was unreadable."""
        return not (
            self.mismatches or self.capacity_violations or self.floor_violations or self.problems
        )


def check_control(
    ctl: haf_pb2.E2smHafControl,
    node: NodeConfig,
    report: Sequence[InstanceMeasurement],
    category: dict[str, str],
) -> list[str]:
    """Capacity (3) and, when feasible, the RAN floors (15) of the report it answers."""
    bad = []
    g = sum(a.gpu_flops for a in ctl.allocations)
    c = sum(a.cpu_cores for a in ctl.allocations)
    if g > node.gpu_capacity * (1 + 1e-9) or c > node.cpu_capacity * (1 + 1e-9):
        bad.append(
            f"capacity: {node.node_id} gpu {g:.6g}/{node.gpu_capacity:.6g} "
            f"cpu {c:.6g}/{node.cpu_capacity:.6g}"
        )
    if any(
        a.gpu_flops < 0 or a.cpu_cores < 0 or math.isnan(a.gpu_flops + a.cpu_cores)
        for a in ctl.allocations
    ):
        bad.append(f"capacity: negative or NaN share on {node.node_id}")
    if not ctl.ran_infeasible:
        alloc = {a.instance_id: a for a in ctl.allocations}
        for m in report:
            if m.migrating or m.ran_pending_work <= 0 or m.instance_id not in alloc:
                continue
            floor = ran_floor(m.ran_pending_work, m.ran_min_slack)
            cat = category[m.instance_id]
            got = alloc[m.instance_id].gpu_flops if cat == "du" else alloc[m.instance_id].cpu_cores
            if cat in ("du", "cu-up") and got < floor * (1 - 1e-9):
                bad.append(f"floor: {m.instance_id} got {got:.6g} < {floor:.6g}")
    return bad


def replay(path: str | Path) -> ReplayReport:
    """Replay a recording; :class:`HafError` (naming the file) if it has no usable config."""
    records, problems = read_trace(path)
    rep = ReplayReport(problems=problems)
    if not records:
        raise InputError(f"{path}: no readable record")
    try:
        config = read_config_record(records[0])
    except HafError as exc:
        raise InputError(f"{path}: record 0: {exc}") from None
    core = xc.XappCore(config)
    category = {i.instance_id: i.category for i in config.instances}
    expected = [r for r in records[1:] if r.outbound]
    produced: list[xc.Message] = list(core.start())
    for k, rec in enumerate(records[1:], start=1):
        if rec.outbound:
            continue
        if not math.isfinite(rec.timestamp):
            rep.problems.append(TraceProblem(k, -1, f"timestamp {rec.timestamp!r} is not finite"))
            continue
        rep.inbound += 1
        outs = core.handle(rec.mtype, rec.payload, rec.timestamp, rec.sub_id, rec.meid)
        for out in outs:
            if out.mtype == xc.RIC_CONTROL_REQ:
                rep.controls += 1
                ctl = haf_pb2.E2smHafControl.FromString(codec.decode_control(out.payload))
                view = core.views[ctl.node_id]
                for b in check_control(ctl, core.nodes[ctl.node_id], view.measurements, category):
                    (
                        rep.capacity_violations
                        if b.startswith("capacity")
                        else rep.floor_violations
                    ).append(f"t={rec.timestamp:.4f} {b}")
        produced.extend(outs)
    rep.outbound_expected, rep.outbound_produced = len(expected), len(produced)
    for k, (want, got) in enumerate(zip(expected, produced, strict=False)):
        if (want.mtype, want.payload, want.meid) != (got.mtype, got.payload, got.meid):
            rep.mismatches.append(
                f"output {k}: type {got.mtype} differs from recorded "
                f"type {want.mtype} ({want.meid or '-'})"
            )
    if len(expected) != len(produced):
        rep.mismatches.append(f"{len(produced)} outputs, {len(expected)} recorded")
    rep.dropped = dict(core.counters.dropped)
    return rep
