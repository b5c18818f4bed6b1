"""Loader for the Azure LLM inference trace CSV (``TIMESTAMP, ContextTokens, GeneratedTokens``).

Errors name the file, the line and the field: ``conv.csv:17: GeneratedTokens: must be an
integer >= 0, got '-3'``. Timestamps must not go backwards. The loader returns relative
arrival times (seconds from the first row) and token counts.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from proto.errors import HafError

COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")
#: Largest token count a row may state (far above any model's context; int64-safe).
MAX_TOKENS = 10_000_000


class TraceError(HafError):
    """A trace file is unreadable or malformed; the message says where."""


@dataclass(frozen=True)
class Trace:
    """AI requests in arrival order: seconds from the first request, prompt and output tokens."""

    source: str
    arrival_s: npt.NDArray[np.float64]
    context_tokens: npt.NDArray[np.int64]
    generated_tokens: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.arrival_s)

    @property
    def span_s(self) -> float:
        return float(self.arrival_s[-1]) if len(self) else 0.0

    @property
    def mean_rate(self) -> float:
        return (len(self) - 1) / self.span_s if self.span_s > 0 else 0.0

    def split(self, part: str, train_fraction: float = 0.7) -> Trace:
        """Chronological split: ``train`` is the first ``train_fraction`` of the time span,
        ``test`` the rest (re-based to start at 0), ``all`` the whole trace."""
        if part == "all":
            return self
        if part not in ("train", "test"):
            raise TraceError(f"unknown split {part!r}: choose train, test or all")
        cut = self.span_s * train_fraction
        mask = self.arrival_s < cut if part == "train" else self.arrival_s >= cut
        t = self.arrival_s[mask]
        return Trace(
            f"{self.source}[{part}]",
            t - (t[0] if len(t) else 0.0),
            self.context_tokens[mask],
            self.generated_tokens[mask],
        )


def _parse_time(text: str) -> float:
    # Azure writes 7 fractional digits; datetime takes at most 6.
    head, _, frac = text.strip().partition(".")
    if frac and not (frac.isascii() and frac.isdigit()):
        raise ValueError(f"bad fraction {frac!r}")
    try:
        stamp = dt.datetime.fromisoformat(head).replace(tzinfo=dt.UTC)
        return stamp.timestamp() + (float("0." + frac) if frac else 0.0)
    except (OverflowError, OSError) as exc:
        raise ValueError(str(exc)) from None


def load_trace(path: str | Path) -> Trace:
    """Read and validate a trace CSV; raise :class:`TraceError` naming file, line and field."""
    p = Path(path)
    try:
        fh = p.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise TraceError(f"{p}: cannot read trace: {exc.strerror}") from None
    times: list[float] = []
    ctx: list[int] = []
    gen: list[int] = []
    with fh:
        reader = csv.reader(fh)
        try:
            _read_rows(p, reader, times, ctx, gen)
        except csv.Error as exc:  # e.g. a field over csv's 128 KiB limit
            raise TraceError(f"{p}:{reader.line_num}: not a CSV row: {exc}") from None
        except UnicodeDecodeError as exc:
            raise TraceError(
                f"{p}:{reader.line_num + 1}: not UTF-8 text (byte {exc.start} of the line)"
            ) from None
    if not times:
        raise TraceError(f"{p}: no requests after the header")
    arr = np.asarray(times, dtype=np.float64)
    return Trace(
        str(p), arr - arr[0], np.asarray(ctx, dtype=np.int64), np.asarray(gen, dtype=np.int64)
    )


def _read_rows(p: Path, reader, times: list[float], ctx: list[int], gen: list[int]) -> None:
    """Validate every row of ``reader`` into the three lists (errors name line and field)."""
    header = next(reader, None)
    if header is None:
        raise TraceError(f"{p}:1: empty file, expected header {','.join(COLUMNS)}")
    header = [h.strip() for h in header]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise TraceError(f"{p}:1: missing column(s) {', '.join(missing)} in header {header}")
    it, ic, ig = (header.index(c) for c in COLUMNS)
    last = -np.inf
    for lineno, row in enumerate(reader, start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise TraceError(f"{p}:{lineno}: expected {len(header)} fields, got {len(row)}")
        try:
            t = _parse_time(row[it])
        except ValueError:
            bad = row[it][:40]
            raise TraceError(f"{p}:{lineno}: TIMESTAMP: not a timestamp: {bad!r}") from None
        if t < last:
            raise TraceError(
                f"{p}:{lineno}: TIMESTAMP: goes backwards ({row[it].strip()} is earlier "
                "than the previous row); the trace must be sorted by time"
            )
        last = t
        values = []
        for col, idx in (("ContextTokens", ic), ("GeneratedTokens", ig)):
            cell = row[idx].strip()
            v = int(cell) if cell.isascii() and cell.isdigit() and len(cell) <= 9 else -1
            if not 0 <= v <= MAX_TOKENS:
                raise TraceError(
                    f"{p}:{lineno}: {col}: must be an integer in 0..{MAX_TOKENS}, got {cell[:40]!r}"
                )
            values.append(v)
        times.append(t)
        ctx.append(values[0])
        gen.append(values[1])
