"""Model entities: requests, instances (with their service discipline) and nodes.

Service disciplines (docs/twin.md):

* RAN functions (DU, CU-UP) serve **RAN-only requests first, earliest deadline first**, then AI
  requests (EDF). The head request gets the instance's whole allocation. This is what makes the
  RAN floors of eq. (15) sufficient: the floor is sized so that all pending RAN-only work ends by
  the earliest RAN deadline.
* AI instances serve their admitted requests by **processor sharing** (continuous batching):
  ``k`` requests each progress at ``rate/k``. Implemented with a virtual clock ``V`` (service
  each request has received since the instance started): a request admitted at ``V0`` with
  work ``w`` finishes when ``V`` reaches its tag ``V0 + w``, so residual work is exact between
  events and the next completion is the smallest tag (a heap) — O(log k) per event.

Every stage runs on its category's dominant resource (DU, AI: GPU; CU-UP: CPU): eq. (1) with
the other term zero.
"""

from __future__ import annotations

import heapq
from enum import IntEnum
from typing import NamedTuple

from airan_twin.scenario import Category


class ReqClass(IntEnum):
    URLLC = 0
    EMBB = 1
    LARGE_AI = 2
    SMALL_AI = 3

    @property
    def is_ran_only(self) -> bool:
        return self <= ReqClass.EMBB


class ReqSpec(NamedTuple):
    """An immutable request-to-be; the twin makes a :class:`Req` of it when it arrives."""

    cls: ReqClass
    cell: int
    arrival: float
    deadline: float
    du_work: float
    cu_work: float
    ai_work: float = 0.0
    kv: float = 0.0


class Req:
    """One request: RAN-only ``DU → CU-UP`` or AI ``DU → CU-UP → AI``."""

    __slots__ = (
        "ai_work",
        "arrival",
        "cell",
        "cls",
        "cu_work",
        "deadline",
        "du_work",
        "end",
        "fulfilled",
        "inst",
        "kv",
        "quality",
        "residual",
        "rid",
        "stage",
        "state",
        "tag",
    )

    # state values
    PENDING, ACTIVE, QUEUED, HOP, DONE, PAUSED = range(6)

    def __init__(
        self,
        rid: int,
        cls: ReqClass,
        cell: int,
        arrival: float,
        deadline: float,
        du_work: float,
        cu_work: float,
        ai_work: float = 0.0,
        kv: float = 0.0,
    ) -> None:
        self.rid = rid
        self.cls = cls
        self.cell = cell
        self.arrival = arrival
        self.deadline = deadline
        self.du_work = du_work
        self.cu_work = cu_work
        self.ai_work = ai_work
        self.kv = kv
        self.stage = 0  # 0 DU, 1 CU-UP, 2 AI
        self.residual = du_work
        self.tag = 0.0
        self.inst: Instance | None = None
        self.state = Req.PENDING
        self.end = -1.0
        self.fulfilled = False
        self.quality = 1.0  # of the AI variant that served it (issue 16)

    def stage_work(self) -> float:
        return (self.du_work, self.cu_work, self.ai_work)[self.stage]


class Instance:
    """A resident instance and its server (see the module docstring for the disciplines)."""

    __slots__ = (
        "active",
        "cat",
        "deadlines",
        "heap",
        "iid",
        "kv_held",
        "kv_scale",
        "last_t",
        "migrating_until",
        "node",
        "paused",
        "ps",
        "ps_sum_tags",
        "quality",
        "queue",
        "queued_work",
        "ran_active",
        "rate",
        "reconfig_s",
        "uses_gpu",
        "variant",
        "version",
        "vtime",
        "weights",
        "work_scale",
    )

    def __init__(
        self,
        iid: str,
        cat: Category,
        node: Node,
        weights: float,
        reconfig_s: float,
        variant: str = "",
        work_scale: float = 1.0,
        kv_scale: float = 1.0,
        quality: float = 1.0,
    ):
        self.iid = iid
        self.cat = cat
        self.node = node
        self.weights = weights
        self.reconfig_s = reconfig_s
        # The AI variant it runs (issue 16): scales a request's work and KV when dispatched here.
        self.variant = variant
        self.work_scale = work_scale
        self.kv_scale = kv_scale
        self.quality = quality
        self.uses_gpu = cat != Category.CU_UP
        self.ps = cat.is_ai
        self.rate = 0.0
        self.last_t = 0.0
        self.version = 0
        self.vtime = 0.0
        self.ps_sum_tags = 0.0
        self.active: dict[int, Req] = {}
        # The active requests' deadlines, in the order of ``active`` (eq. 14's terms, kept as
        # requests come and go so the urgency sum is one pass over floats, not over requests).
        self.deadlines: list[float] = []
        self.ran_active: dict[int, Req] = {}
        # (class rank, deadline, rid, req) for EDF; (0, tag, rid, req) for PS
        self.heap: list[tuple[int, float, int, Req]] = []
        self.queue: list[Req] = []  # waiting for KV memory or for the migration to end
        self.queued_work = 0.0
        self.paused: list[Req] = []  # in flight when a migration started
        self.kv_held = 0.0
        self.migrating_until = -1.0

    def __repr__(self) -> str:
        return f"Instance({self.iid}@{self.node.nid})"

    # --- service -----------------------------------------------------------------------------
    def advance(self, now: float) -> None:
        """Progress service from ``last_t`` to ``now`` at the current rate."""
        dt = now - self.last_t
        self.last_t = now
        if dt <= 0.0 or self.rate <= 0.0 or not self.active:
            return
        if self.ps:
            self.vtime += dt * self.rate / len(self.active)
        else:
            head = self.head()
            if head is not None:
                head.residual = max(head.residual - dt * self.rate, 0.0)

    def head(self) -> Req | None:
        """The request that completes next: smallest tag under PS, the EDF head otherwise.

        Heap entries of requests that left (or, under PS, were re-tagged after a pause) are
        dropped lazily here.
        """
        heap = self.heap
        ps = self.ps
        while heap:
            _, key, _, req = heap[0]
            if req.state == Req.ACTIVE and req.inst is self and (not ps or key == req.tag):
                return req
            heapq.heappop(heap)
        return None

    def time_to_next_completion(self) -> float:
        if not self.active:
            return float("inf")
        head = self.head()
        if head is None:
            return float("inf")
        left = max(head.tag - self.vtime, 0.0) if self.ps else head.residual
        if left <= 0.0:
            return 0.0  # nothing left to do: done now, whatever the rate (a zero-work stage)
        if self.rate <= 0.0:
            return float("inf")
        return left * len(self.active) / self.rate if self.ps else left / self.rate

    def add(self, req: Req) -> None:
        req.inst = self
        req.state = Req.ACTIVE
        self.active[req.rid] = req
        self.deadlines.append(req.deadline)
        self.node.mark_changed(self.uses_gpu)
        if self.ps:
            req.tag = self.vtime + req.residual
            self.ps_sum_tags += req.tag
            heapq.heappush(self.heap, (0, req.tag, req.rid, req))
        else:
            ran = req.cls.is_ran_only
            heapq.heappush(self.heap, (0 if ran else 1, req.deadline, req.rid, req))
            if ran:
                self.ran_active[req.rid] = req

    def remove(self, req: Req) -> None:
        """Take an active request out (completed, expired or paused); heap entries go lazily."""
        del self.active[req.rid]
        # Equal deadlines are interchangeable, so removing the first equal one keeps the list
        # equal, value for value and in order, to the deadlines of ``active``.
        self.deadlines.remove(req.deadline)
        self.node.mark_changed(self.uses_gpu)
        if self.ps:
            req.residual = max(req.tag - self.vtime, 0.0)
            self.ps_sum_tags -= req.tag
            if not self.active:
                self.ps_sum_tags = 0.0  # no drift across busy periods
        else:
            self.ran_active.pop(req.rid, None)

    # --- demand terms of the allocation layer ---------------------------------------------------
    def workload(self) -> float:
        """Eq. (13): residual work of the active requests (FLOP or core·s)."""
        if self.ps:
            return max(self.ps_sum_tags - len(self.active) * self.vtime, 0.0)
        return sum(r.residual for r in self.active.values())

    def backlog(self) -> float:
        """Work routed here and not done: active + queued + paused (dispatch uses it)."""
        return self.workload() + self.queued_work + sum(r.residual for r in self.paused)

    def is_migrating(self, now: float) -> bool:
        return now < self.migrating_until


class Node:
    __slots__ = (
        "cpu_cap",
        "cpu_changed",
        "gpu_cap",
        "gpu_changed",
        "instances",
        "kind",
        "mem_cap",
        "mem_used",
        "nid",
    )

    def __init__(self, nid: str, kind: str, gpu_cap: float, cpu_cap: float, mem_cap: float):
        self.nid = nid
        self.kind = kind
        self.gpu_cap = gpu_cap
        self.cpu_cap = cpu_cap
        self.mem_cap = mem_cap
        self.mem_used = 0.0
        self.instances: list[Instance] = []
        # Which sub-problem of (16) a request's arrival or departure changed since the node's
        # last reallocation (docs/twin.md, "What a reallocation re-solves").
        self.gpu_changed = True
        self.cpu_changed = True

    def mark_changed(self, gpu: bool) -> None:
        if gpu:
            self.gpu_changed = True
        else:
            self.cpu_changed = True

    def __repr__(self) -> str:
        return f"Node({self.nid})"
