"""The rApp's snapshot on the wire: ``haf.v1.StateSnapshot`` ↔ ``proto.observation.Snapshot``."""

from __future__ import annotations

from dataclasses import fields

from proto import haf_pb2
from proto.errors import InputError
from proto.observation import ClassWeights, Constraints, InstanceView, NodeView, Snapshot

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
        _rules(msg) if msg.HasField("constraints") else None,
    )


_CATEGORIES = frozenset({"large-ai", "small-ai", "du", "cu-up", "ai", "any"})


def _rules(msg: haf_pb2.StateSnapshot) -> Constraints:
    """The placement rules, checked like the policy that set them (InputError names what)."""
    avoid = []
    for k, a in enumerate(msg.constraints.avoid):
        if a.category not in _CATEGORIES or not 0 < len(a.node_kind) <= 32:
            raise InputError(f"snapshot constraints.avoid[{k}]: {a.category!r} / {a.node_kind!r}")
        avoid.append((a.category, a.node_kind))
    pin = sorted(msg.constraints.pin.items())
    if len(pin) > 64 or any(not (0 < len(i) <= 63 and 0 < len(n) <= 63) for i, n in pin):
        raise InputError("snapshot constraints.pin: ids must be 1-63 characters, at most 64")
    return Constraints(tuple(sorted(avoid)), tuple(pin))


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
    if snap.constraints is not None:
        rules = msg.constraints
        rules.SetInParent()
        for cat, kind in snap.constraints.avoid:
            rules.avoid.add(category=cat, node_kind=kind)
        for inst, node in snap.constraints.pin:
            rules.pin[inst] = node
    return msg
