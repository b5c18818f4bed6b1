"""The scenario: the cluster, its instances and the workload constants, as typed config.

A scenario is a YAML file validated once at load (pydantic). Errors name the file, the line and
the field, e.g. ``paper.yaml:14: nodes[2].gpu_tflops: Input should be greater than 0``.
Units in the file are the ones engineers quote (TFLOP/s, GB, GFLOP, µs); the properties below
convert them to SI (FLOP/s, bytes, FLOP, s) for the model.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from proto.errors import HafError
from proto.observation import (
    ID_PATTERN,
    MAX_INSTANCES,
    MAX_NODES,
    MAX_VARIANTS,
    VARIANT_PATTERN,
    Category,
    ClusterConfig,
    InstanceConfig,
    NodeConfig,
    VariantConfig,
)
from proto.safejson import read_text

MAX_SCENARIO_BYTES = 1 << 20
#: Upper bound of every number in a scenario: far above any real value, and small enough that
#: unit conversions (TFLOP/s → FLOP/s, GB → bytes) and sums stay finite.
MAX_VALUE = 1e9

DEFAULT_SCENARIO = Path(__file__).parent / "scenarios" / "paper.yaml"

GB = 1e9
TFLOP = 1e12
GFLOP = 1e9


class ScenarioError(HafError):
    """A scenario file is missing, unreadable or invalid; the message says where and why."""


class _Model(BaseModel):
    # No inf/nan anywhere: a capacity of .inf would pass gt=0 and break every ratio.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class NodeSpec(_Model):
    id: str = Field(pattern=ID_PATTERN, description="E2 node id (also the KPM sender name)")
    kind: Literal["gpu-heavy", "cpu-heavy", "balanced"]
    hardware: str = ""
    gpu_tflops: float = Field(
        strict=True, gt=0, le=MAX_VALUE, description="effective GPU throughput G_n, TFLOP/s"
    )
    gpu_mem_gb: float = Field(strict=True, gt=0, le=MAX_VALUE, description="GPU memory M_n, GB")
    cpu_cores: float = Field(strict=True, gt=0, le=MAX_VALUE, description="CPU capacity C_n, cores")

    @property
    def gpu_capacity(self) -> float:
        return self.gpu_tflops * TFLOP

    @property
    def gpu_memory(self) -> float:
        return self.gpu_mem_gb * GB


class VariantSpec(_Model):
    """One way to run an AI service (issue 16): e.g. an LLM in BF16, INT8 or INT4.

    Scales are relative to the category's per-token figures in ``ai``; docs/calibration.md
    derives them and cites the published quality scores."""

    weights_gb: float = Field(strict=True, ge=0, le=MAX_VALUE, description="weights m_i, GB")
    work_scale: float = Field(
        strict=True, gt=0, le=100, description="FLOP per token / the category's base"
    )
    kv_scale: float = Field(strict=True, ge=0, le=100, description="KV per token / the base")
    quality: float = Field(
        strict=True, gt=0, le=1, description="benchmark score / the reference variant's"
    )
    source: str = Field(default="", max_length=300, description="where the quality comes from")


class CategorySpec(_Model):
    weights_gb: float = Field(
        strict=True, ge=0, le=MAX_VALUE, description="persistent GPU memory m_i, GB"
    )
    reconfig_s: float = Field(
        strict=True, ge=0, le=MAX_VALUE, description="reconfiguration (migration) window tau_i, s"
    )
    migratable: bool = True
    variants: dict[str, VariantSpec] = Field(default_factory=dict, max_length=MAX_VARIANTS)
    default_variant: str | None = None

    @model_validator(mode="after")
    def _default_is_base(self) -> CategorySpec:
        if not self.variants:
            if self.default_variant is not None:
                raise ValueError("default_variant needs variants")
            return self
        for name in self.variants:
            if not re.match(VARIANT_PATTERN, name):
                raise ValueError(f"variant name {name!r} must match {VARIANT_PATTERN}")
        base = self.variants.get(self.default_variant or "")
        if base is None:
            raise ValueError(f"default_variant must name one of {sorted(self.variants)}")
        # The category's own figures are the default variant's: one source for each number.
        if (base.weights_gb, base.work_scale, base.kv_scale) != (self.weights_gb, 1.0, 1.0):
            raise ValueError(
                f"the default variant {self.default_variant!r} must have the category's "
                "weights_gb, work_scale 1 and kv_scale 1"
            )
        return self

    def variant(self, name: str | None) -> VariantSpec | None:
        """The named variant (None: the default); None when the category has no variants."""
        if not self.variants:
            return None
        return self.variants[name or self.default_variant]  # type: ignore[index]


class InstanceSpec(_Model):
    id: str = Field(pattern=ID_PATTERN, description="instance id (in KPM measurement names)")
    category: Category
    node: str
    cell: int | None = Field(
        default=None,
        strict=True,
        ge=1,
        le=MAX_INSTANCES,
        description="cell served (DU and CU-UP only)",
    )
    variant: str | None = Field(default=None, description="AI variant (default: the category's)")


class RanWorkload(_Model):
    urllc_share: float = Field(strict=True, ge=0, le=1)
    urllc_deadline_ms: float = Field(strict=True, gt=0, le=MAX_VALUE)
    embb_deadline_ms: float = Field(strict=True, gt=0, le=MAX_VALUE)
    du_gflop_mean: float = Field(
        strict=True, gt=0, le=MAX_VALUE, description="mean DU GPU work per request (exponential)"
    )
    cu_core_us_mean: float = Field(
        strict=True, gt=0, le=MAX_VALUE, description="mean CU-UP CPU work per request"
    )
    ran_per_ai_request: float = Field(
        strict=True,
        ge=0,
        le=MAX_VALUE,
        description="RAN-only requests per AI request (arrival-rate ratio)",
    )


class AiWorkload(_Model):
    large_share: float = Field(
        strict=True, ge=0, le=1, description="fraction of AI requests to large-AI"
    )
    large_gflop_per_prompt_token: float = Field(strict=True, gt=0, le=MAX_VALUE)
    large_gflop_per_output_token: float = Field(strict=True, gt=0, le=MAX_VALUE)
    large_kv_kib_per_token: float = Field(strict=True, ge=0, le=MAX_VALUE)
    small_gflop_per_token: float = Field(strict=True, gt=0, le=MAX_VALUE)
    small_kv_kib_per_token: float = Field(strict=True, ge=0, le=MAX_VALUE)
    large_deadline_base_s: float = Field(strict=True, gt=0, le=MAX_VALUE)
    large_deadline_per_output_token_ms: float = Field(strict=True, ge=0, le=MAX_VALUE)
    large_deadline_max_s: float = Field(strict=True, gt=0, le=MAX_VALUE)
    small_deadline_min_s: float = Field(strict=True, gt=0, le=MAX_VALUE)
    small_deadline_max_s: float = Field(strict=True, gt=0, le=MAX_VALUE)

    @model_validator(mode="after")
    def _ranges(self) -> AiWorkload:
        if self.small_deadline_max_s < self.small_deadline_min_s:
            raise ValueError("small_deadline_max_s must be >= small_deadline_min_s")
        if self.large_deadline_max_s < self.large_deadline_base_s:
            raise ValueError("large_deadline_max_s must be >= large_deadline_base_s")
        return self


class Scenario(_Model):
    name: str
    hop_delay_us: float = Field(strict=True, ge=0, le=MAX_VALUE)
    epoch_s: float = Field(strict=True, gt=0, le=MAX_VALUE)
    nodes: tuple[NodeSpec, ...] = Field(min_length=1, max_length=MAX_NODES)
    categories: dict[Category, CategorySpec]
    instances: tuple[InstanceSpec, ...] = Field(min_length=1, max_length=MAX_INSTANCES)
    ran: RanWorkload
    ai: AiWorkload

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        node_ids = [n.id for n in self.nodes]
        if len(set(node_ids)) != len(node_ids):
            raise ValueError(f"duplicate node id in {node_ids}")
        inst_ids = [i.id for i in self.instances]
        if len(set(inst_ids)) != len(inst_ids):
            raise ValueError(f"duplicate instance id in {inst_ids}")
        missing = set(Category) - set(self.categories)
        if missing:
            raise ValueError(f"categories lacks {sorted(missing)}")
        for cat in (Category.DU, Category.CU_UP):
            if self.categories[cat].variants:
                raise ValueError(f"categories.{cat.value}: only AI services offer variants")
        cells: dict[Category, set[int]] = {Category.DU: set(), Category.CU_UP: set()}
        for k, inst in enumerate(self.instances):
            if inst.node not in node_ids:
                raise ValueError(f"instances[{k}] ({inst.id}): unknown node {inst.node!r}")
            if inst.category.is_ran:
                if inst.cell is None:
                    raise ValueError(f"instances[{k}] ({inst.id}): a RAN function needs a cell")
                if inst.cell in cells[inst.category]:
                    raise ValueError(f"instances[{k}] ({inst.id}): cell {inst.cell} has two")
                cells[inst.category].add(inst.cell)
            elif inst.cell is not None:
                raise ValueError(f"instances[{k}] ({inst.id}): only RAN functions have a cell")
            if (
                inst.variant is not None
                and inst.variant not in self.categories[inst.category].variants
            ):
                raise ValueError(
                    f"instances[{k}] ({inst.id}): {inst.category.value} has no variant "
                    f"{inst.variant!r}"
                )
        if cells[Category.DU] != cells[Category.CU_UP]:
            raise ValueError("every cell needs exactly one DU and one CU-UP")
        for cat in (Category.LARGE_AI, Category.SMALL_AI):
            if not any(i.category == cat for i in self.instances):
                raise ValueError(f"no {cat.value} instance")
        return self

    @property
    def hop_delay(self) -> float:
        return self.hop_delay_us * 1e-6

    @property
    def cells(self) -> list[int]:
        return sorted({i.cell for i in self.instances if i.cell is not None})

    def node(self, node_id: str) -> NodeSpec:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)


def _line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at ``loc`` (or of its nearest existing parent)."""
    node, line = root, None
    for key in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == str(key)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            node = node.value[key] if key < len(node.value) else None
        else:
            node = None
    if node is not None:
        line = node.start_mark.line + 1
    return line


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for key in loc:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out or "(top level)"


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Parse and validate scenario YAML; raise :class:`ScenarioError` naming line and field."""
    if len(text) > MAX_SCENARIO_BYTES:
        raise ScenarioError(f"{source}: larger than {MAX_SCENARIO_BYTES} bytes")
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except RecursionError:
        raise ScenarioError(f"{source}: nested too deeply to be a scenario") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise ScenarioError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario is a YAML mapping")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        hint = re.match(r"(\w+)\[(\d+)\] ", msg)
        if not loc and hint:
            # Cross-field checks name the item they reject; point at its line.
            loc, msg = (hint[1], int(hint[2])), msg[hint.end() :]
        line = _line_of(root, loc)
        where = f"{source}:{line}" if line else source
        raise ScenarioError(f"{where}: {_format_loc(loc)}: {msg}") from None


def load_scenario(path: str | Path | None = None) -> Scenario:
    """Load a scenario file; ``None`` loads the shipped paper testbed (``scenarios/paper.yaml``)."""
    if path is None:
        return parse_scenario(DEFAULT_SCENARIO.read_text(), DEFAULT_SCENARIO.name)
    try:
        text = read_text(path, "scenario", MAX_SCENARIO_BYTES)
    except HafError as exc:
        raise ScenarioError(str(exc)) from None
    return parse_scenario(text, str(path))


def variant_configs(sc: Scenario) -> tuple[VariantConfig, ...]:
    """Every variant the scenario's AI categories offer, in the observation model's units."""
    return tuple(
        VariantConfig(cat.value, name, v.weights_gb * GB, v.work_scale, v.kv_scale, v.quality)
        for cat, spec in sc.categories.items()
        for name, v in spec.variants.items()
    )


def instance_config(sc: Scenario, iid: str, cat: Category, node: str, variant: str | None):
    """One instance as the xApp's config states it: its weights are its variant's."""
    spec = sc.categories[cat]
    v = spec.variant(variant)
    weights = (v.weights_gb if v is not None else spec.weights_gb) * GB
    name = (variant or spec.default_variant or "") if v is not None else ""
    return InstanceConfig(iid, cat.value, weights, spec.reconfig_s, node, name)


def cluster_config(sc: Scenario, reporting_period_ms: int = 10) -> ClusterConfig:
    """The cluster as the xApp's config states it (``proto.observation.ClusterConfig``)."""
    nodes = tuple(
        NodeConfig(n.id, n.gpu_capacity, n.cpu_cores, n.gpu_memory, n.kind) for n in sc.nodes
    )
    insts = tuple(instance_config(sc, i.id, i.category, i.node, i.variant) for i in sc.instances)
    return ClusterConfig(nodes, insts, reporting_period_ms, variants=variant_configs(sc))
