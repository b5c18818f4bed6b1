"""HAF-Static: the initial placement kept for the whole run, with HAF's allocator (17)–(19)."""

from __future__ import annotations

from airan_twin.methods.base import KeepPlacement, register


class HafStatic(KeepPlacement):
    """Never migrates; dispatch to the least-backlogged instance of the service; HAF allocation."""

    name = "haf-static"
    allocation = "haf"
    dispatch = "least-backlog"


register(
    "haf-static",
    lambda epoch_s: HafStatic(),
    "the initial placement kept, HAF's allocator (the paper's HAF-Static)",
    baseline=True,
    order=10,
)
