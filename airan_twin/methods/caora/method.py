"""CAORA in the twin: a per-node RAN/AI split chosen every ``interval_s``, placement static.

The twin calls :meth:`SplitMethod.node_rule` whenever it re-allocates a resource of a node.
On a node's GPU, the first call at or after the node's next decision time observes the state,
closes the previous transition (state, action, reward over the interval, new state), and picks
the split for the next interval; every call applies the split in force with :func:`split_rule`
(CPU has only CU-UPs, so RAN takes it all). :meth:`SplitMethod.on_finish` counts the requests
that end on each node (the reward).

``Caora`` acts with the SAC actor (greedy when evaluating, sampled when training);
``FixedSplit`` (``caora-half``: 0.5) and ``RandomSplit`` (``caora-random``: uniform, seeded) are
its sanity baselines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from airan_twin.entities import ReqClass
from airan_twin.methods.base import KeepPlacement
from airan_twin.methods.caora.sac import Actor, Sac
from airan_twin.methods.caora.split import STATE_DIM, interval_reward, node_state, split_rule
from proto.errors import HafError

WEIGHTS_PATH = Path(__file__).resolve().parent / "caora_actor.pt"
DEFAULT_INTERVAL_S = 1.0

#: A completed transition: node id, state, action, reward, next state.
Transition = tuple[str, np.ndarray, float, float, np.ndarray]


class CaoraError(HafError):
    """The policy weights cannot be used (missing, damaged, wrong shape)."""


class SplitMethod(KeepPlacement):
    name = "caora"
    allocation = "haf"  # unused: node_rule decides every allocation
    dispatch = "least-backlog"

    def __init__(self, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self.kind: dict[str, str] = {}
        self.split: dict[str, float] = {}
        self.next_t: dict[str, float] = {}
        self.pending: dict[str, tuple[np.ndarray, float]] = {}
        self.ended: dict[str, list[int]] = {}  # node -> [ran ok, ran missed, ai ok, ai missed]
        self.last_reward: dict[str, float] = {}
        self.on_transition: Callable[[Transition], None] | None = None
        self.decisions = 0
        self.rewards: list[float] = []

    def attach(self, twin) -> None:
        self.kind = {nid: n.kind for nid, n in twin.nodes.items()}
        for nid in twin.nodes:
            self.split[nid] = self.initial_split()
            self.next_t[nid] = 0.0
            self.ended[nid] = [0, 0, 0, 0]
            self.last_reward[nid] = 0.0

    # --- to be chosen by subclasses ------------------------------------------------------------
    def initial_split(self) -> float:
        return 0.5

    def choose(self, node: str, state: np.ndarray) -> float:
        raise NotImplementedError

    # --- twin hooks -----------------------------------------------------------------------------
    def on_finish(self, node: str, cls: ReqClass, t: float, fulfilled: bool) -> None:
        slot = (0 if cls.is_ran_only else 2) + (0 if fulfilled else 1)
        self.ended[node][slot] += 1

    def node_rule(
        self,
        node: str,
        resource: str,
        t: float,
        cap: float,
        is_ran: Sequence[bool],
        urgency: Sequence[float],
        work: Sequence[float],
        floors: Sequence[float],
        count: Sequence[int],
    ) -> tuple[list[float], bool]:
        if resource == "gpu" and t >= self.next_t[node]:
            self._decide(node, t, cap, is_ran, urgency, work, floors, count)
        return split_rule(self.split[node], cap, is_ran, urgency, work, floors)

    def _decide(self, node, t, cap, is_ran, urgency, work, floors, count) -> None:
        reward = interval_reward(*self.ended[node])
        self.ended[node] = [0, 0, 0, 0]
        state = node_state(
            self.kind[node],
            cap,
            self.interval_s,
            is_ran,
            urgency,
            work,
            floors,
            count,
            self.split[node],
            reward,
        )
        if node in self.pending:
            s, a = self.pending[node]
            self.rewards.append(reward)
            if self.on_transition is not None:
                self.on_transition((node, s, a, reward, state))
        a = float(np.clip(self.choose(node, state), 0.0, 1.0))
        self.split[node] = a
        self.pending[node] = (state, a)
        self.decisions += 1
        # The next decision at the first event after the next interval boundary.
        self.next_t[node] = (int(t / self.interval_s) + 1) * self.interval_s

    def summary(self) -> dict:
        splits = list(self.split.values())
        return {
            "agent": self.name,
            "decisions": self.decisions,
            "mean_reward": float(np.mean(self.rewards)) if self.rewards else 0.0,
            "final_splits": {k: round(v, 3) for k, v in self.split.items()},
            "mean_final_split": float(np.mean(splits)) if splits else 0.0,
        }


class FixedSplit(SplitMethod):
    name = "caora-half"

    def __init__(
        self, split: float = 0.5, interval_s: float = DEFAULT_INTERVAL_S, label: str = ""
    ) -> None:
        super().__init__(interval_s)
        self.value = split
        if label:
            self.name = label  # type: ignore[misc]  (e.g. caora-fixed:0.9)

    def initial_split(self) -> float:
        return self.value

    def choose(self, node: str, state: np.ndarray) -> float:
        return self.value


class RandomSplit(SplitMethod):
    name = "caora-random"

    def __init__(self, seed: int | None = None, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        super().__init__(interval_s)
        self.seed = seed
        self.rng = np.random.default_rng(seed or 0)

    def attach(self, twin) -> None:
        super().attach(twin)
        if self.seed is None:  # seeded by the run: same run seed, same splits
            self.rng = np.random.default_rng(twin.seed)

    def choose(self, node: str, state: np.ndarray) -> float:
        return float(self.rng.uniform())


class Caora(SplitMethod):
    """The SAC policy. ``sac`` given: training (sampled actions, transitions to its buffer);
    otherwise the actor alone, greedy, from ``weights``."""

    name = "caora"

    def __init__(
        self,
        actor: Actor | None = None,
        sac: Sac | None = None,
        interval_s: float = DEFAULT_INTERVAL_S,
        explore: bool = False,
    ) -> None:
        super().__init__(interval_s)
        if actor is None and sac is None:
            raise TypeError("Caora needs an actor or a SAC learner")
        self.sac = sac
        self.actor = actor if actor is not None else sac.actor  # type: ignore[union-attr]
        self.explore = explore

    def choose(self, node: str, state: np.ndarray) -> float:
        if self.sac is not None:
            return self.sac.act(state, deterministic=not self.explore)
        with torch.no_grad():
            return float(self.actor.greedy(torch.from_numpy(state).unsqueeze(0)).item())


def save_actor(actor: Actor, path: str | Path, meta: dict) -> None:
    """What ships: the actor's weights and how it was made (no optimiser state)."""
    torch.save({"state_dim": STATE_DIM, "actor": actor.state_dict(), "meta": meta}, path)


def load_actor(path: str | Path = WEIGHTS_PATH) -> tuple[Actor, dict]:
    """Load shipped actor weights safely (``weights_only``: tensors and plain data only)."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
        if data["state_dim"] != STATE_DIM:
            raise CaoraError(f"{path}: state of {data['state_dim']} numbers, expected {STATE_DIM}")
        hidden = data["actor"]["net.0.weight"].shape[0]
        actor = Actor(STATE_DIM, hidden)
        actor.load_state_dict(data["actor"])
    except CaoraError:
        raise
    except FileNotFoundError:
        raise CaoraError(f"{path}: no such file (train with `haf caora train`)") from None
    except Exception as exc:  # pickle/zip/shape errors: one clear message
        raise CaoraError(f"{path}: not CAORA actor weights ({type(exc).__name__}: {exc})") from None
    actor.eval()
    return actor, dict(data.get("meta", {}))
