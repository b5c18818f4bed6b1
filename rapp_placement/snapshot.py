"""The per-epoch state snapshot the placement layer sees (what an rApp reads from the RIC).

Plain frozen records so that the twin, the rApp service and the prompt builder share one shape;
the wire form (protobuf) mirrors it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NodeView:
    node_id: str
    kind: str
    gpu_capacity: float  # FLOP/s
    cpu_capacity: float  # cores
    mem_capacity: float  # bytes
    mem_used: float  # bytes: resident weights + KV of admitted requests (eq. 4)
    gpu_util: float  # allocated GPU / capacity, 0..1
    cpu_util: float
    ran_floor_gpu_util: float  # GPU held by RAN floors / capacity
    ran_floor_cpu_util: float
    active_requests: int

    @property
    def mem_headroom(self) -> float:
        return self.mem_capacity - self.mem_used


@dataclass(frozen=True, slots=True)
class InstanceView:
    instance_id: str
    category: str  # du | cu-up | large-ai | small-ai
    node_id: str
    weights: float  # bytes
    kv: float  # bytes held by its admitted (or paused) requests
    migrating: bool
    reconfig_s: float
    backlog_gpu: float  # FLOP routed here and not done
    backlog_cpu: float  # core·s
    active_requests: int
    queued_requests: int
    urgency: float  # eq. (14)
    arrival_work_rate: float  # FLOP/s (or core·s/s) routed here over the last epoch


@dataclass(frozen=True, slots=True)
class Snapshot:
    time: float
    epoch: int
    nodes: tuple[NodeView, ...]
    instances: tuple[InstanceView, ...]

    def node(self, node_id: str) -> NodeView:
        for n in self.nodes:
            if n.node_id == node_id:
                return n
        raise KeyError(node_id)

    def instance(self, instance_id: str) -> InstanceView:
        for i in self.instances:
            if i.instance_id == instance_id:
                return i
        raise KeyError(instance_id)
