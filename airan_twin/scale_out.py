"""Experiments on Ray (issue 17): a local runtime on this machine or an existing cluster.

Ray is an optional extra (``pip install .[ray]``); the serial and process-pool paths stay the
default. docs/scale-out.md says how to start a cluster and what each task needs.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

from proto.errors import InputError

log = logging.getLogger(__name__)


@contextlib.contextmanager
def ray_runtime(address: str, workers: int) -> Iterator:
    """``ray`` initialised for ``address`` (``local``: a runtime of ``workers`` CPUs here),
    shut down after (only if this call started it)."""
    try:
        import ray
    except ImportError:
        raise InputError("--ray needs Ray: pip install '.[ray]' (or make install-ray)") from None
    started = not ray.is_initialized()
    if started:
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
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def _project_path() -> list[str]:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return [here, *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
