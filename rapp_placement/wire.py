"""The state snapshot on the wire (``haf.v1.StateSnapshot``) ↔ the placement layer's records."""

from __future__ import annotations

from proto import haf_pb2
from rapp_placement.snapshot import InstanceView, NodeView, Snapshot

_NODE = (
    "node_id",
    "kind",
    "gpu_capacity",
    "cpu_capacity",
    "mem_capacity",
    "mem_used",
    "gpu_util",
    "cpu_util",
    "ran_floor_gpu_util",
    "ran_floor_cpu_util",
    "active_requests",
)
_INST = (
    "instance_id",
    "category",
    "node_id",
    "weights",
    "kv",
    "migrating",
    "reconfig_s",
    "backlog_gpu",
    "backlog_cpu",
    "active_requests",
    "queued_requests",
    "urgency",
    "arrival_work_rate",
)


def from_proto(msg: haf_pb2.StateSnapshot) -> Snapshot:
    return Snapshot(
        msg.time,
        msg.epoch,
        tuple(NodeView(*(getattr(n, f) for f in _NODE)) for n in msg.nodes),
        tuple(InstanceView(*(getattr(i, f) for f in _INST)) for i in msg.instances),
    )


def to_proto(snap: Snapshot) -> haf_pb2.StateSnapshot:
    msg = haf_pb2.StateSnapshot(time=snap.time, epoch=snap.epoch)
    for n in snap.nodes:
        msg.nodes.add(**{f: getattr(n, f) for f in _NODE})
    for i in snap.instances:
        msg.instances.add(**{f: getattr(i, f) for f in _INST})
    return msg
