"""One embedded LLM call at a time per machine.

Two llama.cpp calls sharing the cores are each many times slower than one after the other (a
call went from 2.6 s to 29.8 s on 2 cores while another process ran one, issue 14). Every
embedded call therefore holds an exclusive ``flock`` on one file per machine — across threads
and processes, so parallel experiment runs queue their calls instead of sharing the cores. The
file is ``$HAF_LLM_LOCK`` or ``haf-llm.lock`` in the system temp directory.
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)


def lock_path() -> Path:
    return Path(os.environ.get("HAF_LLM_LOCK") or Path(tempfile.gettempdir()) / "haf-llm.lock")


@contextmanager
def machine_llm_lock(path: str | Path | None = None) -> Iterator[float]:
    """Hold the machine's LLM lock; yields the seconds spent waiting for it."""
    p = Path(path) if path else lock_path()
    t0 = time.perf_counter()
    with open(p, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        waited = time.perf_counter() - t0
        if waited > 0.05:
            log.info("waited %.2f s for the machine's LLM lock (%s)", waited, p)
        try:
            yield waited
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
