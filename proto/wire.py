"""The rApp's snapshot on the wire: ``haf.v1.StateSnapshot`` ↔ ``proto.observation.Snapshot``."""

from __future__ import annotations

from dataclasses import fields

from proto import haf_pb2
from proto.observation import ClassWeights, InstanceView, NodeView, Snapshot

_NODE = tuple(f.name for f in fields(NodeView))
_INST = tuple(f.name for f in fields(InstanceView))
_WEIGHTS = tuple(f.name for f in fields(ClassWeights))


def from_proto(msg: haf_pb2.StateSnapshot) -> Snapshot:
    weights = None
    if msg.HasField("class_weights"):
        weights = ClassWeights(*(getattr(msg.class_weights, f) for f in _WEIGHTS))
    return Snapshot(
        msg.time,
        msg.epoch,
        tuple(NodeView(*(getattr(n, f) for f in _NODE)) for n in msg.nodes),
        tuple(InstanceView(*(getattr(i, f) for f in _INST)) for i in msg.instances),
        weights,
    )


def to_proto(snap: Snapshot) -> haf_pb2.StateSnapshot:
    msg = haf_pb2.StateSnapshot(time=snap.time, epoch=snap.epoch)
    for n in snap.nodes:
        msg.nodes.add(**{f: getattr(n, f) for f in _NODE})
    for i in snap.instances:
        msg.instances.add(**{f: getattr(i, f) for f in _INST})
    if snap.class_weights is not None:
        msg.class_weights.CopyFrom(
            haf_pb2.ClassWeights(**{f: getattr(snap.class_weights, f) for f in _WEIGHTS})
        )
    return msg
