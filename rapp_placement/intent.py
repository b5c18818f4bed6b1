"""Operator intents: plain language → a validated structured intent (issue 16).

An intent (``a1_policies/intent-schema.json``, ``haf-intent/1``) holds **targets** (a class's
deadline fulfilment floor, an AI class's p95 latency ceiling), **avoid** rules (never place a
category on a kind of node), **pins** (an instance stays on / moves to a node), a **migration
budget** per hour and a **priority** class. Two readers turn text into it:

- :func:`parse_intent`, deterministic, for the documented phrase forms (docs/intents.md). It is
  strict: a clause it does not understand is an error that quotes the clause — it never drops
  part of what the operator said.
- :func:`llm_intent`, an LLM (the embedded model by default) with the intent schema as its
  response format, for free wording; its answer is validated like any other input.

:func:`check_intent` then finds what cannot be met as stated (contradictions, rules that leave
a category nowhere to go, pins onto unknown or avoided nodes) before anything is planned.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema

from proto.errors import InputError

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "a1_policies" / "intent-schema.json"
SCHEMA: dict = json.loads(SCHEMA_PATH.read_text())
_VALIDATOR = jsonschema.Draft7Validator(SCHEMA)

CLASSES = ("large_ai", "small_ai", "ran_only")
CATEGORY_OF_CLASS = {"large_ai": "large-ai", "small_ai": "small-ai"}


class IntentError(InputError):
    """An intent that cannot be read or cannot be met as stated; the message says why."""


# --- the structured form ------------------------------------------------------------------
def validate_intent(doc: Any) -> dict:
    """The canonical intent: schema-valid, each target with the bound its metric needs,
    duplicate floors merged (the stricter wins), lists sorted. Raises :class:`IntentError`."""
    errors = sorted(_VALIDATOR.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.absolute_path) or "(top)"
        raise IntentError(f"intent {where}: {e.message[:160]}")
    floors: dict[str, float] = {}
    ceilings: dict[str, float] = {}
    quality: dict[str, float] = {}
    for k, t in enumerate(doc.get("targets", [])):
        given = {"min_percent", "max_ms", "min_score"} & set(t)
        if t["metric"] == "fulfilment":
            if given != {"min_percent"}:
                raise IntentError(f"intent targets/{k}: a fulfilment target needs min_percent only")
            floors[t["class"]] = max(floors.get(t["class"], 0.0), float(t["min_percent"]))
        elif t["metric"] == "quality":
            if given != {"min_score"}:
                raise IntentError(f"intent targets/{k}: a quality target needs min_score only")
            if t["class"] not in CATEGORY_OF_CLASS:
                raise IntentError(f"intent targets/{k}: quality is for large_ai or small_ai")
            quality[t["class"]] = max(quality.get(t["class"], 0.0), float(t["min_score"]))
        else:
            if given != {"max_ms"}:
                raise IntentError(f"intent targets/{k}: a p95_latency target needs max_ms only")
            if t["class"] not in CATEGORY_OF_CLASS:
                raise IntentError(f"intent targets/{k}: p95 latency is for large_ai or small_ai")
            ceilings[t["class"]] = min(ceilings.get(t["class"], float("inf")), float(t["max_ms"]))
    out: dict = {}
    targets = [
        {"metric": "fulfilment", "class": c, "min_percent": v} for c, v in sorted(floors.items())
    ] + [{"metric": "p95_latency", "class": c, "max_ms": v} for c, v in sorted(ceilings.items())]
    targets += [
        {"metric": "quality", "class": c, "min_score": v} for c, v in sorted(quality.items())
    ]
    if targets:
        out["targets"] = targets
    avoid = sorted({(a["category"], a["node_kind"]) for a in doc.get("avoid", [])})
    if avoid:
        out["avoid"] = [{"category": c, "node_kind": k} for c, k in avoid]
    if doc.get("pin"):
        out["pin"] = dict(sorted(doc["pin"].items()))
    if doc.get("admit"):
        out["admit"] = sorted(
            (dict(a) for a in doc["admit"]), key=lambda a: (a["category"], a.get("near_cell", 0))
        )
    for key in ("migration_budget", "priority"):
        if key in doc:
            out[key] = doc[key]
    return out


def check_intent(intent: dict, sc, placement: dict[str, str] | None = None) -> list[str]:
    """Why ``intent`` cannot be met as stated on scenario ``sc`` (empty: nothing found).

    Contradictions between parts of the intent, and parts the cluster cannot satisfy whatever
    the plan: an avoid rule that leaves a category no node kind, a pin onto an unknown node or
    instance or onto an avoided kind, a pin that needs a move under a zero migration budget.
    Targets are checked by verifying the plan in the twin (``airan_twin.intent_plan``).
    ``placement``: where each instance is now (default: the scenario's initial placement)."""
    why: list[str] = []
    kinds = {n.id: n.kind for n in sc.nodes}
    cats = {i.id: i.category for i in sc.instances}
    where = placement or {i.id: i.node for i in sc.instances}
    avoided = {(a["category"], a["node_kind"]) for a in intent.get("avoid", [])}

    def banned(cat: str, kind: str) -> bool:
        ai = cat in ("large-ai", "small-ai")
        return bool(avoided & {(cat, kind), ("any", kind)} or (ai and ("ai", kind) in avoided))

    for a in intent.get("avoid", []):
        if a["node_kind"] not in set(kinds.values()):
            why.append(f"avoid: no node of kind {a['node_kind']!r} in this cluster")
    for cat in sorted(set(cats.values())):
        if all(banned(cat, k) for k in kinds.values()):
            why.append(f"avoid: {cat} instances would have no node left to run on")
    moves = 0
    for inst, node in intent.get("pin", {}).items():
        if inst not in cats:
            why.append(f"pin: unknown instance {inst!r}")
            continue
        if node not in kinds:
            why.append(f"pin: unknown node {node!r}")
            continue
        if banned(cats[inst], kinds[node]):
            why.append(
                f"pin {inst} -> {node} contradicts avoid ({cats[inst]} on {kinds[node]} nodes)"
            )
        moves += where[inst] != node
    if moves and intent.get("migration_budget") == 0:
        why.append(f"pin needs {moves} migration(s) but the migration budget is 0")
    cells = set(sc.cells)
    for a in intent.get("admit", []):
        if "near_cell" in a and a["near_cell"] not in cells:
            why.append(f"admit: there is no cell {a['near_cell']} here (cells {sorted(cells)})")
        if all(banned(a["category"], k) for k in kinds.values()):
            why.append(f"admit: avoid leaves a new {a['category']} instance no node")
    ceilings = [t for t in intent.get("targets", []) if t["metric"] == "p95_latency"]
    for t in ceilings:
        cat = CATEGORY_OF_CLASS[t["class"]]
        if not any(i.category == cat for i in sc.instances):
            why.append(f"target: no {cat} service runs here, so its p95 cannot be set")
    return why


# --- the deterministic reader ---------------------------------------------------------------
_NUM = r"(\d+(?:\.\d+)?)"
_CLASS_WORDS = [
    (r"(?:large[- ]?ai|llms?|large models?|language models?)", "large_ai"),
    (r"(?:small[- ]?ai|small models?|vision|embedding)", "small_ai"),
    (r"(?:ran(?:[- ]only)?|radio|du|cu-up)", "ran_only"),
    (r"(?:overall|all requests|everything|every request)", "overall"),
]
_CAT_WORDS = [
    (
        r"(?:llms?|large[- ]?ai(?: services?| instances?)?|large models?|language models?)",
        "large-ai",
    ),
    (r"(?:small[- ]?ai(?: services?| instances?)?|small models?)", "small-ai"),
    (r"(?:ai services?|ai instances?|ai workloads?|ai)", "ai"),
    (r"(?:dus?|distributed units?)", "du"),
    (r"(?:cu-ups?|cu ups?)", "cu-up"),
    (r"(?:anything|any instance|all instances|workloads?)", "any"),
]
_KIND = r"([a-z][a-z0-9-]*?)(?:[- ]nodes?|[- ]servers?|[- ]machines?)"

_STARTS = (
    "keep|never|don't|do not|avoid|at most|no more|limit|pin|prioriti|p95|the|make|ensure|"
    "hold|put|place|run|large|small|ran|llm|add|deploy|start|launch|admit|spin|bring|quality"
)
#: Clauses end at "." (not a decimal point), ";", a newline, a comma, or an "and" that
#: starts a new instruction.
_SPLIT = rf"(?<!\d)\.|\.(?!\d)|[;\n]|,\s*(?:and\s+|but\s+)?|\s+(?:and|but)\s+(?=(?:{_STARTS}))"
_AT_LEAST = r"(?:above|over|at least|no less than|>=|≥|not below|minimum of|min)"
_AT_MOST = r"(?:below|under|at most|within|<=|≤|no more than|less than)"
_VERB = r"(?:place|put|run|schedule|host|placing|putting|running)"
_UP_TO = r"(?:at most|no more than|max(?:imum)?(?: of)?|limit (?:to|of)?|up to)"


def _class_of(text: str) -> str | None:
    for pat, cls in _CLASS_WORDS:
        if re.search(rf"\b{pat}\b", text):
            return cls
    return None


def _category_of(text: str) -> str | None:
    for pat, cat in _CAT_WORDS:
        if re.fullmatch(pat, text.strip()):
            return cat
    return None


def _clauses(text: str) -> list[str]:
    text = re.sub(r"\s+", " ", text.strip().lower())
    parts = re.split(_SPLIT, text)
    return [p.strip(" ,") for p in parts if p and p.strip(" ,")]


_COUNT = {
    "a": 1,
    "an": 1,
    "one": 1,
    "another": 1,
    "a second": 1,
    "a third": 1,
    "one more": 1,
    "two": 2,
    "two more": 2,
    "three": 3,
    "four": 4,
}
_ADMIT = re.compile(
    r"^(?:please\s+)?(?:add|deploy|start|launch|admit|spin up|bring up)\s+"
    r"(a second|a third|one more|two more|another|an|a|one|two|three|four|[1-4])?\s*"
    r"(?:new\s+|more\s+|extra\s+|additional\s+)?(.+?)"
    r"(?:\s+(?:for|near|at|serving|in)\s+cell\s+(\d+))?$"
)
_ADMIT_CATS = [
    (r"(?:llms?|large[- ]?ai|large models?|language models?)", "large-ai"),
    (r"(?:small[- ]?ai|small models?|vision models?|embedding models?)", "small-ai"),
]


def _parse_admit(c: str, out: dict) -> bool:
    """ "add a second LLM for cell 3", "deploy two more small models"."""
    m = _ADMIT.match(c)
    if not m:
        return False
    what = re.sub(r"\s+(?:instances?|services?|replicas?)$", "", m.group(2).strip())
    cat = next((k for pat, k in _ADMIT_CATS if re.fullmatch(pat, what)), None)
    if cat is None:
        return False
    word = m.group(1) or "a"
    n = int(word) if word.isdigit() else _COUNT[word]
    item: dict = {"category": cat}
    if m.group(3):
        item["near_cell"] = int(m.group(3))
    out.setdefault("admit", []).extend(dict(item) for _ in range(n))
    return True


def _parse_quality(c: str, out: dict) -> bool:
    """ "keep LLM quality at least 0.97", "LLM quality above 95%", "do not quantise LLMs"."""
    if re.search(r"\b(?:do not|don't|never|no)\s+quanti[sz](?:e|ation|ing)", c):
        score = 1.0
    else:
        m = re.search(rf"quality\b.*?{_AT_LEAST}\s*{_NUM}\s*(%)?", c)
        if not m:
            return False
        score = float(m.group(1)) / (100.0 if m.group(2) else 1.0)
        if score > 1.0:
            return False
    cls = _class_of(c) or "large_ai"
    if cls not in CATEGORY_OF_CLASS:
        return False
    out.setdefault("targets", []).append({"metric": "quality", "class": cls, "min_score": score})
    return True


def _parse_clause(c: str, out: dict) -> bool:
    if _parse_admit(c, out):
        return True
    if re.search(r"quality|quanti[sz]", c):
        return _parse_quality(c, out)
    # Fulfilment floors: "keep large AI fulfilment above 90%", "RAN deadlines at least 99.9 %".
    m = re.search(rf"{_AT_LEAST}\s*{_NUM}\s*%", c)
    if m and re.search(r"fulfil|deadline|met|on time|success", c):
        cls = _class_of(c)
        if cls is None:
            return False
        out.setdefault("targets", []).append(
            {"metric": "fulfilment", "class": cls, "min_percent": float(m.group(1))}
        )
        return True
    # Latency ceilings: "LLM p95 latency below 2 s", "p95 of small AI under 300 ms".
    m = re.search(
        rf"{_AT_MOST}\s*{_NUM}\s*(ms|milliseconds?|s|seconds?)\b",
        c,
    )
    if m and re.search(r"p95|95th|latency|response time", c):
        cls = _class_of(c)
        if cls is None:
            return False
        ms = float(m.group(1)) * (1.0 if m.group(2).startswith("m") else 1000.0)
        out.setdefault("targets", []).append({"metric": "p95_latency", "class": cls, "max_ms": ms})
        return True
    # Avoid rules: "never place LLMs on cpu-heavy nodes", "keep AI services off balanced nodes".
    m = re.search(
        rf"(?:never|don't|do not|avoid)\s+{_VERB}?\s*(.+?)\s+on\s+{_KIND}",
        c,
    ) or re.search(rf"keep\s+(.+?)\s+(?:off|away from)\s+(?:the\s+)?{_KIND}", c)
    if m:
        cat = _category_of(m.group(1))
        if cat is None:
            return False
        out.setdefault("avoid", []).append({"category": cat, "node_kind": m.group(2)})
        return True
    # Pins: "pin large-ai-1 to gpu-heavy-1", "keep large-ai-1 on gpu-heavy-2".
    m = re.search(
        r"(?:pin|keep|move|hold)\s+([a-z0-9][a-z0-9._-]*-\d+)\s+(?:to|on|onto|at)\s+(?:node\s+)?([a-z0-9][a-z0-9._-]*-\d+)",
        c,
    )
    if m:
        out.setdefault("pin", {})[m.group(1)] = m.group(2)
        return True
    # Migration budget: "at most 6 migrations per hour", "no migrations".
    m = re.search(
        rf"{_UP_TO}\s*{_NUM}\s+migrations?\s*(?:per|an|a|each|/)\s*hour",
        c,
    )
    if m:
        out["migration_budget"] = int(float(m.group(1)))
        return True
    m = re.search(
        rf"{_UP_TO}\s*{_NUM}\s+migrations?\s*(?:per|a|each|/)\s*minute",
        c,
    )
    if m:
        out["migration_budget"] = int(float(m.group(1)) * 60)
        return True
    if re.search(
        r"\b(?:no|zero|freeze|stop all|without) migrations?\b"
        r"|\b(?:do not|don't) migrate\b|\bno moves\b",
        c,
    ):
        out["migration_budget"] = 0
        return True
    # Priority: "prioritise small AI", "RAN comes first".
    m = re.search(r"prioriti[sz]e\s+(.+)|(.+?)\s+(?:comes?|goes?) first|favou?r\s+(.+)", c)
    if m:
        cls = _class_of(next(g for g in m.groups() if g))
        if cls is None or cls == "overall":
            return False
        out["priority"] = cls
        return True
    return False


def parse_intent(text: str) -> dict:
    """The structured intent of ``text`` in the documented phrase forms (docs/intents.md).

    Raises :class:`IntentError` quoting the first clause it cannot read."""
    if not isinstance(text, str) or not text.strip():
        raise IntentError("the intent is empty")
    if len(text) > 4000:
        raise IntentError("the intent is longer than 4000 characters")
    out: dict = {}
    for c in _clauses(text):
        if not _parse_clause(c, out):
            raise IntentError(f"cannot read {c!r} (docs/intents.md lists the phrase forms)")
    if not out:
        raise IntentError("nothing to do: no target, rule, pin, budget or priority found")
    return validate_intent(out)


# --- the LLM reader -----------------------------------------------------------------------
_SYSTEM = (
    "You turn an operator's intent for an AI-RAN edge cluster into JSON. Classes: large_ai "
    "(LLM requests), small_ai (vision/embedding), ran_only, overall. Categories: large-ai, "
    "small-ai, du, cu-up, ai (both AI), any. Node kinds look like gpu-heavy, balanced, "
    "cpu-heavy. Fields: targets [{metric: fulfilment, class, min_percent} | {metric: "
    "p95_latency, class, max_ms} | {metric: quality, class, min_score 0..1}], avoid "
    "[{category, node_kind}], pin {instance: node}, migration_budget (migrations per hour), "
    "priority (a class), admit [{category, near_cell}] (one item per new instance). Only "
    "what the text says.\n"
    'Example: "keep LLM fulfilment above 90% and never run AI on cpu-heavy nodes" -> '
    '{"targets": [{"metric": "fulfilment", "class": "large_ai", "min_percent": 90}], '
    '"avoid": [{"category": "ai", "node_kind": "cpu-heavy"}]}'
)


def llm_intent(text: str, backend) -> dict:
    """The intent an LLM reads from ``text``: the backend answers within the intent schema
    (its response format); the answer is then validated like any input."""
    if not isinstance(text, str) or not text.strip():
        raise IntentError("the intent is empty")
    from rapp_placement.agent import BackendError

    try:
        answer = backend.chat_json(_SYSTEM, text[:4000], SCHEMA, max_tokens=200)
    except BackendError as exc:
        raise IntentError(f"the intent model did not answer: {exc}") from None
    try:
        doc = json.loads(answer)
    except json.JSONDecodeError:
        raise IntentError(f"the intent model's answer is not JSON: {answer[:120]!r}") from None
    return validate_intent(doc)
