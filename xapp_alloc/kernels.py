"""Which form of the allocator kernel runs: mypyc-compiled, or the same source interpreted.

``xapp_alloc/share_kernel.py`` is compiled at install when a C compiler is there (setup.py);
Python then imports the extension module before the source. The source stays the reference:
:func:`interpreted` loads it a second time, uncompiled, for the tests and the benchmarks.
``HAF_PURE_PYTHON=1`` in the environment makes :data:`KERNEL` the interpreted form.

A compiled module older than its source (the source edited after ``make install``) would run
stale code, so it is not used: :func:`load` warns and runs the source until the package is
reinstalled.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from pathlib import Path
from types import ModuleType

log = logging.getLogger(__name__)

_SOURCE = Path(__file__).with_name("share_kernel.py")
#: A source this much newer than its compiled module was edited after the build.
STALE_AFTER_S = 2.0
_INTERPRETED = "xapp_alloc._share_kernel_interpreted"


def interpreted() -> ModuleType:
    """The kernel's source, run by the interpreter (one module object per process)."""
    mod = sys.modules.get(_INTERPRETED)
    if mod is None:
        spec = importlib.util.spec_from_file_location(_INTERPRETED, _SOURCE)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[_INTERPRETED] = mod
        spec.loader.exec_module(mod)
    return mod


def load() -> ModuleType:
    """The compiled kernel when it is installed and current, else :func:`interpreted`."""
    if os.environ.get("HAF_PURE_PYTHON", "") not in ("", "0"):
        return interpreted()
    try:
        from xapp_alloc import share_kernel
    except ImportError as exc:  # an extension built for another interpreter
        log.warning("compiled allocator kernel unusable (%s): running it interpreted", exc)
        return interpreted()
    if not share_kernel.COMPILED:
        return share_kernel
    built = Path(share_kernel.__file__)
    # A margin, because installing a wheel writes the source a moment after the extension.
    if _SOURCE.exists() and _SOURCE.stat().st_mtime > built.stat().st_mtime + STALE_AFTER_S:
        log.warning(
            "%s is older than %s: running the source interpreted (reinstall, `make install`, "
            "to recompile)",
            built.name,
            _SOURCE.name,
        )
        return interpreted()
    return share_kernel


KERNEL = load()


def describe() -> str:
    """``"compiled (mypyc)"`` or ``"interpreted"``: what :data:`KERNEL` is."""
    return "compiled (mypyc)" if getattr(KERNEL, "COMPILED", False) else "interpreted"
