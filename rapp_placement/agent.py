"""The LLM placement agent (spec §3.2): prompt → backend → parsed, validated shortlist.

Backends answer a :class:`~rapp_placement.prompt.Prompt` with raw text; the agent parses it
(thinking text, code fences and prose around the JSON are tolerated), drops duplicates and ids
not in the candidate set, keeps the order and at most ``k``. Any failure — unreachable host,
timeout, invalid or empty answer, only unknown ids — falls back to the deterministic
:func:`heuristic_shortlist`, is counted, and never breaks the epoch. Every call is logged as one
JSONL line (prompt hash, answer, latency, backend), which :class:`ReplayBackend` re-uses.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from proto.errors import InputError
from proto.observation import Snapshot
from rapp_placement.candidates import NOOP, Candidate
from rapp_placement.experience import (
    EpsilonGreedy,
    Experience,
    ExperiencePool,
    analogue,
    state_vector,
)
from rapp_placement.prompt import K_DEFAULT, Prompt, build_prompt, move_label

log = logging.getLogger(__name__)


class BackendError(RuntimeError):
    """The backend could not produce an answer (unreachable, timeout, server error)."""


class ShortlistBackend(Protocol):
    name: str

    def complete(self, prompt: Prompt) -> str:
        """Raw answer text for ``prompt``; raise :class:`BackendError` on failure."""
        ...


# --- parsing --------------------------------------------------------------------------------
_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S | re.I)


def _json_objects(text: str) -> Iterable[dict]:
    """Every JSON object that can be decoded starting at a ``{`` in ``text``, in order."""
    dec = json.JSONDecoder()
    for m in re.finditer(r"\{", text):
        try:
            obj, _ = dec.raw_decode(text, m.start())
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            yield obj


def parse_shortlist(text: str, candidate_ids: Iterable[str], k: int = K_DEFAULT) -> list[str]:
    """Labels from an answer: the first object with a ``shortlist`` list, filtered to
    ``candidate_ids`` (the prompt's labels) and de-duplicated.

    Returns ``[]`` when the answer holds no usable id (the caller falls back).
    """
    allowed = set(candidate_ids)
    cleaned = _THINK.sub("", text)
    if "<think>" in cleaned.lower():  # unterminated thinking: keep what follows it
        cleaned = cleaned[cleaned.lower().rindex("<think>") + 7 :]
    sources = [*_FENCE.findall(cleaned), cleaned]
    for src in sources:
        for obj in _json_objects(src):
            items = obj.get("shortlist")
            if not isinstance(items, list):
                continue
            out: list[str] = []
            for item in items:
                if isinstance(item, str) and item in allowed and item not in out:
                    out.append(item)
            return out[:k]
    return []


# --- the heuristic (ablation row and fallback) ---------------------------------------------
#: Above this share of a node's GPU (or CPU) held by RAN floors, the node is RAN-critical.
RAN_CRITICAL = 0.5


def heuristic_shortlist(
    snap: Snapshot, candidates: list[Candidate], k: int = K_DEFAULT, epoch_s: float = 5.0
) -> list[str]:
    """The system policy's priorities, applied literally and deterministically.

    Each instance is judged on the resource it runs on: a CU-UP by CPU, a DU and the AI
    services by GPU, and every move by the destination's GPU memory (VRAM).

    1. Protect RAN: never move load onto a RAN-critical node; a RAN function moves only off a
       node critical on its resource onto a node with more of that resource free.
    2. Raise AI fulfilment: an AI service moves if its backlog, in seconds of its node's GPU,
       would drain faster on the destination's free GPU — and only where the VRAM left after the
       move holds as much KV again as it holds now (its requests' KV grows with their output),
       and never onto a node that already hosts an LLM while another node could take it with no
       LLM on it.
    3. Reconfiguration cost: the backlog time saved must exceed the offline window (the time
       is not recovered otherwise); moves are ranked by saved time minus window.
    The no-op closes the list when fewer than ``k`` moves qualify.
    """
    nodes = {n.node_id: n for n in snap.nodes}
    insts = {i.instance_id: i for i in snap.instances}
    llm_nodes = {i.node_id for i in snap.instances if i.category == "large-ai"}
    dests: dict[str, set[str]] = {}  # instance -> nodes it could move to (memory-feasible)
    for c in candidates:
        if not c.is_noop:
            dests.setdefault(c.instance_id, set()).add(c.dst)  # type: ignore[arg-type]
    scored: list[tuple[float, str]] = []
    for c in candidates:
        if c.is_noop:
            continue
        inst, src, dst = insts[c.instance_id], nodes[c.src], nodes[c.dst]  # type: ignore[index]
        if dst.ran_floor_gpu_util > RAN_CRITICAL or dst.ran_floor_cpu_util > RAN_CRITICAL:
            continue
        if inst.category in ("du", "cu-up"):
            if inst.category == "cu-up":  # CPU-bound: judged by CPU
                src_floor, src_util, dst_util = src.ran_floor_cpu_util, src.cpu_util, dst.cpu_util
            else:
                src_floor, src_util, dst_util = src.ran_floor_gpu_util, src.gpu_util, dst.gpu_util
            if src_floor > RAN_CRITICAL and dst_util < src_util:
                scored.append((src_floor - dst_util - c.reconfig_s, c.cid))
            continue
        if c.dst_mem_headroom_after < inst.kv:
            continue  # VRAM: no room for its KV to grow as much again
        if inst.category == "large-ai" and c.dst in llm_nodes:
            free = dests.get(inst.instance_id, set()) - llm_nodes - {inst.node_id}
            if free:
                continue  # never two LLMs on one node while another node has room
        free_src = src.gpu_capacity * max(1.0 - src.ran_floor_gpu_util, 1e-9)
        free_dst = dst.gpu_capacity * max(1.0 - dst.gpu_util, 1e-9)
        drain_here = inst.backlog_gpu / free_src
        drain_there = inst.backlog_gpu / free_dst
        arrivals_s = inst.arrival_work_rate * epoch_s
        saved = (drain_here - drain_there) + arrivals_s * (1 / free_src - 1 / free_dst)
        if saved > c.reconfig_s:
            scored.append((saved - c.reconfig_s, c.cid))
    scored.sort(key=lambda sc: (-sc[0], sc[1]))
    out = [cid for _, cid in scored[:k]]
    if len(out) < k:
        out.append(NOOP)
    return out


# --- the agent ----------------------------------------------------------------------------
@dataclass
class ShortlistResult:
    shortlist: list[str]
    source: str  # "llm", "heuristic" (chosen backend) or "fallback"
    backend: str
    latency_s: float
    prompt_sha256: str = ""
    answer: str = ""
    error: str = ""
    positions: list[int] = field(default_factory=list)  # of the chosen ids in the prompt
    examples: list[str] = field(default_factory=list)  # the past decisions the prompt showed
    explored: str = ""  # the migration ε-greedy added, if any
    labels: list[str] = field(default_factory=list)  # the model's answer as given ("c4", "stay")


@dataclass
class AgentStats:
    calls: int = 0
    fallbacks: int = 0
    reasons: Counter = field(default_factory=Counter)
    positions: Counter = field(default_factory=Counter)


class PlacementAgent:
    """Shortlists candidates with an LLM backend, or with the heuristic when ``backend`` is None."""

    def __init__(
        self,
        backend: ShortlistBackend | None,
        k: int = K_DEFAULT,
        log_path: str | Path | None = None,
        epoch_s: float = 5.0,
        deadline_s: float | None = None,
        pool: ExperiencePool | None = None,
        examples: int = 3,
        example_mode: str = "prioritised",
        explore: EpsilonGreedy | None = None,
        seed: int = 0,
        refresh: int = 3,
        label_seed: int = 0,
    ) -> None:
        self.backend = backend
        self.pool = pool  # past decisions shown to the model (experience.py)
        self.n_examples = examples if pool is not None else 0
        self.example_mode = example_mode
        self.explore = explore
        self.rng = random.Random(seed)  # example draws and exploration: seeded, reproducible
        self.refresh = refresh
        self.label_seed = label_seed  # which instance gets which label (position-bias control)
        self._shown: list[Experience] = []
        self._since_draw = 0
        self.k = k
        self.epoch_s = epoch_s
        self.deadline_s = deadline_s  # the LLM call's budget inside the epoch (None: none)
        self._pool: ThreadPoolExecutor | None = None
        self.log_path = Path(log_path) if log_path else None
        self.stats = AgentStats()
        self.last: ShortlistResult | None = None  # the latest call's result

    @property
    def name(self) -> str:
        return self.backend.name if self.backend is not None else "heuristic"

    def shortlist(self, snap: Snapshot, candidates: list[Candidate], seed: int) -> ShortlistResult:
        """Up to ``k`` candidate ids (``seed`` is kept for callers; the order is the label's)."""
        self.stats.calls += 1
        if self.backend is None:
            t0 = time.perf_counter()
            ids = heuristic_shortlist(snap, candidates, self.k, self.epoch_s)
            res = ShortlistResult(ids, "heuristic", "heuristic", time.perf_counter() - t0)
            return self._finish(res, snap, candidates)
        examples = self._examples(snap)
        texts = [
            e.text(self._label_of(analogue(e, snap, candidates), snap, self.label_seed))
            for e in examples
        ]
        prompt = build_prompt(snap, candidates, self.label_seed, self.k, texts)
        t0 = time.perf_counter()
        answer, error, labels = "", "", []
        try:
            answer = self._complete(prompt)
            # A label ("c4", "stay") or, from a model that ignores the schema, a full id.
            labels = parse_shortlist(answer, (*prompt.labels, *prompt.candidate_ids), self.k)
            ids = list(dict.fromkeys(prompt.cid_of(x) or x for x in labels))
            if not ids:
                error = "invalid answer: no candidate id in a {'shortlist': [...]} object"
        except BackendError as exc:
            late = str(exc).startswith("deadline")  # its own reason: slow, not down
            ids, error = [], str(exc) if late else f"backend: {exc}"
        latency = time.perf_counter() - t0
        if error:
            self.stats.fallbacks += 1
            self.stats.reasons[error.split(":")[0]] += 1
            log.warning("agent %s fell back to the heuristic: %s", self.name, error)
            ids = heuristic_shortlist(snap, candidates, self.k, self.epoch_s)
            source = "fallback"
        else:
            source = "llm"
        positions = [prompt.candidate_ids.index(i) for i in ids if i in prompt.candidate_ids]
        if source == "llm":
            self.stats.positions.update(positions)
        res = ShortlistResult(
            ids,
            source,
            self.name,
            latency,
            prompt.sha256,
            answer,
            error,
            positions,
            texts,
            labels=labels if source == "llm" else [],
        )
        return self._finish(res, snap, candidates)

    def _examples(self, snap: Snapshot) -> list[Experience]:
        """The examples for this call: drawn anew every ``refresh`` calls only, so that the
        prompt's head stays the same — and in llama.cpp's cache — in between."""
        if self.pool is None or not self.n_examples:
            return []
        if self._shown and self._since_draw < self.refresh - 1:
            self._since_draw += 1
            return self._shown
        self._since_draw = 0
        self._shown = self.pool.select(
            state_vector(snap, self.epoch_s), self.n_examples, self.rng, self.example_mode
        )
        return self._shown

    @staticmethod
    def _label_of(c: Candidate | None, snap: Snapshot, label_seed: int = 0) -> str | None:
        return None if c is None else move_label(snap, c, label_seed)

    def _finish(
        self, res: ShortlistResult, snap: Snapshot, candidates: list[Candidate]
    ) -> ShortlistResult:
        """ε-greedy exploration (if on), the call log, and ``last``."""
        if self.explore is not None:
            res.shortlist, picked = self.explore.apply(res.shortlist, candidates, self.rng, self.k)
            res.explored = picked or ""
        self._log(res, snap)  # every call, the heuristic's too: the log shows every epoch
        self.last = res
        return res

    def learn(self, e: Experience, routed: str = "") -> None:
        """Add a decision's realised outcome to the pool (no-op without a pool). ``routed``:
        which agent answered that epoch (the router keeps only the cloud's)."""
        if self.pool is not None:
            self.pool.add(e)

    def feedback(self, critic_best: str) -> None:
        """The critic's best action over all candidates this epoch (the router learns each
        agent's quality from it; a single agent has nothing to learn)."""

    def _complete(self, prompt: Prompt) -> str:
        """The backend's answer, or BackendError once ``deadline_s`` has passed.

        A late call is left to finish on its worker thread (an HTTP request or a llama.cpp
        decode cannot be interrupted); the next call waits behind it and so also meets the
        deadline, which keeps a stuck server from stacking threads.
        """
        assert self.backend is not None
        if self.deadline_s is None:
            return self.backend.complete(prompt)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm")
        fut = self._pool.submit(self.backend.complete, prompt)
        try:
            return fut.result(timeout=self.deadline_s)
        except FutureTimeout:
            raise BackendError(f"deadline: no answer within {self.deadline_s:g} s") from None

    def _log(self, res: ShortlistResult, snap: Snapshot) -> None:
        if self.log_path is None:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        row = {"t": snap.time, "epoch": snap.epoch, **asdict(res)}
        with self.log_path.open("a") as fh:
            fh.write(json.dumps(row) + "\n")


class ReplayBackend:
    """Answers from a JSONL call log, keyed by prompt hash: slow-LLM experiments in seconds.

    A prompt that the log does not hold raises :class:`BackendError` (the agent falls back and
    counts it), so a replay never silently invents answers.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.answers: dict[str, str] = {}
        self.backend_name = "replay"
        try:
            lines = self.path.read_text().splitlines()
        except OSError as exc:
            raise InputError(f"{self.path}: cannot read replay log: {exc.strerror}") from None
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                sha, answer = row["prompt_sha256"], row["answer"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise InputError(f"{self.path}:{n}: not a call-log line") from None
            if row.get("source") == "llm" and sha and sha not in self.answers:
                self.answers[sha] = answer
                self.backend_name = f"replay({row.get('backend', '?')})"

    @property
    def name(self) -> str:
        return self.backend_name

    def complete(self, prompt: Prompt) -> str:
        try:
            return self.answers[prompt.sha256]
        except KeyError:
            raise BackendError(f"prompt {prompt.sha256[:12]} not in {self.path.name}") from None


def position_histogram(log_path: str | Path) -> Counter:
    """How often each prompt position was chosen by an LLM (position-bias measurement)."""
    hist: Counter = Counter()
    for line in Path(log_path).read_text().splitlines():
        row = json.loads(line)
        if row.get("source") == "llm":
            hist.update(row.get("positions", []))
    return hist
