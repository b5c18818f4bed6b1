"""Recordings: length-delimited ``TraceRecord`` protobufs (varint length, then the message).

This is protobuf's own delimited framing, so other tools can read the files. A corrupted record
is reported by its position and skipped; reading goes on at the next frame.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.message import DecodeError

from proto import haf_pb2


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated length prefix")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def write_trace(path: str | Path, records: Iterable[haf_pb2.TraceRecord]) -> int:
    n = 0
    with Path(path).open("wb") as fh:
        for rec in records:
            data = rec.SerializeToString()
            fh.write(_varint(len(data)) + data)
            n += 1
    return n


@dataclass(frozen=True)
class TraceProblem:
    index: int  # record number (0-based)
    offset: int  # byte offset of its frame
    reason: str


def read_trace(path: str | Path) -> tuple[list[haf_pb2.TraceRecord], list[TraceProblem]]:
    """All readable records and the problems met (by position); never raises on bad frames."""
    buf = Path(path).read_bytes()
    records, problems = [], []
    pos = index = 0
    while pos < len(buf):
        start = pos
        try:
            size, pos = _read_varint(buf, pos)
        except ValueError as exc:
            problems.append(TraceProblem(index, start, str(exc)))
            break
        if pos + size > len(buf):
            problems.append(TraceProblem(index, start, f"frame of {size} bytes runs past the end"))
            break
        rec = haf_pb2.TraceRecord()
        try:
            rec.ParseFromString(buf[pos : pos + size])
            records.append(rec)
        except DecodeError as exc:
            problems.append(TraceProblem(index, start, f"not a TraceRecord: {exc}"))
        pos += size
        index += 1
    return records, problems
