"""Experiments on Ray (issue 17): a local runtime on this machine or an existing cluster.

Ray is an optional extra (``pip install .[ray]``); the serial and process-pool paths stay the
default. docs/scale-out.md says how to start a cluster and what each task needs.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from proto.errors import InputError

log = logging.getLogger(__name__)


def _connect(ray: Any, address: str, workers: int) -> None:
    kw: dict = {"include_dashboard": False, "log_to_driver": False}
    # The workers import this project as the driver does (same interpreter, same path).
    kw["runtime_env"] = {"env_vars": {"PYTHONPATH": os.pathsep.join(_project_path())}}
    try:
        if address == "local":
            ray.init(num_cpus=workers, **kw)
        else:
            ray.init(address=address, **kw)
    except Exception as exc:  # Ray raises plain Exception when its node does not start
        raise InputError(f"--ray {address}: Ray did not start or connect: {exc}") from None


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InputError("--ray needs Ray: pip install '.[ray]' (or make install-ray)") from None
    return ray


@contextlib.contextmanager
def ray_runtime(address: str, workers: int) -> Iterator:
    """``ray`` initialised for ``address`` (``local``: a runtime of ``workers`` CPUs here),
    shut down after (only if this call started it)."""
    ray = _import_ray()
    started = not ray.is_initialized()
    if started:
        _connect(ray, address, workers)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def ray_session(address: str, workers: int) -> Any:
    """``ray``, initialised once for the rest of this process (the oracle calls it at every
    epoch; inside a Ray task it is the task's own connection). Shut down at exit."""
    ray = _import_ray()
    if not ray.is_initialized():
        _connect(ray, address, workers)
        atexit.register(ray.shutdown)
    return ray


def ray_map(
    fn: Callable[[Any], Any],
    args: Sequence[Any],
    address: str,
    workers: int,
    on_done: Callable[[int, Any], None] | None = None,
) -> list[Any]:
    """``[fn(a) for a in args]`` with each call a Ray task (1 CPU); results in the order of
    ``args`` whatever order they finish in, so a caller that concatenates them gets what the
    serial run gives. ``on_done(finished, result)`` after each task (a progress bar)."""
    out: list[Any] = [None] * len(args)
    with ray_runtime(address, workers) as ray:
        task = ray.remote(num_cpus=1)(fn)
        index = {task.remote(a): k for k, a in enumerate(args)}
        pending = list(index)
        finished = 0
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            res = ray.get(done[0])
            out[index[done[0]]] = res
            finished += 1
            if on_done is not None:
                on_done(finished, res)
    return out


def _project_path() -> list[str]:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return [here, *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
