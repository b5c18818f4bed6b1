"""Prometheus metrics of the xApp, kept outside the pure core.

:class:`InstrumentedCore` is a :class:`~xapp_alloc.core.Handler` around the core: it times
each call and turns the core's counters and views into metrics. The transports hand it to
their server (a standalone process exposes ``/metrics`` with ``prometheus_client``); the
names are listed in the descriptor's ``metrics`` section (xapp_alloc/deploy/config-file.json),
which a test keeps in step.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from xapp_alloc import core as xc

#: (name, type, help) of every metric, as exposed (counters gain a ``_total`` suffix).
METRICS = (
    ("haf_xapp_indications", "counter", "E2 RIC_INDICATIONs turned into allocations"),
    ("haf_xapp_handle_seconds", "histogram", "Latency of one core.handle call, by message type"),
    ("haf_xapp_allocation", "gauge", "Last allocation per instance: FLOP/s (gpu) or cores (cpu)"),
    ("haf_xapp_ran_infeasible_nodes", "gauge", "Nodes whose last allocation was RAN-infeasible"),
    ("haf_xapp_a1_policies", "counter", "A1 policies by result (applied, rejected, deleted)"),
    ("haf_xapp_dropped_messages", "counter", "Inputs dropped by kind (decode errors, unknown...)"),
    ("haf_xapp_stale_nodes", "gauge", "Nodes whose last report is older than stale_after_s"),
)


class InstrumentedCore:
    def __init__(self, core: xc.XappCore, registry: CollectorRegistry | None = None) -> None:
        self.core = core
        self.registry = registry or CollectorRegistry()
        r = self.registry
        help_ = {name: text for name, _, text in METRICS}
        self.indications = Counter(
            "haf_xapp_indications", help_["haf_xapp_indications"], registry=r
        )
        self.latency = Histogram(
            "haf_xapp_handle_seconds",
            help_["haf_xapp_handle_seconds"],
            ["mtype"],
            buckets=(5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 5e-2),
            registry=r,
        )
        self.allocation = Gauge(
            "haf_xapp_allocation",
            help_["haf_xapp_allocation"],
            ["node", "instance", "resource"],
            registry=r,
        )
        self.infeasible = Gauge(
            "haf_xapp_ran_infeasible_nodes", help_["haf_xapp_ran_infeasible_nodes"], registry=r
        )
        self.policies = Counter(
            "haf_xapp_a1_policies", help_["haf_xapp_a1_policies"], ["result"], registry=r
        )
        self.dropped = Counter(
            "haf_xapp_dropped_messages", help_["haf_xapp_dropped_messages"], ["kind"], registry=r
        )
        self.stale = Gauge("haf_xapp_stale_nodes", help_["haf_xapp_stale_nodes"], registry=r)
        self._seen = xc.Counters()
        self._stale_at_scrape = False
        self._infeasible_nodes: set[str] = set()

    def stale_nodes(self, now: float) -> int:
        """Nodes whose last report is older than ``stale_after_s``: their E2 node keeps the last
        allocation it received (RAN floors kept locally) until reports resume."""
        limit = self.core.config.stale_after_s
        return sum(
            1
            for v in self.core.views.values()
            if v.received_at > -float("inf") and now - v.received_at > limit
        )

    def track_staleness(self, clock) -> None:
        """Compute the stale gauge at scrape time from ``clock`` (a silent node sends no message
        that would update it)."""
        self.stale.set_function(lambda: self.stale_nodes(clock()))
        self._stale_at_scrape = True

    def start(self) -> list[xc.Message]:
        return self.core.start()

    def handle(
        self, mtype: int, payload: bytes, now: float, sub_id: int = -1, meid: str = ""
    ) -> list[xc.Message]:
        t0 = time.perf_counter()
        outs = self.core.handle(mtype, payload, now, sub_id, meid)
        name = xc.MESSAGE_NAMES.get(mtype, "other") if mtype in xc.RX_TYPES else "other"
        self.latency.labels(name).observe(time.perf_counter() - t0)
        self._update(outs, now)
        return outs

    def _update(self, outs: list[xc.Message], now: float) -> None:
        c, seen = self.core.counters, self._seen
        self.indications.inc(c.indications - seen.indications)
        for result, new, old in (
            ("applied", c.policies_applied, seen.policies_applied),
            ("rejected", c.policies_rejected, seen.policies_rejected),
            ("deleted", c.policies_deleted, seen.policies_deleted),
        ):
            if new > old:
                self.policies.labels(result).inc(new - old)
        for kind, n in c.dropped.items():
            if n > seen.dropped.get(kind, 0):
                self.dropped.labels(kind).inc(n - seen.dropped.get(kind, 0))
        self._seen = xc.Counters(
            c.indications,
            c.controls,
            c.policies_applied,
            c.policies_rejected,
            c.policies_deleted,
            c.ran_infeasible,
            c.dropped.copy(),
        )
        for out in outs:
            if out.mtype == xc.RIC_CONTROL_REQ:
                view = self.core.views[out.meid]
                for iid, (g, cpu) in view.allocation.items():
                    self.allocation.labels(out.meid, iid, "gpu").set(g)
                    self.allocation.labels(out.meid, iid, "cpu").set(cpu)
                if self.core.last_infeasible.get(out.meid):
                    self._infeasible_nodes.add(out.meid)
                else:
                    self._infeasible_nodes.discard(out.meid)
        self.infeasible.set(len(self._infeasible_nodes))
        if not self._stale_at_scrape:  # else computed when scraped, not on every message
            self.stale.set(self.stale_nodes(now))
