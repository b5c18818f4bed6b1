"""Methods: one file each, registered here by the name `haf sim --method` takes."""

from __future__ import annotations

from collections.abc import Callable

from airan_twin.methods.base import Method
from airan_twin.methods.game_theory import GameTheory
from airan_twin.methods.lyapunov import Lyapunov
from airan_twin.methods.round_robin import RoundRobin
from airan_twin.methods.static import HafStatic

REGISTRY: dict[str, Callable[[float], Method]] = {
    "haf-static": lambda epoch: HafStatic(),
    "round-robin": lambda epoch: RoundRobin(),
    "lyapunov": lambda epoch: Lyapunov(epoch_s=epoch),
    "game-theory": lambda epoch: GameTheory(epoch_s=epoch),
}


def make_method(name: str, epoch_s: float) -> Method:
    try:
        return REGISTRY[name](epoch_s)
    except KeyError:
        raise ValueError(f"unknown method {name!r}; choose from {', '.join(REGISTRY)}") from None


__all__ = ["REGISTRY", "Method", "make_method"]
