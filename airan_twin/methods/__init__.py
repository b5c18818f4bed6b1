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
from rapp_placement.agent import PlacementAgent


def _agent(spec: str, epoch: float, log: str | Path | None) -> PlacementAgent:
    """``heuristic`` | ``embedded`` | ``ollama[:MODEL[@HOST]]`` | ``replay:PATH``."""
    from rapp_placement.agent import ReplayBackend
    from rapp_placement.backends import DEFAULT_OLLAMA_MODEL, EmbeddedBackend, OllamaBackend

    if spec == "heuristic":
        return PlacementAgent(None, epoch_s=epoch, log_path=log)
    if spec == "embedded":
        return PlacementAgent(EmbeddedBackend(), epoch_s=epoch, log_path=log)
    if spec.startswith("ollama"):
        rest = spec.partition(":")[2]
        model, _, host = rest.partition("@")
        return PlacementAgent(
            OllamaBackend(host or "http://127.0.0.1:11434", model or DEFAULT_OLLAMA_MODEL),
            epoch_s=epoch,
            log_path=log,
        )
    if spec.startswith("replay:"):
        return PlacementAgent(ReplayBackend(spec.partition(":")[2]), epoch_s=epoch, log_path=log)
    raise ValueError(
        f"unknown agent {spec!r}: heuristic, embedded, ollama[:MODEL[@HOST]] or replay:PATH"
    )


def _haf(
    epoch: float,
    agent: str = "heuristic",
    critic: str | Path | None = None,
    log: str | Path | None = None,
    use_critic: bool = True,
) -> Method:
    from rapp_placement.critic import WEIGHTS_PATH, Critic

    c = Critic.load(critic or WEIGHTS_PATH) if use_critic else None
    return Haf(_agent(agent, epoch, log), c, epoch)


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
