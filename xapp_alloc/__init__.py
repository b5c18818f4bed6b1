"""Near-RT RIC xApp: the deadline-aware GPU/CPU allocation layer of HAF (paper §III-C).

The allocator (eqs. 16–19) and its demand terms (eqs. 13–15) are pure functions shared by the
xApp and the digital twin; the xApp service around them is built in later modules.
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
    ran_floor_cpu,
    ran_floor_gpu,
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
    "ran_floor_cpu",
    "ran_floor_gpu",
    "solve_share",
    "solve_share_batch",
    "urgency",
]
