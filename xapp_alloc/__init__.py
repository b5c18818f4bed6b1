"""Near-RT RIC xApp: the deadline-aware GPU/CPU allocation layer of HAF (paper §III-C).

This package exports the allocator (eqs. 16–19, :mod:`xapp_alloc.allocator`) and its demand
terms (eqs. 13–15, :mod:`xapp_alloc.demand`): pure functions that the xApp core and the digital
twin both call. The xApp service is in :mod:`xapp_alloc.core` (the state machine),
:mod:`xapp_alloc.observation` (the rApp's snapshot), :mod:`xapp_alloc.e2` (codecs),
:mod:`xapp_alloc.a1` (A1-P REST and policy store), :mod:`xapp_alloc.transport` (RMR, gRPC) and
:mod:`xapp_alloc.process` (assembly).
"""

from xapp_alloc.allocator import (
    BatchShare,
    InstanceDemand,
    NodeAllocation,
    NodeDemand,
    ShareResult,
    allocate_node,
    allocation_objective,
    solve_share,
    solve_share_batch,
)
from xapp_alloc.demand import (
    DEFAULT_EPSILON,
    aggregate_workload,
    ran_floor,
    ran_floor_cpu,
    ran_floor_gpu,
    ran_pending,
    urgency,
)

__all__ = [
    "DEFAULT_EPSILON",
    "BatchShare",
    "InstanceDemand",
    "NodeAllocation",
    "NodeDemand",
    "ShareResult",
    "aggregate_workload",
    "allocate_node",
    "allocation_objective",
    "ran_floor",
    "ran_floor_cpu",
    "ran_floor_gpu",
    "ran_pending",
    "solve_share",
    "solve_share_batch",
    "urgency",
]
