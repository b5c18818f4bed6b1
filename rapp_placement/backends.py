"""LLM backends of the placement agent: Ollama (production) and an embedded llama.cpp model.

Both send the prompt's system and user parts as chat messages with the answer constrained to the
prompt's JSON Schema (an ``enum`` of the candidate ids) at temperature 0, and turn every failure
into :class:`~rapp_placement.agent.BackendError` so the agent can fall back.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from proto.errors import InputError
from rapp_placement import models
from rapp_placement.agent import BackendError, PlacementAgent, ReplayBackend
from rapp_placement.experience import SEED_POOL, EpsilonGreedy, ExperiencePool
from rapp_placement.llm_lock import machine_llm_lock
from rapp_placement.prompt import Prompt

log = logging.getLogger(__name__)

DEFAULT_OLLAMA_MODEL = "qwen3:32b"  # the paper's best agent


def first_item_confidence(tokens: object) -> float | None:
    """The model's probability of the first shortlist item it wrote: the product of its
    tokens' probabilities (from the chat completion's ``logprobs.content``). ``None`` when the
    answer carries no usable logprobs. This is the edge agent's confidence the router reads."""
    if not isinstance(tokens, list) or not tokens:
        return None
    text, spans = "", []
    for t in tokens:
        if not isinstance(t, dict) or not isinstance(t.get("token"), str):
            return None
        lp = t.get("logprob")
        if not isinstance(lp, int | float) or lp != lp:
            return None
        spans.append((len(text), len(text) + len(t["token"]), float(lp)))
        text += t["token"]
    i = text.find("[")
    start = text.find('"', i + 1) if i >= 0 else -1
    end = text.find('"', start + 1) if start >= 0 else -1
    if end < 0:
        return None
    lp = sum(lp for a, b, lp in spans if a < end and b > start + 1)
    return float(min(1.0, max(0.0, 2.718281828459045**lp)))


class OllamaBackend:
    """The official ``ollama`` client against a configurable host (the paper's path)."""

    def __init__(
        self,
        host: str = "http://127.0.0.1:11434",
        model: str = DEFAULT_OLLAMA_MODEL,
        timeout_s: float = 60.0,
        think: bool | None = False,
    ) -> None:
        import ollama

        self.model = model
        self.host = host
        self.timeout_s = timeout_s
        self.think = think
        self._ollama = ollama
        self.client = ollama.Client(host=host, timeout=timeout_s)

    @property
    def name(self) -> str:
        return f"ollama:{self.model}"

    def complete(self, prompt: Prompt) -> str:
        import httpx

        try:
            resp = self.client.chat(
                model=self.model,
                messages=[
                    {"role": "system", "content": prompt.system},
                    {"role": "user", "content": prompt.user},
                ],
                format=prompt.schema(),
                options={"temperature": 0, "seed": 0},
                think=self.think,
            )
        except self._ollama.ResponseError as exc:
            raise BackendError(f"{self.host} answered {exc.status_code}: {exc.error}") from None
        except ConnectionError as exc:
            raise BackendError(f"{self.host} unreachable: {exc}") from None
        except httpx.TimeoutException:
            raise BackendError(f"{self.host} timed out after {self.timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            raise BackendError(f"{self.host}: {type(exc).__name__}: {exc}") from None
        return resp.message.content or ""

    def chat_json(self, system: str, user: str, schema: dict, max_tokens: int = 200) -> str:
        """One answer constrained to ``schema`` (the intent reader's call)."""
        import httpx

        try:
            resp = self.client.chat(
                model=self.model,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                format=schema,
                options={"temperature": 0, "seed": 0, "num_predict": max_tokens},
                think=self.think,
            )
        except (self._ollama.ResponseError, ConnectionError, httpx.HTTPError) as exc:
            raise BackendError(f"{self.host}: {exc}") from None
        return resp.message.content or ""


class OpenAIBackend:
    """Any OpenAI-compatible chat-completions server (llama.cpp's, vLLM's, a hosted API):
    ``POST {url}/v1/chat/completions`` with the answer constrained by a ``json_schema``
    response format, temperature 0. ``url`` is the server's base (``http://host:8080``);
    ``$OPENAI_API_KEY`` is sent as a bearer token when set."""

    def __init__(
        self, url: str, model: str, timeout_s: float = 60.0, logprobs: bool = False
    ) -> None:
        self.logprobs = logprobs  # for the confidence a router reads (an edge agent's)
        self.url = url.rstrip("/")
        if self.url.endswith("/v1"):
            self.url = self.url[:-3]
        self.model = model
        self.timeout_s = timeout_s
        key = os.environ.get("OPENAI_API_KEY")
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}
        # Of the latest call, for the router's link estimate (rapp_placement/link.py):
        self.last_bytes = 0  # request + answer body
        self.last_server_s: float | None = None  # the server's own compute time, if reported
        self.last_confidence: float | None = None

    @property
    def headers(self) -> dict:
        return dict(self._headers)

    @property
    def name(self) -> str:
        return f"openai:{self.model}"

    def complete(self, prompt: Prompt) -> str:
        body = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": prompt.system},
                {"role": "user", "content": prompt.user},
            ],
            "temperature": 0,
            "max_tokens": 64,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "shortlist", "schema": prompt.schema(), "strict": True},
            },
        }
        if self.logprobs:
            body["logprobs"] = True
        return self._post(body)

    def chat_json(self, system: str, user: str, schema: dict, max_tokens: int = 200) -> str:
        """One answer constrained to ``schema`` (the intent reader's call)."""
        body = {
            "model": self.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "temperature": 0,
            "max_tokens": max_tokens,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": schema, "strict": True},
            },
        }
        return self._post(body)

    def _post(self, body: dict) -> str:
        import httpx

        try:
            resp = httpx.post(
                f"{self.url}/v1/chat/completions",
                json=body,
                headers=self._headers,
                timeout=self.timeout_s,
            )
        except httpx.TimeoutException:
            raise BackendError(f"{self.url} timed out after {self.timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            raise BackendError(f"{self.url} unreachable: {type(exc).__name__}: {exc}") from None
        if resp.status_code != 200:
            raise BackendError(f"{self.url} answered {resp.status_code}: {resp.text[:200]}")
        self.last_bytes = len(resp.request.content) + len(resp.content)
        try:
            doc = resp.json()
            choice = doc["choices"][0]
            content = choice["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            raise BackendError(f"{self.url}: not a chat completion: {resp.text[:200]}") from None
        self.last_server_s = _server_seconds(doc.get("timings"))
        lp = choice.get("logprobs")
        self.last_confidence = first_item_confidence(
            lp.get("content") if isinstance(lp, dict) else None
        )
        return content


def _server_seconds(timings: object) -> float | None:
    """llama.cpp's ``timings`` (prompt_ms + predicted_ms) in seconds; None if absent/invalid."""
    if not isinstance(timings, dict):
        return None
    try:
        ms = float(timings["prompt_ms"]) + float(timings["predicted_ms"])
    except (KeyError, TypeError, ValueError):
        return None
    return ms / 1000 if 0 <= ms < 3.6e6 else None


def embedded_model(name: str | None = None) -> str:
    """The model ``embedded`` means: ``name``, else the default if installed, else the small one."""
    if name:
        models.spec_of(name)  # unknown name: a clear error now
        return name
    try:
        models.model_path(models.DEFAULT_MODEL)
        return models.DEFAULT_MODEL
    except models.ModelError:
        log.warning(
            "embedded model %s is not installed (haf agent fetch %s); using %s",
            models.DEFAULT_MODEL,
            models.DEFAULT_MODEL,
            models.SMALL_MODEL,
        )
        return models.SMALL_MODEL


class EmbeddedBackend:
    """llama.cpp in-process through ``xllamacpp`` with a small GGUF model; works offline.

    The model is one of :data:`rapp_placement.models.MODELS` (default: the one chosen by
    measurement, docs/agent.md) or a GGUF path. It loads on first use. The prompt cache is on
    (``cache_prompt``, idle-slot caching, RAM cache), so the constant head of the prompt —
    policy, examples, layout — is read once and re-used from the KV cache in later epochs.
    """

    def __init__(
        self,
        model: str | None = None,
        model_path: str | Path | None = None,
        n_ctx: int = 4096,
        threads: int | None = None,
        max_tokens: int = 32,
    ) -> None:
        self.model = None if model_path else embedded_model(model)
        self.model_path = Path(model_path) if model_path else None
        self.n_ctx = n_ctx
        self.threads = threads or max(1, min(os.cpu_count() or 1, 8))
        self.max_tokens = max_tokens
        self._server = None
        self._lock = threading.Lock()
        self.last_timings: dict = {}  # llama.cpp's of the latest call: prompt_n, cache_n, …
        self.last_confidence: float | None = None  # of the first item (the router reads it)

    @property
    def name(self) -> str:
        return f"embedded:{self.model or Path(str(self.model_path)).stem}"

    def _load(self):
        if self._server is not None:
            return self._server
        try:
            import xllamacpp as xl
        except ImportError as exc:  # pragma: no cover - a dependency of the package
            raise BackendError(f"xllamacpp not importable: {exc}") from None
        try:
            path = self.model_path or models.model_path(self.model or models.DEFAULT_MODEL)
        except models.ModelError as exc:
            raise BackendError(str(exc)) from None
        params = xl.CommonParams()
        params.model.path = str(path)
        params.n_ctx = self.n_ctx
        params.n_predict = self.max_tokens
        params.cpuparams.n_threads = self.threads
        params.cpuparams_batch.n_threads = self.threads
        params.warmup = False
        params.verbosity = -1
        params.sampling.temp = 0.0
        params.sampling.seed = 0
        params.cache_prompt = True  # re-use the KV of the prompt's unchanged head
        params.cache_idle_slots = True
        params.cache_ram_mib = 2048
        try:
            self._server = xl.Server(params)
        except Exception as exc:  # llama.cpp reports load failures as plain exceptions
            raise BackendError(f"cannot load {path}: {exc}") from None
        self.model_path = Path(path)
        return self._server

    def warm(self) -> None:
        """Load the model now (a service does it at start, not in its first epoch)."""
        with self._lock:
            self._load()

    def chat_json(self, system: str, user: str, schema: dict, max_tokens: int = 200) -> str:
        """One answer constrained to ``schema`` (the intent reader's call)."""
        request = {
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "temperature": 0,
            "max_tokens": max_tokens,
            "response_format": {"type": "json_schema", "json_schema": {"schema": schema}},
        }
        with self._lock:
            server = self._load()
            try:
                with machine_llm_lock():
                    out = server.handle_chat_completions(request)
                return out["choices"][0]["message"]["content"] or ""
            except Exception as exc:
                raise BackendError(f"llama.cpp: {exc}") from None

    def complete(self, prompt: Prompt) -> str:
        with self._lock:
            server = self._load()
            request = {
                "messages": [
                    {"role": "system", "content": prompt.system},
                    {"role": "user", "content": prompt.user},
                ],
                "temperature": 0,
                "max_tokens": self.max_tokens,
                "cache_prompt": True,
                "logprobs": True,
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"schema": prompt.schema()},
                },
            }
            try:
                with machine_llm_lock():  # one call at a time per machine (llm_lock.py)
                    out = server.handle_chat_completions(request)
            except Exception as exc:
                raise BackendError(f"llama.cpp: {exc}") from None
        if not isinstance(out, dict) or "choices" not in out:
            raise BackendError(f"llama.cpp returned no choices: {str(out)[:200]}")
        self.last_timings = out.get("timings") or {}
        try:
            choice = out["choices"][0]
            content = choice["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise BackendError(f"llama.cpp answer has no message: {str(out)[:200]}") from None
        lp = choice.get("logprobs")
        self.last_confidence = first_item_confidence(
            lp.get("content") if isinstance(lp, dict) else None
        )
        return content


EXAMPLE_MODES = ("prioritised", "random", "none")
#: Chosen on the dev set (docs/results.md): with the default model, examples did not help.
DEFAULT_EXAMPLES = "none"


def make_agent(
    spec: str,
    epoch_s: float = 5.0,
    log: str | Path | None = None,
    deadline_s: float | None = None,
    examples: str = DEFAULT_EXAMPLES,
    pool: str | Path | None = None,
    epsilon: float = 0.0,
    seed: int = 0,
    route: dict | None = None,
) -> PlacementAgent:
    """``heuristic`` | ``embedded[:MODEL]`` | ``ollama[:MODEL[@HOST]]`` | ``openai:MODEL@URL``
    | ``replay:PATH`` | ``route:EDGE,CLOUD`` (:mod:`rapp_placement.router`; ``route`` holds
    its :class:`~rapp_placement.router.RouteConfig` fields and ``lessons``, the store's path).

    LLM agents show past decisions chosen from the experience pool ``pool`` (default: the
    shipped seed pool); ``examples``: ``prioritised``, ``random`` or ``none`` (the default).
    ``epsilon`` > 0 turns on ε-greedy exploration (decaying from it). The heuristic takes
    neither: it is the deterministic baseline."""
    if examples not in EXAMPLE_MODES:
        raise InputError(f"unknown examples mode {examples!r}: {', '.join(EXAMPLE_MODES)}")
    if not 0.0 <= epsilon <= 1.0:
        raise InputError(f"epsilon must be in [0, 1], got {epsilon}")
    kw: dict = {"epoch_s": epoch_s, "log_path": log, "deadline_s": deadline_s, "seed": seed}
    if spec == "heuristic":
        return PlacementAgent(None, **kw)
    if spec.startswith("route:"):
        return _routed(spec, epoch_s, kw, route or {})
    if examples != "none":
        kw["pool"] = ExperiencePool.load(Path(pool) if pool else SEED_POOL)
        kw["example_mode"] = examples
    if epsilon > 0:
        kw["explore"] = EpsilonGreedy(eps0=epsilon)
    return PlacementAgent(_backend(spec), **kw)


def _backend(spec: str):
    """The LLM backend a spec names (not ``heuristic`` or ``route:``)."""
    if spec == "embedded" or spec.startswith("embedded:"):
        return EmbeddedBackend(spec.partition(":")[2] or None)
    if spec.startswith("ollama"):
        rest = spec.partition(":")[2]
        model, _, host = rest.partition("@")
        return OllamaBackend(host or "http://127.0.0.1:11434", model or DEFAULT_OLLAMA_MODEL)
    if spec.startswith("openai:"):
        model, _, url = spec.partition(":")[2].partition("@")
        if not model or not url.startswith(("http://", "https://")):
            raise InputError(f"agent {spec!r}: openai:MODEL@http(s)://HOST:PORT")
        return OpenAIBackend(url, model)
    if spec.startswith("replay:"):
        return ReplayBackend(spec.partition(":")[2])
    raise InputError(
        f"unknown agent {spec!r}: heuristic, embedded[:MODEL], ollama[:MODEL[@HOST]], "
        "openai:MODEL@URL, replay:PATH or route:EDGE,CLOUD"
    )


def _routed(spec: str, epoch_s: float, kw: dict, route: dict) -> PlacementAgent:
    from rapp_placement.router import RouteConfig, RoutedAgent

    edge_spec, comma, cloud_spec = spec.partition(":")[2].partition(",")
    if not comma or not edge_spec or not cloud_spec:
        raise InputError(f"agent {spec!r}: route:EDGE,CLOUD (e.g. route:embedded,openai:M@URL)")
    if "route:" in cloud_spec or edge_spec == "heuristic" or cloud_spec == "heuristic":
        raise InputError(f"agent {spec!r}: the edge and the cloud must both be LLM backends")
    opts = dict(route)
    lessons = opts.pop("lessons", None)
    try:
        cfg = RouteConfig(**{"budget_s": 0.8 * epoch_s, **opts})
    except TypeError as exc:
        raise InputError(f"route options: {exc}") from None
    edge, cloud = _backend(edge_spec), _backend(cloud_spec)
    for b in (edge, cloud):
        if isinstance(b, OpenAIBackend | OllamaBackend):
            b.timeout_s = cfg.budget_s  # a call never outlives the epoch's budget by much
    store = ExperiencePool.load(Path(lessons)) if lessons and Path(lessons).exists() else None
    probe = getattr(cloud, "url", None) or getattr(cloud, "host", None)
    kw = {**kw, "deadline_s": cfg.budget_s}
    return RoutedAgent(edge, cloud, cfg, store, lessons, probe, **kw)
