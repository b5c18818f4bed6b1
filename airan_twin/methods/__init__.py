"""Methods: one file each, registered by that file (``base.register``) under the name
``haf sim --method`` takes. Importing this package imports every method file."""

from __future__ import annotations

from airan_twin.methods import (  # noqa: F401  (each registers itself)
    caora,
    game_theory,
    haf,
    lyapunov,
    oracle,
    round_robin,
    static,
)
from airan_twin.methods.base import REGISTRY, Method, MethodSpec, ordered, register
from proto.errors import InputError

#: The Table III baselines, in table order (HAF follows them).
BASELINES: tuple[str, ...] = tuple(s.name for s in ordered() if s.baseline)
#: Methods that run an LLM agent (they take ``agent=``).
NEEDS_AGENT = frozenset(s.name for s in REGISTRY.values() if "agent" in s.options)


def method_help() -> str:
    """The ``--method`` help: every registered name, in table order."""
    names = ", ".join(s.name for s in ordered())
    return f"{names}, or caora-fixed:X (CAORA's split fixed at X in [0, 1])."


def make_method(name: str, epoch_s: float, **kw) -> Method:
    """A method by name with the options it takes (others are ignored): ``haf*`` take
    ``agent=``, ``critic=`` (weights path) and ``log=``; ``caora`` takes ``weights=``."""
    if name.startswith("caora-fixed:"):  # a fixed split, e.g. caora-fixed:0.9
        from airan_twin.methods.caora import FixedSplit

        try:
            value = float(name.partition(":")[2])
        except ValueError:
            value = -1.0
        if not 0.0 <= value <= 1.0:
            raise InputError(f"{name!r}: the split must be a number in [0, 1]")
        return FixedSplit(value, label=name)
    spec = REGISTRY.get(name)
    if spec is None:
        raise InputError(f"unknown method {name!r}; choose from {', '.join(REGISTRY)}")
    return spec.factory(epoch_s, **{k: v for k, v in kw.items() if k in spec.options})


__all__ = [
    "BASELINES",
    "NEEDS_AGENT",
    "REGISTRY",
    "Method",
    "MethodSpec",
    "make_method",
    "method_help",
    "register",
]
