"""What the twin shows outside: each E2 node's report and the rApp's snapshot.

:meth:`Observation.node_report` is what an E2 node reports of its resident instances
(``proto.observation.InstanceMeasurement``, docs/e2-kpm.md); :meth:`Observation.snapshot` is the
placement layer's view, built from those reports by the one builder the xApp also uses
(``xapp_alloc.observation.build_snapshot``).
"""

from __future__ import annotations

from airan_twin.entities import Req
from proto.observation import InstanceMeasurement, Snapshot
from xapp_alloc.observation import build_snapshot


class Observation:
    """Reports and snapshots of the twin's state (mixed into the Twin)."""

    def node_report(self, node_id: str) -> list[InstanceMeasurement]:
        """What the E2 node ``node_id`` reports now of each resident instance (docs/e2-kpm.md)."""
        t = self.q.now
        node = self.nodes[node_id]
        self.sync(node, t)
        span = max(t - self.epoch_start, 1e-3)
        out = []
        for inst in node.instances:
            w = inst.workload()
            pend, slack = self.ran_pending_of(inst, t)
            out.append(
                InstanceMeasurement(
                    inst.iid,
                    w if inst.uses_gpu else 0.0,
                    0.0 if inst.uses_gpu else w,
                    self.urgency_of(inst, t),
                    pend,
                    slack,
                    inst.kv_held,
                    inst.is_migrating(t),
                    len(inst.active),
                    sum(1 for r in inst.queue if r.state == Req.QUEUED),
                    self.arrival_work[inst.iid] / span,
                    inst.queued_work + sum(r.residual for r in inst.paused),
                    inst.rate,
                )
            )
        return out

    def snapshot(self) -> Snapshot:
        """The per-epoch state the placement layer sees (spec §3.2): every node's report now,
        through the one builder the xApp also uses (``xapp_alloc.observation``)."""
        reports = {nid: self.node_report(nid) for nid in self.nodes}
        placement = {iid: inst.node.nid for iid, inst in self.instances.items()}
        return build_snapshot(
            self.cluster,
            reports,
            placement,
            (),
            self.epoch,
            self.q.now,
            self.class_weights,
            self.constraints,
        )
