"""Methods: one file each, registered here by the name `haf sim --method` takes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from airan_twin.methods.base import Method
from airan_twin.methods.game_theory import GameTheory
from airan_twin.methods.haf import Haf
from airan_twin.methods.lyapunov import Lyapunov
from airan_twin.methods.round_robin import RoundRobin
from airan_twin.methods.static import HafStatic
from rapp_placement.backends import make_agent


def _haf(
    epoch: float,
    agent: str = "heuristic",
    critic: str | Path | None = None,
    log: str | Path | None = None,
    use_critic: bool = True,
) -> Method:
    from rapp_placement.critic import WEIGHTS_PATH, Critic

    c = Critic.load(critic or WEIGHTS_PATH) if use_critic else None
    return Haf(make_agent(agent, epoch, log), c, epoch)


REGISTRY: dict[str, Callable[..., Method]] = {
    "haf-static": lambda epoch, **kw: HafStatic(),
    "round-robin": lambda epoch, **kw: RoundRobin(),
    "lyapunov": lambda epoch, **kw: Lyapunov(epoch_s=epoch),
    "game-theory": lambda epoch, **kw: GameTheory(epoch_s=epoch),
    "haf": lambda epoch, **kw: _haf(epoch, **kw),
    "haf-nocritic": lambda epoch, **kw: _haf(epoch, use_critic=False, **kw),
}
NEEDS_AGENT = frozenset({"haf", "haf-nocritic"})


def make_method(name: str, epoch_s: float, **kw) -> Method:
    """A method by name; ``haf*`` take ``agent=``, ``critic=`` (weights path) and ``log=``."""
    if name not in REGISTRY:
        raise ValueError(f"unknown method {name!r}; choose from {', '.join(REGISTRY)}")
    return REGISTRY[name](epoch_s, **(kw if name in NEEDS_AGENT else {}))


__all__ = ["NEEDS_AGENT", "REGISTRY", "Method", "make_method"]
