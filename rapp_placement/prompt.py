"""The agent's prompt (spec §3.2): compact, laid out for llama.cpp's prompt cache.

A small model on 2 cores spends its time reading the prompt, and llama.cpp re-uses the KV of
the longest prefix it has already read. So the prompt is ordered from the constant to the
changing: the system policy with its legend and answer format (never changes), the past
decisions chosen from experience (change slowly), the cluster's layout — node sizes and which
instance runs where (changes only when something moves) — and last the epoch's numbers. Nothing
epoch-specific (time, epoch number) comes before them. About 730 tokens on the paper testbed
with the chat template, of which ~690 were re-used from the cache in successive epochs
(docs/performance.md).

**Candidates are not listed.** Each instance has a label (``a``, ``b``, …) and each node an index
(``1``, ``2``, …); a move is ``<label><index>`` (``c4``: move instance c to node 4) and ``stay``
is the no-op. The answer is constrained by a JSON Schema whose ``enum`` holds exactly the
feasible moves, so the model cannot name an infeasible one, and the prompt stays the same
length however many candidates there are.

**Position bias.** Labels are assigned to instances in an order shuffled with ``label_seed``
(stable within a run, so the cache keeps working), so a model's preference for ``a`` or for
node ``1`` does not always fall on the same instance or node; the position of an answer is the
index of its (instance, node) pair in that order, which the call log keeps
(:func:`rapp_placement.agent.position_histogram`).
"""

from __future__ import annotations

import hashlib
import random
import string
from collections.abc import Sequence
from dataclasses import dataclass

from proto.observation import Snapshot
from rapp_placement.candidates import NOOP, Candidate

K_DEFAULT = 3
STAY = "stay"

SYSTEM_POLICY = """\
You are the placement agent of an AI-RAN edge cluster. Every 5 s you may move one service
instance to another node. Shortlist up to {k} moves, best first.
Priorities, in order:
1. Protect RAN deadlines: never add load to a node whose RAN floor is high (floor over 50%);
   a DU or CU-UP meets its deadlines more surely on a faster node.
2. Raise AI fulfilment: an AI service with a large backlog should run where GPU is free; moving
   a DU or another service off a busy GPU node frees that GPU for the AI services on it.
3. A move takes the instance offline (LLM 8 s, small AI 0.5 s, DU and CU-UP 0.05 s): move
   only when the backlog it saves is larger than that.
Layout lines: node index, GPU TFLOPS, CPU cores, GPU memory GB; instance label, kind, @node.
Now lines: node gpu% floor% cpu% free-memory-GB; instance backlog seconds, queued requests.
Answer JSON only: {{"shortlist": [moves]}}. A move is an instance label and a node index
("x0" would move instance x to node 0); "stay" keeps everything where it is."""

_KIND = {"large-ai": "llm", "small-ai": "small-ai", "du": "du", "cu-up": "cu-up"}
_LETTERS = string.ascii_lowercase + string.ascii_uppercase


@dataclass(frozen=True)
class Prompt:
    system: str
    user: str
    labels: tuple[str, ...]  # the answer tokens, in position order; "stay" last
    candidate_ids: tuple[str, ...]  # the candidate each label names, same order
    k: int

    @property
    def sha256(self) -> str:
        """Of everything the model is given: the text and the answer's enum (the candidates
        are not in the text, so two epochs can read alike and allow different moves)."""
        text = self.system + "\n\n" + self.user + "\n\n" + " ".join(self.labels)
        return hashlib.sha256(text.encode()).hexdigest()

    def cid_of(self, label: str) -> str | None:
        try:
            return self.candidate_ids[self.labels.index(label)]
        except ValueError:
            return None

    def schema(self) -> dict:
        """JSON Schema of the answer: 1..k items, each an ``enum`` of the feasible labels."""
        return {
            "type": "object",
            "properties": {
                "shortlist": {
                    "type": "array",
                    "items": {"type": "string", "enum": list(self.labels)},
                    "minItems": 1,
                    "maxItems": self.k,
                }
            },
            "required": ["shortlist"],
        }


def instance_labels(instance_ids: Sequence[str], label_seed: int) -> dict[str, str]:
    """``a`` … ``z``, ``A`` … ``Z``, then ``aa``, ``ab`` … (letters only, so ``<label><node>``
    is never ambiguous) for the instances, in an order shuffled by
    ``label_seed`` and the cluster's instance set (not by the epoch: the cache needs it stable)."""
    ids = sorted(instance_ids)
    digest = hashlib.sha256(("|".join(ids) + f"#{label_seed}").encode()).digest()
    random.Random(digest).shuffle(ids)
    out = {}
    for k, iid in enumerate(ids):
        if k < len(_LETTERS):
            out[iid] = _LETTERS[k]
        else:
            q, r = divmod(k - len(_LETTERS), len(string.ascii_lowercase))
            out[iid] = string.ascii_lowercase[q % 26] * (1 + q // 26) + string.ascii_lowercase[r]
    return out


def _backlog_s(snap: Snapshot, inst) -> float:
    node = snap.node(inst.node_id)
    if inst.category == "cu-up":
        return inst.backlog_cpu / node.cpu_capacity
    return inst.backlog_gpu / node.gpu_capacity


def move_label(snap: Snapshot, cand: Candidate, label_seed: int = 0) -> str:
    """The label :func:`build_prompt` gives ``cand`` (``stay`` for the no-op)."""
    if cand.is_noop:
        return STAY
    labels = instance_labels([i.instance_id for i in snap.instances], label_seed)
    node = next(j for j, n in enumerate(snap.nodes, start=1) if n.node_id == cand.dst)
    return f"{labels[cand.instance_id]}{node}"  # type: ignore[index]


def build_prompt(
    snap: Snapshot,
    candidates: list[Candidate],
    label_seed: int = 0,
    k: int = K_DEFAULT,
    examples: Sequence[str] = (),
) -> Prompt:
    labels = instance_labels([i.instance_id for i in snap.instances], label_seed)
    node_ix = {n.node_id: str(j + 1) for j, n in enumerate(snap.nodes)}
    order = sorted(
        snap.instances, key=lambda i: (len(labels[i.instance_id]), labels[i.instance_id])
    )
    lines = []
    if examples:
        lines.append("Past decisions and what they changed (fulfilment points over 15 s):")
        lines += [f"- {e}" for e in examples]
    lines.append("Layout:")
    for n in snap.nodes:
        lines.append(
            f"node {node_ix[n.node_id]}: {n.gpu_capacity / 1e12:.0f} TFLOPS, "
            f"{n.cpu_capacity:.0f} cores, {n.mem_capacity / 1e9:.0f} GB"
        )
    for i in order:
        lines.append(f"{labels[i.instance_id]}: {_KIND[i.category]} @{node_ix[i.node_id]}")
    lines.append("Now:")
    for n in snap.nodes:
        lines.append(
            f"node {node_ix[n.node_id]}: gpu {100 * n.gpu_util:.0f}% floor "
            f"{100 * max(n.ran_floor_gpu_util, n.ran_floor_cpu_util):.0f}% cpu "
            f"{100 * n.cpu_util:.0f}% free {max(n.mem_headroom, 0) / 1e9:.0f} GB"
        )
    idle = []
    for i in order:  # only the instances with work waiting; the rest in one line
        b = _backlog_s(snap, i)
        if b < 0.05 and not i.queued_requests and not i.migrating:
            idle.append(labels[i.instance_id])
            continue
        state = " moving" if i.migrating else ""
        lines.append(
            f"{labels[i.instance_id]}: backlog {b:.1f} s, queued {i.queued_requests}{state}"
        )
    if idle:
        lines.append(f"no backlog: {' '.join(idle)}")
    # positions: instances in label order, nodes in index order, "stay" last
    rank = {i.instance_id: j for j, i in enumerate(order)}
    moves = sorted(
        (c for c in candidates if not c.is_noop),
        key=lambda c: (rank[c.instance_id], int(node_ix[c.dst])),  # type: ignore[index]
    )
    tokens = [f"{labels[c.instance_id]}{node_ix[c.dst]}" for c in moves]  # type: ignore[index]
    cids = [c.cid for c in moves]
    if any(c.is_noop for c in candidates):
        tokens.append(STAY)
        cids.append(NOOP)
    return Prompt(SYSTEM_POLICY.format(k=k), "\n".join(lines), tuple(tokens), tuple(cids), k)
