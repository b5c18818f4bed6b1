"""The interface every method implements, and the registry each method file adds itself to.

A method is a placement policy plus the allocation rule and dispatch it runs with. The twin
calls :meth:`Method.decide` every placement epoch ``Δ`` with the state snapshot (what the rApp
sees) and the feasible candidates of spec §3.1 (``rapp_placement.candidates``); it returns one
candidate (at most one migration per epoch) or ``None`` for the no-op.

Optional hooks are declared here with their defaults, so the twin never has to guess what a
method offers: :attr:`Method.node_rule` (allocate a node itself, e.g. CAORA's learned split),
:attr:`Method.on_finish` (watch requests end), :meth:`Method.attach` (see the twin once) and
:meth:`Method.summary` (what the run's result reports).

A method file registers itself with :func:`register` (name, factory, help, options, role); the
CLI's ``--method`` help, the baselines of Table III and their order all come from
:data:`REGISTRY` (cf. vidur: a new scheduler is one file and one registry line).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from proto.observation import Snapshot
from rapp_placement.candidates import Candidate

if TYPE_CHECKING:
    from airan_twin.entities import ReqClass

Dispatch = Literal["least-backlog", "round-robin"]
#: ``(node, resource, t, capacity, is_ran, urgency, work, floors, count) -> (shares, infeasible)``
NodeRule = Callable[
    [
        str,
        str,
        float,
        float,
        Sequence[bool],
        Sequence[float],
        Sequence[float],
        Sequence[float],
        Sequence[int],
    ],
    tuple[list[float], bool],
]
#: ``(node, request class, t, fulfilled) -> None``
FinishHook = Callable[[str, "ReqClass", float, bool], None]


class Method(ABC):
    name: ClassVar[str] = "method"
    allocation: ClassVar[str] = "haf"  # a key of methods.allocation.RULES
    dispatch: ClassVar[Dispatch] = "least-backlog"
    #: Optional: allocate each node itself instead of ``allocation`` (None: the rule is used).
    node_rule: NodeRule | None = None
    #: Optional: called when a request ends (None: not called, nothing to pay per request).
    on_finish: FinishHook | None = None

    @abstractmethod
    def decide(self, snap: Snapshot, candidates: list[Candidate]) -> Candidate | None:
        """The placement action of this epoch: one candidate, or None for the no-op."""

    def attach(self, twin: Any) -> None:  # noqa: B027  (an optional hook: no-op by default)
        """Called once by the twin that runs this method (e.g. to read the node kinds)."""

    def summary(self) -> dict:
        """Method-specific figures for the run's result (agent calls, decisions...)."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class KeepPlacement(Method):
    """Base of the methods that never migrate."""

    def decide(self, snap: Snapshot, candidates: list[Candidate]) -> Candidate | None:
        return None


@dataclass(frozen=True)
class MethodSpec:
    name: str
    factory: Callable[..., Method]  # (epoch_s, **options) -> Method
    help: str
    options: frozenset[str] = frozenset()  # keyword options it takes (agent, critic, weights...)
    baseline: bool = False  # a baseline row of Table III and the sweep
    order: int = 100  # position in tables and help (the paper's Table III order)


REGISTRY: dict[str, MethodSpec] = {}


def register(
    name: str,
    factory: Callable[..., Method],
    help: str,
    options: Sequence[str] = (),
    baseline: bool = False,
    order: int = 100,
) -> None:
    """Make ``name`` known to ``haf sim --method``, the experiments and the tables."""
    if name in REGISTRY:
        raise ValueError(f"method {name!r} registered twice")
    REGISTRY[name] = MethodSpec(name, factory, help, frozenset(options), baseline, order)


def ordered() -> list[MethodSpec]:
    """Every registered method in table order."""
    return sorted(REGISTRY.values(), key=lambda s: s.order)
