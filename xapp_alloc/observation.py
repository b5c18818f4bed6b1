"""The one snapshot builder: validated E2 reports → the state the rApp reads each epoch.

:func:`build_snapshot` is pure. The xApp calls it for ``GetSnapshot`` with the last good report
of each node; the digital twin calls it in process with reports it makes of its own state at
that instant (``Twin.node_report``). So the critic is trained on exactly what it is served in a
RIC (tests/test_observation.py drives one twin state both ways and compares field by field).

What each field means (docs/e2-kpm.md has the measurements):

* node ``gpu_util``/``cpu_util``: what the node serves now (Σ ``ServedShare`` of its GPU or CPU
  instances) over capacity; ``ran_floor_*_util``: Σ eq. (15) floors of its non-migrating RAN
  instances, each capped at capacity, over capacity; ``mem_used``: weights + KV of the instances
  placed on it (eq. 4); ``active_requests``: requests being served there.
* instance ``backlog``: work routed to it and not done, active (13) + waiting (queued and
  paused), on its resource; ``migrating``: the xApp has it reconfiguring or its node says so.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from proto.observation import (
    ClassWeights,
    ClusterConfig,
    Constraints,
    InstanceMeasurement,
    InstanceView,
    NodeView,
    Snapshot,
    uses_gpu,
)
from xapp_alloc.demand import ran_floor


def build_snapshot(
    config: ClusterConfig,
    reports: Mapping[str, Sequence[InstanceMeasurement]],
    placement: Mapping[str, str],
    migrating: Collection[str],
    epoch: int,
    time: float,
    class_weights: ClassWeights | None = None,
    constraints: Constraints | None = None,
) -> Snapshot:
    """The snapshot of ``config``'s cluster from each node's latest validated report.

    ``placement``: instance → node as the caller knows it (the xApp: config + policies + what
    reports showed); ``migrating``: instances the caller has reconfiguring. An instance's values
    come from the report of the node it is placed on, else from any report that has it, else
    they are zero (never reported yet).
    """
    category = {i.instance_id: i.category for i in config.instances}
    by_node: dict[str, dict[str, InstanceMeasurement]] = {
        nid: {m.instance_id: m for m in meas} for nid, meas in reports.items()
    }
    latest: dict[str, InstanceMeasurement] = {}
    for meas in by_node.values():
        for iid, m in meas.items():
            latest.setdefault(iid, m)
    for iid, nid in placement.items():  # the report of the node it is on wins
        m = by_node.get(nid, {}).get(iid)
        if m is not None:
            latest[iid] = m

    mem = dict.fromkeys((n.node_id for n in config.nodes), 0.0)
    for inst in config.instances:
        m = latest.get(inst.instance_id)
        mem[placement[inst.instance_id]] += inst.weights + (m.kv_bytes if m else 0.0)

    nodes = []
    for node in config.nodes:
        served_g = served_c = floor_g = floor_c = 0.0
        active = 0
        for iid, m in by_node.get(node.node_id, {}).items():
            cat = category[iid]
            active += m.active
            if uses_gpu(cat):
                served_g += m.served_share
            else:
                served_c += m.served_share
            if m.migrating or iid in migrating:
                continue
            if cat == "du":
                floor_g += min(ran_floor(m.ran_pending_work, m.ran_min_slack), node.gpu_capacity)
            elif cat == "cu-up":
                floor_c += min(ran_floor(m.ran_pending_work, m.ran_min_slack), node.cpu_capacity)
        nodes.append(
            NodeView(
                node.node_id,
                node.kind,
                node.gpu_capacity,
                node.cpu_capacity,
                node.mem_capacity,
                mem[node.node_id],
                min(served_g / node.gpu_capacity, 1.0),
                min(served_c / node.cpu_capacity, 1.0),
                min(floor_g / node.gpu_capacity, 1.0),
                min(floor_c / node.cpu_capacity, 1.0),
                active,
            )
        )

    insts = []
    for inst in config.instances:
        iid = inst.instance_id
        m = latest.get(iid)
        gpu = uses_gpu(inst.category)
        backlog = (m.work_gpu if gpu else m.work_cpu) + m.waiting_work if m else 0.0
        insts.append(
            InstanceView(
                iid,
                inst.category,
                placement[iid],
                inst.weights,
                m.kv_bytes if m else 0.0,
                iid in migrating or bool(m and m.migrating),
                inst.reconfig_s,
                backlog if gpu else 0.0,
                0.0 if gpu else backlog,
                m.active if m else 0,
                m.queued if m else 0,
                m.urgency if m else 0.0,
                m.arrival_work_rate if m else 0.0,
            )
        )
    return Snapshot(time, epoch, tuple(nodes), tuple(insts), class_weights, constraints)
