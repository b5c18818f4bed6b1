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
from proto.errors import InputError
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


def _caora(epoch: float, weights: str | Path | None = None, **_) -> Method:
    from airan_twin.methods.caora import WEIGHTS_PATH, Caora, load_actor

    actor, _meta = load_actor(weights or WEIGHTS_PATH)
    return Caora(actor=actor)


def _split(kind: str) -> Method:
    from airan_twin.methods.caora import FixedSplit, RandomSplit

    return FixedSplit(0.5) if kind == "half" else RandomSplit()


REGISTRY: dict[str, Callable[..., Method]] = {
    "haf-static": lambda epoch, **kw: HafStatic(),
    "round-robin": lambda epoch, **kw: RoundRobin(),
    "lyapunov": lambda epoch, **kw: Lyapunov(epoch_s=epoch),
    "game-theory": lambda epoch, **kw: GameTheory(epoch_s=epoch),
    "haf": lambda epoch, **kw: _haf(epoch, **kw),
    "haf-nocritic": lambda epoch, **kw: _haf(epoch, use_critic=False, **kw),
    "caora": lambda epoch, **kw: _caora(epoch, **kw),
    "caora-half": lambda epoch, **kw: _split("half"),
    "caora-random": lambda epoch, **kw: _split("random"),
}
NEEDS_AGENT = frozenset({"haf", "haf-nocritic"})
#: Methods whose keyword options are passed on (``weights=`` for CAORA's actor).
TAKES_OPTIONS = NEEDS_AGENT | {"caora"}


def make_method(name: str, epoch_s: float, **kw) -> Method:
    """A method by name; ``haf*`` take ``agent=``, ``critic=`` (weights path) and ``log=``."""
    if name.startswith("caora-fixed:"):  # a fixed split, e.g. caora-fixed:0.9
        from airan_twin.methods.caora import FixedSplit

        try:
            value = float(name.partition(":")[2])
        except ValueError:
            value = -1.0
        if not 0.0 <= value <= 1.0:
            raise InputError(f"{name!r}: the split must be a number in [0, 1]")
        method = FixedSplit(value)
        method.name = name  # type: ignore[misc]
        return method
    if name not in REGISTRY:
        raise InputError(f"unknown method {name!r}; choose from {', '.join(REGISTRY)}")
    if name == "caora":
        kw = {k: v for k, v in kw.items() if k == "weights"}
    return REGISTRY[name](epoch_s, **(kw if name in TAKES_OPTIONS else {}))


__all__ = ["NEEDS_AGENT", "REGISTRY", "Method", "make_method"]
