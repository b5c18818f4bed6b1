"""The twin as E2 nodes, with the xApp core in the loop (in-process), recording every message.

Each compute node is an E2 node. Every reporting period it encodes its report (per resident
instance: residual GPU/CPU work, urgency, pending RAN work and minimum slack, KV, migrating) as
real E2AP RIC_INDICATION + E2SM-KPM bytes; the xApp core answers with a RIC_CONTROL_REQ whose
E2SM-HAF allocation (and migration commands) the twin then applies. The placement method's
decisions do not touch the twin directly: each goes down as an A1 policy through the xApp,
which validates and enforces it — the path an rApp's decision takes in a RIC.

Between reports the twin serves with the last allocation it received, keeping RAN floors and
lending idle capacity locally (the "reporting granularity" difference to the in-process
allocator, which re-solves at every event; docs/rapp.md).

Two ways to build it: :meth:`E2Loop.build` puts the xApp core in this process (``haf record``);
:meth:`E2Loop.connect` reaches an xApp in another process over gRPC (``E2Relay.Deliver``, the
envelopes stamped with simulated time) and, with an rApp URL, replaces the placement method by
a trigger of the rApp's epochs (``haf e2node``, started by ``haf up``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from a1_policies.haf_placement import build_policy, policy_id, policy_request
from airan_twin.scenario import cluster_config
from airan_twin.twin import Twin
from proto import haf_pb2, safejson
from proto.observation import Snapshot
from rapp_placement.candidates import Candidate
from xapp_alloc import core as xc
from xapp_alloc.e2 import codec
from xapp_alloc.replay import config_record

log = logging.getLogger(__name__)

REQUESTOR_ID = 1001  # the xApp's RIC requestor id in the subscription


#: Where the E2 node's messages go: ``(mtype, payload, sub_id, meid, now) -> answers``.
Send = Callable[[int, bytes, int, str, float], list[xc.Message]]


class RemotePlacement:
    """The placement is the rApp's: at each epoch boundary the twin asks the rApp process to run
    that epoch (``POST /epochs/{k}``) and waits, so simulated time stays in lockstep; the
    decision reaches the twin as an A1 policy → xApp → migration command in a control."""

    label = "haf (closed loop)"

    def __init__(self, rapp_url: str, timeout_s: float) -> None:
        self.rapp_url = rapp_url.rstrip("/")
        self.timeout_s = timeout_s
        self.epochs: list[dict] = []
        self.unanswered = 0

    def decide(self, snap: Snapshot, candidates: list[Candidate]) -> Candidate | None:
        import httpx

        try:
            r = httpx.post(f"{self.rapp_url}/epochs/{snap.epoch}", timeout=self.timeout_s)
            r.raise_for_status()
            self.epochs.append(r.json())
        except (httpx.HTTPError, ValueError) as exc:
            self.unanswered += 1  # the rApp is down or slow: the placement stays, time goes on
            log.warning("rApp did not run epoch %d: %s", snap.epoch, exc)
        return None

    def summary(self) -> dict:
        outcomes = Counter(e.get("outcome", "?") for e in self.epochs)
        return {"agent": "rApp", "epochs": dict(outcomes), "unanswered_epochs": self.unanswered}


@dataclass
class E2Loop:
    twin: Twin
    send: Send
    catalogue: list[str]
    period_s: float
    core: xc.XappCore | None = None  # in-process only
    record: list[haf_pb2.TraceRecord] | None = None
    responses: list[dict] = field(default_factory=list)
    seq: int = 0
    refused_migrations: int = 0

    @classmethod
    def build(cls, twin: Twin, period_s: float = 0.01, record: bool = True) -> E2Loop:
        """The xApp core in this process; the method's decisions go to it as A1 policies."""
        if not twin.external_allocation:
            raise ValueError("the twin must run with external_allocation=True")
        config = cluster_config(twin.sc, round(period_s * 1000))
        core = xc.XappCore(config)

        def send(mtype: int, payload: bytes, sub_id: int, meid: str, now: float):
            return core.handle(mtype, payload, now, sub_id, meid)

        rec = [config_record(config)] if record else None
        loop = cls(twin, send, config.instance_ids, period_s, core, rec)
        # The method decides as usual; its decision goes to the xApp as an A1 policy.
        twin.route_decisions(commit=loop.commit)
        for msg in core.start():
            loop._record(msg.mtype, msg.payload, msg.sub_id, msg.meid, outbound=True)
        twin.enable_reports(period_s, loop.report)
        return loop

    @classmethod
    def connect(
        cls,
        twin: Twin,
        xapp: str,
        rapp_url: str | None,
        period_s: float = 0.02,
        timeout_s: float = 30.0,
    ) -> E2Loop:
        """The xApp in another process (gRPC ``E2Relay.Deliver``, envelopes stamped with
        simulated time) and, with ``rapp_url``, the placement from the rApp process."""
        import grpc

        from proto import haf_pb2_grpc

        if not twin.external_allocation:
            raise ValueError("the twin must run with external_allocation=True")
        channel = grpc.insecure_channel(xapp)
        grpc.channel_ready_future(channel).result(timeout=timeout_s)
        relay = haf_pb2_grpc.E2RelayStub(channel)

        def send(mtype: int, payload: bytes, sub_id: int, meid: str, now: float):
            env = haf_pb2.Envelope(
                mtype=mtype, sub_id=sub_id, meid=meid, payload=payload, timestamp=now
            )
            answer = relay.Deliver(env, timeout=timeout_s, wait_for_ready=True)
            return [xc.Message(e.mtype, e.payload, e.sub_id, e.meid) for e in answer.envelopes]

        config = cluster_config(twin.sc, round(period_s * 1000))
        loop = cls(twin, send, config.instance_ids, period_s, None, None)
        if rapp_url is not None:
            remote = RemotePlacement(rapp_url, timeout_s)
            twin.route_decisions(remote.decide, label=remote.label, summary=remote.summary)
        twin.enable_reports(period_s, loop.report)
        return loop

    # --- traffic ---------------------------------------------------------------------------------
    def _record(self, mtype: int, payload: bytes, sub_id: int, meid: str, outbound: bool) -> None:
        if self.record is not None:
            self.record.append(
                haf_pb2.TraceRecord(
                    timestamp=self.twin.now,
                    mtype=mtype,
                    sub_id=sub_id,
                    payload=payload,
                    meid=meid,
                    outbound=outbound,
                )
            )

    def deliver(self, mtype: int, payload: bytes, sub_id: int = -1, meid: str = "") -> None:
        self._record(mtype, payload, sub_id, meid, outbound=False)
        for out in self.send(mtype, payload, sub_id, meid, self.twin.now):
            self._record(out.mtype, out.payload, out.sub_id, out.meid, outbound=True)
            self._apply(out)

    def report(self, twin: Twin, node_id: str) -> None:
        """Encode node ``node_id``'s report now as a RIC_INDICATION and deliver it to the xApp."""
        header, message = codec.encode_report(
            twin.now,
            node_id,
            self.catalogue,
            twin.node_report(node_id),
            round(self.period_s * 1000),
        )
        self.seq += 1
        payload = codec.encode_indication(
            codec.E2apIndication(
                REQUESTOR_ID, 1, codec.KPM_RAN_FUNCTION_ID, 1, self.seq % 65536, header, message
            )
        )
        self.deliver(xc.RIC_INDICATION, payload, -1, node_id)

    def commit(self, choice: Candidate) -> None:
        """A placement decision of this epoch, as the A1 policy that carries it to the xApp."""
        self.push_policy(self.twin.epoch, [(choice.instance_id, choice.dst)])  # type: ignore[list-item]

    def push_policy(
        self,
        epoch: int,
        migrations: list[tuple[str, str]],
        variants: dict[str, str] | None = None,
        admit: list[dict[str, str]] | None = None,
    ) -> None:
        """An A1 CREATE as the OSC mediator sends it (all-string fields)."""
        policy = build_policy(epoch, migrations, "haf-twin", variants=variants, admit=admit or ())
        body = policy_request("CREATE", policy_id(epoch), policy)
        self.deliver(xc.A1_POLICY_REQ, body, xc.POLICY_TYPE_ID)

    def _carry_out(self, mig: haf_pb2.MigrationCommand) -> None:
        """One command of the xApp, as the E2 node carries it out: a migration, a variant
        change in place, or the start of a new instance (issue 16). An E2 node refuses what
        it cannot do (counted), it does not fail."""
        twin, now = self.twin, self.twin.now
        if mig.category:
            try:
                twin.admit(mig.instance_id, mig.category, mig.to_node, mig.variant)
            except ValueError as exc:
                self.refused_migrations += 1
                log.warning("E2 node %s refused to start %s: %s", mig.to_node, mig.instance_id, exc)
                return
            self.catalogue = list(twin.instances)  # its measurements are reported from now on
            return
        inst = twin.instances.get(mig.instance_id)
        dst = twin.nodes.get(mig.to_node)
        if inst is None or dst is None or inst.is_migrating(now):
            self.refused_migrations += 1
            return
        if inst.node is dst and mig.variant in ("", inst.variant):
            self.refused_migrations += 1  # nothing to do
            return
        try:
            twin.start_migration(inst, dst, now, mig.variant)
        except ValueError as exc:
            self.refused_migrations += 1
            log.warning("E2 node refused %s -> %s: %s", mig.instance_id, mig.to_node, exc)

    def _apply(self, out: xc.Message) -> None:
        if out.mtype == xc.RIC_CONTROL_REQ:
            ctl = haf_pb2.E2smHafControl.FromString(codec.decode_control(out.payload))
            for mig in ctl.migrations:
                self._carry_out(mig)
            shares = {
                a.instance_id: (a.gpu_flops, a.cpu_cores)
                for a in ctl.allocations
                if self.twin.instances[a.instance_id].node.nid == ctl.node_id
            }
            self.twin.set_allocation(ctl.node_id, shares)
        elif out.mtype == xc.A1_POLICY_RESP:
            self.responses.append(safejson.loads(out.payload, "A1_POLICY_RESP"))
