"""CAORA (IEEE OJ-COMS 2025) as the paper applies it: a Soft Actor-Critic policy that splits each
node's capacity between RAN and AI, placement static, the same RAN floors as every method.
No public code exists; built from the paper's description (docs/caora.md)."""

from airan_twin.methods.caora.method import (
    WEIGHTS_PATH,
    Caora,
    CaoraError,
    FixedSplit,
    RandomSplit,
    load_actor,
)

__all__ = ["WEIGHTS_PATH", "Caora", "CaoraError", "FixedSplit", "RandomSplit", "load_actor"]
