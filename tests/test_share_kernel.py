"""The allocator kernel compiled by mypyc computes the interpreted source's floats, bit for bit.

The interpreted source (``xapp_alloc.kernels.interpreted()``) is the reference; the compiled
extension is what ``make install`` builds where a C compiler is present. Comparisons are on the
floats' bit patterns (``struct``), so a ±0.0 or one-ulp difference fails.
"""

from __future__ import annotations

import logging
import os
import shutil
import struct
import sysconfig
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_allocator import problems
from xapp_alloc import kernels
from xapp_alloc.demand import urgency as urgency_reference

interp = kernels.interpreted()
try:
    from xapp_alloc import share_kernel as compiled
except ImportError:  # pragma: no cover - an extension for another interpreter
    compiled = None
HAVE_COMPILED = compiled is not None and compiled.COMPILED
needs_compiled = pytest.mark.skipif(
    not HAVE_COMPILED, reason="the kernel is not compiled here (no C compiler at install)"
)


def bits(value):
    """A float, bool or nested tuple as comparable bit patterns."""
    if isinstance(value, tuple):
        return tuple(bits(v) for v in value)
    if isinstance(value, float):
        return struct.pack("<d", value)
    return value


def test_interpreted_reference_is_the_source():
    assert not interp.COMPILED
    assert Path(interp.__file__).suffix == ".py"


def test_install_compiled_the_kernel_where_a_compiler_exists():
    """`make install` must build the extension when gcc and Python's headers are present."""
    if os.environ.get("HAF_PURE_PYTHON", "") not in ("", "0"):
        pytest.skip("HAF_PURE_PYTHON asks for the interpreted kernel")
    headers = Path(sysconfig.get_paths()["include"], "Python.h")
    if shutil.which(sysconfig.get_config_var("CC") or "cc") is None or not headers.exists():
        pytest.skip("no C compiler or no Python headers: the pure-Python fallback is expected")
    assert HAVE_COMPILED, "a C compiler is present but the kernel was not compiled"
    assert kernels.describe() == "compiled (mypyc)"


@needs_compiled
@settings(max_examples=3000, deadline=None)
@given(problems())
def test_compiled_solve_equals_interpreted_bit_for_bit(p):
    cap, urg, work, floors = p
    args = (cap, urg, work, floors)
    assert bits(compiled.solve(*args)) == bits(interp.solve(*args))


extreme = st.one_of(
    st.sampled_from([0.0, 5e-324, 1e-300, 1e300, 1.7e308]),
    st.floats(min_value=0.0, max_value=1e308, allow_nan=False, allow_infinity=False),
)


@needs_compiled
@settings(max_examples=2000, deadline=None)
@given(
    st.lists(st.tuples(extreme, extreme, st.one_of(extreme, st.just(float("inf")))), max_size=12),
    extreme,
)
def test_compiled_equals_interpreted_on_extremes_and_lost_deadlines(rows, cap):
    urg = [r[0] for r in rows]
    work = [r[1] for r in rows]
    floors = [r[2] for r in rows]
    args = (cap, urg, work, floors)
    assert bits(compiled.solve(*args)) == bits(interp.solve(*args))
    assert compiled.inputs_ok(cap, urg, work, floors) == interp.inputs_ok(cap, urg, work, floors)


@settings(max_examples=1500, deadline=None)
@given(
    st.lists(st.floats(min_value=-10.0, max_value=1e4, allow_nan=False), max_size=80),
    st.floats(min_value=0.0, max_value=100.0),
    st.sampled_from([1e-6, 1e-3, 0.5]),
)
def test_urgency_sum_is_eq14_bit_for_bit(deadlines, now, eps):
    ref = urgency_reference(deadlines, now, eps)
    assert bits(interp.urgency_sum(deadlines, now, eps)) == bits(ref)
    if HAVE_COMPILED:
        assert bits(compiled.urgency_sum(deadlines, now, eps)) == bits(ref)


@pytest.mark.parametrize(
    "args",
    [
        (float("nan"), [1.0], [1.0], [0.0]),
        (1.0, [float("inf")], [1.0], [0.0]),
        (1.0, [1.0], [-1.0], [0.0]),
        (1.0, [1.0], [1.0], [float("nan")]),
        (1.0, [1.0, 2.0], [1.0], [0.0]),
    ],
)
def test_inputs_ok_rejects_each_invalid_value(args):
    assert not interp.inputs_ok(*args)
    if HAVE_COMPILED:
        assert not compiled.inputs_ok(*args)


def test_stale_extension_is_not_used(tmp_path, monkeypatch, caplog):
    """A source edited after the build must not be shadowed by the old compiled code."""
    if not HAVE_COMPILED:
        pytest.skip("no compiled kernel to be stale")
    monkeypatch.delenv("HAF_PURE_PYTHON", raising=False)
    newer = tmp_path / "share_kernel.py"
    newer.write_text("")
    built = Path(compiled.__file__).stat().st_mtime
    os.utime(newer, (built + 60, built + 60))
    monkeypatch.setattr(kernels, "_SOURCE", newer)
    monkeypatch.setitem(__import__("sys").modules, kernels._INTERPRETED, interp)
    with caplog.at_level(logging.WARNING, logger="xapp_alloc.kernels"):
        chosen = kernels.load()
    assert chosen is interp
    assert "older than" in caplog.text
    # A wheel's install writes the source a moment after the extension: that is not stale.
    os.utime(newer, (built + 0.5, built + 0.5))
    assert kernels.load() is compiled


def test_pure_python_switch(monkeypatch):
    monkeypatch.setenv("HAF_PURE_PYTHON", "1")
    assert kernels.load() is interp
