"""Round-Robin: fixed placement, round-robin dispatch, equal shares of the residual."""

from __future__ import annotations

from airan_twin.methods.base import KeepPlacement, register


class RoundRobin(KeepPlacement):
    """Never migrates; AI requests go to a service's instances in turn (skipping one that is
    reconfiguring); each node gives RAN floors first and splits the rest equally among the
    instances with work."""

    name = "round-robin"
    allocation = "equal"
    dispatch = "round-robin"


register(
    "round-robin",
    lambda epoch_s: RoundRobin(),
    "fixed placement, round-robin dispatch, equal shares after the RAN floors",
    baseline=True,
    order=20,
)
