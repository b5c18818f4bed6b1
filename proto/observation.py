"""The observation model: the records that cross HAF's boundaries, and their valid ranges.

One record per fact (``../shared/docs/style.md``): an instance's measurement travels
twin → E2 node → KPM codec → xApp → snapshot as :class:`InstanceMeasurement`; the cluster the
xApp and the twin share is :class:`ClusterConfig`; what the rApp reads each epoch is
:class:`Snapshot`. Values are checked once, where they enter (:func:`measurement_from_kpm`,
:meth:`ClusterConfig.from_dict`); code behind these functions trusts the records.

The limits are chosen so that every sum the snapshot carries stays representable: at most
:data:`MAX_INSTANCES` instances with at most :data:`MAX_REQUESTS` requests each fit a uint32
count, and work values far above any real cluster (an H100 does ~1e15 FLOP/s) stay finite when
thousands of them are added.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from proto.errors import ConfigError, MeasurementError


# --- vocabulary ------------------------------------------------------------------------------
class Category(StrEnum):
    """Instance categories; DU and the AI services run on the GPU, CU-UP on CPU cores."""

    DU = "du"
    CU_UP = "cu-up"
    LARGE_AI = "large-ai"
    SMALL_AI = "small-ai"

    @property
    def is_ran(self) -> bool:
        return self in (Category.DU, Category.CU_UP)

    @property
    def is_ai(self) -> bool:
        return not self.is_ran


CATEGORIES: tuple[str, ...] = tuple(c.value for c in Category)
GPU_CATEGORIES = frozenset({"du", "large-ai", "small-ai"})
RAN_CATEGORIES = frozenset({"du", "cu-up"})
NODE_KINDS: tuple[str, ...] = ("gpu-heavy", "cpu-heavy", "balanced", "")
#: Request classes of the objective J (11), in the critic's output order.
CLASSES: tuple[str, ...] = ("large_ai", "small_ai", "ran_only")

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
_ID = re.compile(ID_PATTERN)

# --- limits (docs/xapp.md lists them with the error each one gives) ---------------------------
MAX_NODES = 1024
MAX_INSTANCES = 4096
MAX_REQUESTS = 1_000_000  # per instance: 4096 × 1e6 < 2^32, so a node's sum fits uint32
MAX_WORK = 1e24  # FLOP or core·s (residual, waiting, pending work)
MAX_RATE = 1e24  # FLOP/s or cores (served share, arrival work rate)
MAX_URGENCY = 1e15  # 1/s: 1e6 requests at 1/ε (ε = 1 µs) is 1e12
MAX_KV_BYTES = 1e15
MAX_SLACK_S = 1e9  # |min slack|; "none pending" is encoded as noValue (inf here)
MAX_TIME_S = 4_233_462_143.0  # collection time, Unix s: 2^32 + 2^31 - 1 NTP s after 1900 (2104)
MAX_CAPACITY = 1e21  # node GPU FLOP/s, CPU cores or memory bytes
MAX_WEIGHT = 1e6  # a class weight of J (11)


def uses_gpu(category: str) -> bool:
    return category in GPU_CATEGORIES


def valid_id(text: object) -> bool:
    return isinstance(text, str) and _ID.match(text) is not None


# --- the measurement record ------------------------------------------------------------------
#: KPM measurement field → (attribute, kind, upper bound). Names are ``HAF.<Field>.<instance>``;
#: kinds: "work" finite in [0, bound]; "slack" finite in [-bound, bound] or noValue; "count" an
#: integer in [0, bound]; "flag" exactly 0 or 1. The order is the slot order of the report.
FIELD_SPECS: tuple[tuple[str, str, str, float], ...] = (
    ("WorkGpu", "work_gpu", "work", MAX_WORK),  # W^g (13) of the active requests, FLOP
    ("WorkCpu", "work_cpu", "work", MAX_WORK),  # W^c (13), core·s
    ("Urgency", "urgency", "work", MAX_URGENCY),  # U (14), 1/s
    ("RanPendingWork", "ran_pending_work", "work", MAX_WORK),  # numerator of (15)
    ("RanMinSlack", "ran_min_slack", "slack", MAX_SLACK_S),  # denominator of (15), s
    ("KvBytes", "kv_bytes", "work", MAX_KV_BYTES),  # KV cache held (active + paused), bytes
    ("Migrating", "migrating", "flag", 1),  # 1 while reconfiguring
    ("ActiveRequests", "active", "count", MAX_REQUESTS),  # being served
    ("QueuedRequests", "queued", "count", MAX_REQUESTS),  # waiting for KV or the window
    ("ArrivalWorkRate", "arrival_work_rate", "work", MAX_RATE),  # routed here per s this epoch
    ("WaitingWork", "waiting_work", "work", MAX_WORK),  # work of queued + paused requests
    ("ServedShare", "served_share", "work", MAX_RATE),  # rate it is served at now (FLOP/s|cores)
)
FIELDS: tuple[str, ...] = tuple(f[0] for f in FIELD_SPECS)


@dataclass(frozen=True, slots=True)
class InstanceMeasurement:
    """What an E2 node reports per resident instance (docs/e2-kpm.md): the one record."""

    instance_id: str
    work_gpu: float
    work_cpu: float
    urgency: float
    ran_pending_work: float
    ran_min_slack: float  # math.inf when no RAN-only request is pending
    kv_bytes: float
    migrating: bool
    active: int = 0
    queued: int = 0
    arrival_work_rate: float = 0.0
    waiting_work: float = 0.0
    served_share: float = 0.0


def measurement_name(field: str, instance_id: str) -> str:
    return f"HAF.{field}.{instance_id}"


_KINDS: tuple[tuple[str, float], ...] = tuple((kind, bound) for _, _, kind, bound in FIELD_SPECS)
_INF = math.inf


def _bad(instance_id: str, k: int, detail: str) -> MeasurementError:
    return MeasurementError(measurement_name(FIELDS[k], instance_id), detail)


def measurement_from_kpm(instance_id: str, items: Sequence[tuple[str, Any]]) -> InstanceMeasurement:
    """One instance's KPM record items ``(choice, value)``, in :data:`FIELDS` order → a
    validated record. Raises :class:`MeasurementError` naming the first field out of range.

    Called for every resident instance of every report, so the checks are plain comparisons
    (NaN fails every one of them); the error message is built only on failure.
    """
    if len(items) != len(FIELDS):
        raise MeasurementError(
            measurement_name("*", instance_id), f"{len(items)} values, expected {len(FIELDS)}"
        )
    out: list[Any] = []
    for k, (choice, v) in enumerate(items):
        kind, bound = _KINDS[k]
        if choice == "noValue":
            if kind != "slack":
                raise _bad(instance_id, k, "must be a number, got noValue")
            out.append(_INF)
            continue
        t = type(v)
        if (t is not float and t is not int) or (choice != "real" and choice != "integer"):
            raise _bad(instance_id, k, f"must be a number, got {choice} {t.__name__}")
        if kind == "work":
            if not 0.0 <= v <= bound:
                raise _bad(instance_id, k, f"must be finite and in [0, {bound:g}], got {v!r}")
            out.append(float(v))
        elif kind == "slack":
            if not -bound <= v <= bound:
                raise _bad(instance_id, k, f"must be finite and within ±{bound:g} s, got {v!r}")
            out.append(float(v))
        elif kind == "count":
            if not 0 <= v <= bound or v != int(v):
                raise _bad(instance_id, k, f"must be a whole number in [0, {bound:g}], got {v!r}")
            out.append(int(v))
        else:  # flag
            if v != 0 and v != 1:
                raise _bad(instance_id, k, f"must be exactly 0 or 1, got {v!r}")
            out.append(v == 1)
    return InstanceMeasurement(instance_id, *out)


def kpm_items(m: InstanceMeasurement) -> list[tuple[str, object]]:
    """The record as KPM MeasurementRecordItems in slot order (the E2 node's encoder)."""
    out: list[tuple[str, object]] = []
    for _field, attr, kind, _bound in FIELD_SPECS:
        v = getattr(m, attr)
        if kind == "slack" and math.isinf(v):
            out.append(("noValue", None))
        elif kind in ("count", "flag"):
            out.append(("integer", int(v)))
        else:
            out.append(("real", float(v)))
    return out


# --- the cluster both loops share ----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class NodeConfig:
    node_id: str
    gpu_capacity: float  # FLOP/s
    cpu_capacity: float  # cores
    mem_capacity: float  # bytes
    kind: str = ""  # gpu-heavy | cpu-heavy | balanced (shown to the rApp)


@dataclass(frozen=True, slots=True)
class InstanceConfig:
    instance_id: str
    category: str  # du | cu-up | large-ai | small-ai
    weights: float  # bytes
    reconfig_s: float
    node_id: str  # initial placement
    variant: str = ""  # the AI service variant it runs ("" when its category has none)


@dataclass(frozen=True, slots=True)
class VariantConfig:
    """One variant an AI category offers (issue 16: tunable services), e.g. an LLM in INT4.

    ``weights`` is what the xApp checks memory (4) with; the twin also uses the work and KV
    scales (relative to the category's per-token figures) and the quality score."""

    category: str
    name: str
    weights: float  # bytes
    work_scale: float = 1.0  # FLOP per token / the category's base (BF16-equivalent FLOP)
    kv_scale: float = 1.0  # KV bytes per token / the category's base
    quality: float = 1.0  # published benchmark score / the reference variant's, 0..1


MAX_VARIANTS = 8  # per category
VARIANT_PATTERN = r"^[a-z][a-z0-9_-]{0,15}$"
_VARIANT = re.compile(VARIANT_PATTERN)


def _number(where: str, value: Any, low: float, high: float, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: must be a number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v) or v > high or v < low or (low_open and v == low):
        side = ">" if low_open else ">="
        raise ConfigError(f"{where}: must be finite, {side} {low:g} and <= {high:g}, got {v!r}")
    return v


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """The cluster as the xApp's config file states it (``controls`` of the descriptor)."""

    nodes: tuple[NodeConfig, ...]
    instances: tuple[InstanceConfig, ...]
    reporting_period_ms: int = 100
    stale_after_s: float = 1.0
    variants: tuple[VariantConfig, ...] = ()  # what AI categories offer (issue 16)

    @classmethod
    def from_dict(cls, d: Any) -> ClusterConfig:
        """Validate a config document; :class:`ConfigError` names the first bad field."""
        if not isinstance(d, dict):
            raise ConfigError("config: must be a JSON object")
        unknown = sorted(
            set(d) - {"nodes", "instances", "reporting_period_ms", "stale_after_s", "variants"}
        )
        if unknown:
            raise ConfigError(f"config: unknown field(s) {', '.join(map(str, unknown))}")
        nodes_in, insts_in = d.get("nodes"), d.get("instances")
        if not isinstance(nodes_in, list) or not 1 <= len(nodes_in) <= MAX_NODES:
            raise ConfigError(f"config.nodes: must be a list of 1..{MAX_NODES} nodes")
        if not isinstance(insts_in, list) or not 1 <= len(insts_in) <= MAX_INSTANCES:
            raise ConfigError(f"config.instances: must be a list of 1..{MAX_INSTANCES} instances")
        nodes = []
        for k, n in enumerate(nodes_in):
            where = f"config.nodes[{k}]"
            if not isinstance(n, dict):
                raise ConfigError(f"{where}: must be an object")
            if not valid_id(n.get("node_id")):
                raise ConfigError(f"{where}.node_id: must match {ID_PATTERN}")
            kind = n.get("kind", "")
            if kind not in NODE_KINDS:
                raise ConfigError(f"{where}.kind: must be one of {', '.join(NODE_KINDS[:-1])}")
            nodes.append(
                NodeConfig(
                    n["node_id"],
                    _number(f"{where}.gpu_capacity", n.get("gpu_capacity"), 0, MAX_CAPACITY, True),
                    _number(f"{where}.cpu_capacity", n.get("cpu_capacity"), 0, MAX_CAPACITY, True),
                    _number(f"{where}.mem_capacity", n.get("mem_capacity"), 0, MAX_CAPACITY, True),
                    kind,
                )
            )
        node_ids = [n.node_id for n in nodes]
        if len(set(node_ids)) != len(node_ids):
            raise ConfigError("config.nodes: node ids must be unique")
        variants = _variants_from(d.get("variants", []))
        offered = {(v.category, v.name): v for v in variants}
        insts = []
        for k, i in enumerate(insts_in):
            where = f"config.instances[{k}]"
            if not isinstance(i, dict):
                raise ConfigError(f"{where}: must be an object")
            if not valid_id(i.get("instance_id")):
                raise ConfigError(f"{where}.instance_id: must match {ID_PATTERN}")
            if i.get("category") not in CATEGORIES:
                raise ConfigError(f"{where}.category: must be one of {', '.join(CATEGORIES)}")
            if i.get("node_id") not in node_ids:
                raise ConfigError(f"{where}.node_id: {i.get('node_id')!r} is not a configured node")
            variant = i.get("variant", "")
            if not isinstance(variant, str) or (
                variant != "" and (i["category"], variant) not in offered
            ):
                raise ConfigError(
                    f"{where}.variant: {str(variant)[:40]!r} is not a variant of {i['category']}"
                )
            insts.append(
                InstanceConfig(
                    i["instance_id"],
                    i["category"],
                    _number(f"{where}.weights", i.get("weights"), 0, MAX_CAPACITY),
                    _number(f"{where}.reconfig_s", i.get("reconfig_s"), 0, 86400.0),
                    i["node_id"],
                    variant,
                )
            )
        inst_ids = [i.instance_id for i in insts]
        if len(set(inst_ids)) != len(inst_ids):
            raise ConfigError("config.instances: instance ids must be unique")
        period = d.get("reporting_period_ms", 100)
        if isinstance(period, bool) or not isinstance(period, int) or not 1 <= period <= 60000:
            raise ConfigError("config.reporting_period_ms: must be an integer in 1..60000")
        stale = _number("config.stale_after_s", d.get("stale_after_s", 1.0), 0, 86400.0, True)
        return cls(tuple(nodes), tuple(insts), period, stale, variants)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "nodes": [asdict(n) for n in self.nodes],
            "instances": [asdict(i) for i in self.instances],
            "reporting_period_ms": self.reporting_period_ms,
            "stale_after_s": self.stale_after_s,
        }
        if self.variants:
            out["variants"] = [asdict(v) for v in self.variants]
        return out

    def variant(self, category: str, name: str) -> VariantConfig | None:
        for v in self.variants:
            if v.category == category and v.name == name:
                return v
        return None

    @property
    def instance_ids(self) -> list[str]:
        return [i.instance_id for i in self.instances]


def _variants_from(items: Any) -> tuple[VariantConfig, ...]:
    if not isinstance(items, list) or len(items) > MAX_VARIANTS * 2:
        raise ConfigError(f"config.variants: must be a list of at most {MAX_VARIANTS * 2}")
    out = []
    for k, v in enumerate(items):
        where = f"config.variants[{k}]"
        if not isinstance(v, dict):
            raise ConfigError(f"{where}: must be an object")
        unknown = sorted(
            set(v) - {"category", "name", "weights", "work_scale", "kv_scale", "quality"}
        )
        if unknown:
            raise ConfigError(f"{where}: unknown field(s) {', '.join(map(str, unknown))[:80]}")
        if v.get("category") not in ("large-ai", "small-ai"):
            raise ConfigError(f"{where}.category: must be large-ai or small-ai")
        name = v.get("name")
        if not isinstance(name, str) or not _VARIANT.match(name):
            raise ConfigError(f"{where}.name: must match {VARIANT_PATTERN}")
        out.append(
            VariantConfig(
                v["category"],
                name,
                _number(f"{where}.weights", v.get("weights"), 0, MAX_CAPACITY),
                _number(f"{where}.work_scale", v.get("work_scale", 1.0), 0, 100.0, True),
                _number(f"{where}.kv_scale", v.get("kv_scale", 1.0), 0, 100.0),
                _number(f"{where}.quality", v.get("quality", 1.0), 0, 1.0),
            )
        )
    keys = [(v.category, v.name) for v in out]
    if len(set(keys)) != len(keys):
        raise ConfigError("config.variants: (category, name) pairs must be unique")
    return tuple(out)


# --- the snapshot the rApp reads ---------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ClassWeights:
    """Weights of the objective J (11) per request class; finite, >= 0, not all zero."""

    large_ai: float
    small_ai: float
    ran_only: float

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.large_ai, self.small_ai, self.ran_only)


@dataclass(frozen=True, slots=True)
class Constraints:
    """Placement rules in force (an operator's intent, through an A1 policy): ``avoid`` —
    (category, node kind) pairs never to place on, with ``ai`` for both AI categories and
    ``any`` for every category; ``pin`` — (instance, node) pairs: the instance may only be on,
    or move to, that node."""

    avoid: tuple[tuple[str, str], ...] = ()
    pin: tuple[tuple[str, str], ...] = ()

    def allows(self, category: str, instance_id: str, node_id: str, node_kind: str) -> bool:
        """May an instance of ``category`` be placed on ``node_id`` (of ``node_kind``)?"""
        pinned = dict(self.pin).get(instance_id)
        if pinned is not None:
            return node_id == pinned
        for cat, kind in self.avoid:
            if kind != node_kind:
                continue
            if (
                cat == category
                or cat == "any"
                or (cat == "ai" and category in ("large-ai", "small-ai"))
            ):
                return False
        return True

    @classmethod
    def of_policy(cls, doc: dict | None) -> Constraints | None:
        """From a validated policy's (or intent's) ``avoid`` / ``pin``; None when it has none."""
        if not doc or not (doc.get("avoid") or doc.get("pin")):
            return None
        avoid = tuple(sorted((a["category"], a["node_kind"]) for a in doc.get("avoid", [])))
        return cls(avoid, tuple(sorted(doc.get("pin", {}).items())))


@dataclass(frozen=True, slots=True)
class NodeView:
    node_id: str
    kind: str
    gpu_capacity: float  # FLOP/s
    cpu_capacity: float  # cores
    mem_capacity: float  # bytes
    mem_used: float  # bytes: resident weights + KV of admitted requests (eq. 4)
    gpu_util: float  # GPU being served / capacity, 0..1
    cpu_util: float
    ran_floor_gpu_util: float  # GPU held by RAN floors (15) / capacity
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
    backlog_gpu: float  # FLOP routed here and not done: active + queued + paused
    backlog_cpu: float  # core·s
    active_requests: int  # being served
    queued_requests: int  # waiting for KV memory or the reconfiguration window
    urgency: float  # eq. (14)
    arrival_work_rate: float  # FLOP/s (or core·s/s) routed here since the epoch began


@dataclass(frozen=True, slots=True)
class Snapshot:
    time: float
    epoch: int
    nodes: tuple[NodeView, ...]
    instances: tuple[InstanceView, ...]
    class_weights: ClassWeights | None = None  # the operator's, from an A1 policy; None: default
    constraints: Constraints | None = None  # placement rules in force (an A1 policy's)

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
