"""The OpenAI-compatible backend against a real server on loopback — llama.cpp's own HTTP
server (xllamacpp) with the small embedded model — and its failures."""

from __future__ import annotations

import json
import socket

import httpx
import pytest
import respx

from proto.errors import InputError
from rapp_placement.agent import PlacementAgent
from rapp_placement.backends import OpenAIBackend, make_agent
from rapp_placement.models import SMALL_MODEL, ModelError, model_path
from rapp_placement.prompt import Prompt

try:
    MODEL = model_path(SMALL_MODEL)
except ModelError:  # pragma: no cover - `make install` brings it
    MODEL = None

PROMPT = Prompt(
    system='Pick up to 3 moves. Answer JSON: {"shortlist": [moves]}.',
    user="a: llm @3 backlog 20 s; node 1 idle.",
    labels=("a1", "a2", "stay"),
    candidate_ids=("mig:a:n1", "mig:a:n2", "noop"),
    k=3,
)


@pytest.fixture(scope="module")
def llama_server():
    import xllamacpp as xl

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    p = xl.CommonParams()
    p.model.path = str(MODEL)
    p.n_ctx = 2048
    p.port = port
    p.hostnames = ["127.0.0.1"]
    p.warmup = False
    p.verbosity = -1
    p.cpuparams.n_threads = 2
    server = xl.Server(p)  # serves HTTP on loopback while referenced
    yield f"http://127.0.0.1:{port}", server


@pytest.mark.skipif(MODEL is None, reason="small model package not installed")
def test_a_real_llama_cpp_server_answers_within_the_schema(llama_server):
    url, _ = llama_server
    agent = PlacementAgent(OpenAIBackend(url + "/v1", "smollm2"))
    answer = agent.backend.complete(PROMPT)
    labels = json.loads(answer)["shortlist"]
    assert labels and set(labels) <= set(PROMPT.labels)  # the server enforced the enum
    assert agent.backend.name == "openai:smollm2"
    # The whole agent path over HTTP, on a real epoch of the twin: a valid shortlist.
    from airan_twin.run import make_twin
    from airan_twin.scenario import load_scenario

    twin = make_twin(load_scenario(), "haf-static", 0.9, 1, 20.0)
    twin.run(until=10.0)
    snap = twin.snapshot()
    cands = twin.candidates(snap)
    res = agent.shortlist(snap, cands, seed=0)
    assert res.source == "llm" and res.shortlist
    assert set(res.shortlist) <= {c.cid for c in cands}


@respx.mock
def test_request_carries_the_schema_and_errors_fall_back():
    url = "http://cloud:8000"
    route = respx.post(f"{url}/v1/chat/completions").mock(
        return_value=httpx.Response(
            200, json={"choices": [{"message": {"content": '{"shortlist": ["a2"]}'}}]}
        )
    )
    b = OpenAIBackend(url, "qwen3-32b", timeout_s=2)
    assert b.complete(PROMPT) == '{"shortlist": ["a2"]}'
    body = json.loads(route.calls.last.request.content)
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and body["temperature"] == 0
    assert fmt["json_schema"]["schema"]["properties"]["shortlist"]["items"]["enum"] == list(
        PROMPT.labels
    )
    from rapp_placement.agent import BackendError

    for mock, reason in [
        (httpx.Response(503, text="overloaded"), "answered 503"),
        (httpx.Response(200, json={"no": "choices"}), "not a chat completion"),
        (httpx.ConnectError("refused"), "unreachable"),
        (httpx.ReadTimeout("slow"), "timed out after 2 s"),
    ]:
        if isinstance(mock, Exception):
            route.mock(side_effect=mock)
        else:
            route.mock(return_value=mock, side_effect=None)
        with pytest.raises(BackendError, match=reason):
            b.complete(PROMPT)


def test_agent_spec_is_validated():
    assert make_agent("openai:m@http://h:1").backend.name == "openai:m"
    for bad in ("openai:m", "openai:@http://h:1", "openai:m@ftp://h"):
        with pytest.raises(InputError, match="openai:MODEL@"):
            make_agent(bad)
