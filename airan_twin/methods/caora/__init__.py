"""CAORA (IEEE OJ-COMS 2025) as the paper applies it: a Soft Actor-Critic policy that splits each
node's capacity between RAN and AI, placement static, the same RAN floors as every method.
No public code exists; built from the paper's description (docs/caora.md).

Importing this package registers the CAORA methods; the implementation (and torch) loads only
when one is made or a name below is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airan_twin.methods.base import Method, register

__all__ = ["WEIGHTS_PATH", "Caora", "CaoraError", "FixedSplit", "RandomSplit", "load_actor"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from airan_twin.methods.caora import method

        return getattr(method, name)
    raise AttributeError(name)


def _caora(epoch_s: float, weights: str | Path | None = None) -> Method:
    from airan_twin.methods.caora.method import WEIGHTS_PATH, Caora, load_actor

    actor, _meta = load_actor(weights or WEIGHTS_PATH)
    return Caora(actor=actor)


def _fixed(epoch_s: float) -> Method:
    from airan_twin.methods.caora.method import FixedSplit

    return FixedSplit(0.5)


def _random(epoch_s: float) -> Method:
    from airan_twin.methods.caora.method import RandomSplit

    return RandomSplit()


register(
    "caora",
    _caora,
    "the shipped SAC policy's per-node RAN/AI split, placement static",
    options=("weights",),
    baseline=True,
    order=50,
)
register("caora-half", _fixed, "CAORA's split fixed at 0.5 (sanity check)", order=70)
register("caora-random", _random, "CAORA's split drawn at random (sanity check)", order=71)
