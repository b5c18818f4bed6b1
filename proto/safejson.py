"""JSON from peers and files, parsed within bounds.

``json.loads`` recurses once per nesting level (5,000 levels of ``[`` raise RecursionError),
accepts ``NaN`` and ``Infinity`` and turns ``1e400`` into ``inf``. :func:`loads` checks size and
nesting depth on the raw text *before* parsing, and rejects every non-finite number, so what it
returns is plain, finite, shallow JSON.
"""

from __future__ import annotations

import json
import math
from typing import Any

from proto.errors import InputError

MAX_DEPTH = 32  # policies nest 3 levels, configs 4; 32 leaves room and stays far from recursion
MAX_BYTES = 1 << 20


def _depth_of(text: str, limit: int) -> int:
    """Deepest nesting of ``[``/``{`` outside strings; stops counting past ``limit``."""
    depth = deepest = 0
    in_str = escaped = False
    for ch in text:
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif ch in "]}":
            depth -= 1
    return deepest


def nonfinite_path(obj: Any, path: str = "") -> str | None:
    """The path (``.a[2].b``) of the first non-finite number in parsed JSON, else None."""
    if isinstance(obj, float):
        return None if math.isfinite(obj) else (path or "(value)")
    if isinstance(obj, dict):
        items = ((f"{path}.{k}", v) for k, v in obj.items())
    elif isinstance(obj, list):
        items = ((f"{path}[{k}]", v) for k, v in enumerate(obj))
    else:
        return None
    for where, v in items:
        found = nonfinite_path(v, where)
        if found is not None:
            return found
    return None


def loads(
    data: bytes | str,
    what: str = "JSON",
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
    finite: bool = True,
) -> Any:
    """Parse ``data``; :class:`InputError` naming ``what`` if it is too large, too deep, not
    UTF-8 or not JSON, and — with ``finite`` — naming the path of a number that is not finite
    (``NaN``, ``Infinity``, ``1e400``). ``finite=False`` leaves that check to a caller that
    names the field in its own terms (a policy validator)."""
    if len(data) > max_bytes:
        raise InputError(f"{what}: {len(data)} bytes, more than the {max_bytes} allowed")
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{what}: not UTF-8 (byte {exc.start})") from None
    else:
        text = data
    depth = _depth_of(text, max_depth)
    if depth > max_depth:
        raise InputError(f"{what}: nested deeper than {max_depth} levels")
    try:
        value = json.loads(text, parse_constant=float)
    except json.JSONDecodeError as exc:
        raise InputError(f"{what}: not JSON: {exc.msg}", exc.lineno, exc.colno) from None
    except ValueError as exc:  # an integer beyond Python's digit limit
        raise InputError(f"{what}: not JSON ({exc})") from None
    if finite:
        where = nonfinite_path(value)
        if where is not None:
            raise InputError(f"{what}: {where}: must be a finite number")
    return value


def dumps(obj: Any) -> str:
    """Canonical JSON (sorted keys, no NaN): equal documents give equal text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def read_text(path: object, what: str = "file", max_bytes: int = 64 << 20) -> str:
    """A text file's contents; :class:`InputError` naming the file if it cannot be read, is
    larger than ``max_bytes`` or is not UTF-8."""
    from pathlib import Path

    p = Path(str(path))
    try:
        with p.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise InputError(f"{p}: cannot read {what}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise InputError(f"{p}: {what} larger than {max_bytes} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"{p}:{line}: {what} is not UTF-8 text (byte {exc.start})") from None


def load_file(path: object, what: str = "JSON file", max_depth: int = MAX_DEPTH) -> Any:
    """A JSON file, read and parsed within bounds; errors name the file (and line)."""
    text = read_text(path, what)
    try:
        return loads(text, what, max_bytes=len(text.encode()) + 1, max_depth=max_depth)
    except InputError as exc:
        where = f"{path}:{exc.line}:{exc.col}" if exc.line else str(path)
        raise InputError(f"{where}: {exc}", exc.line, exc.col) from None
