"""Build hook: compile the allocator's kernel with mypyc when a C compiler is there.

``xapp_alloc/share_kernel.py`` is plain typed Python; mypyc turns it into a C extension
(docs/performance.md: measured ~7x faster than the interpreted source, and faster than Cython
on the same file). The extension is optional: without a compiler (or with ``HAF_PURE_PYTHON=1``
at install) the build goes on and the package runs the same source interpreted.
``-ffp-contract=off`` keeps the C compiler from fusing a*b+c into one rounding (FMA on arm64),
so the compiled kernel computes the interpreted one's floats bit for bit.
"""

from __future__ import annotations

import logging
import os
import sys

from setuptools import setup

KERNELS = ["xapp_alloc/share_kernel.py"]


def kernel_extensions() -> list:
    if os.environ.get("HAF_PURE_PYTHON", "") not in ("", "0"):
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:  # building without the declared build requirements (--no-build-isolation)
        logging.warning("mypyc is not installed: the allocator kernel stays pure Python")
        return []
    # The kernel imports only the standard library: mypy need not follow the package's other
    # imports (numpy is not in the isolated build environment).
    flags = ["--follow-imports=skip", "--ignore-missing-imports"]
    try:
        extensions = mypycify([*flags, *KERNELS], opt_level="3")
    except (Exception, SystemExit) as exc:  # mypy exits on a type error: build without it
        logging.warning("mypyc could not compile %s (%s): pure Python", KERNELS, exc)
        return []
    for ext in extensions:
        ext.optional = True  # a failed compile (no gcc, no Python.h) is a warning, not an error
        if sys.platform != "win32":
            ext.extra_compile_args.append("-ffp-contract=off")
    return extensions


setup(ext_modules=kernel_extensions())
