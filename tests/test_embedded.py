"""The embedded backend with the real small model (slow: ~10-30 s on 2 cores; runs in CI)."""

from __future__ import annotations

import pytest

from proto.observation import InstanceView, NodeView, Snapshot
from rapp_placement.agent import PlacementAgent, parse_shortlist
from rapp_placement.backends import EmbeddedBackend
from rapp_placement.candidates import Candidate
from rapp_placement.models import SMALL_MODEL, ModelError, model_path
from rapp_placement.prompt import Prompt

try:
    MODEL = model_path(SMALL_MODEL)
except ModelError:  # pragma: no cover - `make` installs it
    MODEL = None


@pytest.mark.slow
@pytest.mark.skipif(MODEL is None, reason="embedded model package not installed")
def test_real_small_model_answers_within_the_schema():
    ids = ("stay", "a1", "b2")
    prompt = Prompt(
        system='Pick up to 3 moves. Answer JSON: {"shortlist": [moves]}.',
        user="a: llm @3 backlog 20 s; node 1 idle. b: small-ai @1; node 2 idle.",
        labels=ids,
        candidate_ids=("noop", "mig:large-ai-1:n1", "mig:small-ai-1:n2"),
        k=3,
    )
    backend = EmbeddedBackend(SMALL_MODEL, max_tokens=48)
    answer = backend.complete(prompt)
    got = parse_shortlist(answer, ids)
    assert got, f"no valid id in {answer!r}"
    assert set(got) <= set(ids)


def test_missing_model_file_is_a_backend_error_and_the_agent_falls_back(tmp_path):
    backend = EmbeddedBackend(model_path=tmp_path / "none.gguf")
    nodes = (NodeView("a", "gpu-heavy", 1.0, 1.0, 1.0, 0.0, 0, 0, 0, 0, 0),)
    insts = (InstanceView("x", "small-ai", "a", 0, 0, False, 0.5, 0, 0, 0, 0, 0, 0),)
    snap = Snapshot(0.0, 1, nodes, insts)
    res = PlacementAgent(backend).shortlist(snap, [Candidate("noop")], seed=0)
    assert res.source == "fallback" and "cannot load" in res.error
