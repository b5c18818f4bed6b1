"""A hand-written aligned-PER reader for the one KPM message shape HAF's E2 nodes send
(issue 17): an E2SM-KPM indication message, Format 1, with one ``measData`` item, no
``measInfoList``, no extensions — the values in subscription order. It returns that item's
``measRecord`` exactly as asn1tools decodes it, ~10× faster; for any other shape (names, an
extension, a decimal REAL, a fragmented length, trailing bytes...) it returns None and the
caller decodes with asn1tools, which stays the reference (tests cross-check the two on every
recorded message and on fuzzed ones).

Layout (X.691 aligned variant), from the first octet: IndicationMessage extension bit,
CHOICE extension bit and index (1 bit of 2), Format1 extension bit, the presence bits of
``measInfoList`` and ``granulPeriod``, padding; ``measData`` length − 1 in two octets
(SIZE(1..65535)); the data item's extension and ``incompleteFlag`` presence bits, padding; the
record's length determinant (one octet below 128, two as ``10xxxxxx``); then per item a CHOICE
extension bit and a 2-bit index — ``integer`` (0..2^32−1): 2 bits of octet count − 1, padding,
the octets; ``real``: padding, a one-octet length, X.690 contents; ``noValue``: nothing.
"""

from __future__ import annotations

import math

_SPECIAL = {0x40: math.inf, 0x41: -math.inf, 0x42: math.nan, 0x43: -0.0}


def _real(c: bytes) -> float | None:
    """X.690 §8.5 REAL contents as asn1tools reads them: a special value, or binary base 2
    with no scale factor and a one- or two-octet exponent (the forms it writes); None for any
    other form (asn1tools decides: it refuses most)."""
    if not c:
        return 0.0
    h = c[0]
    if len(c) == 1 and h in _SPECIAL:
        return _SPECIAL[h]
    if h not in (0x80, 0xC0, 0x81, 0xC1):
        return None
    n_exp = (h & 1) + 1
    if len(c) < 2 + n_exp:
        return None
    exp = int.from_bytes(c[1 : 1 + n_exp], "big", signed=True)
    mant = int.from_bytes(c[1 + n_exp :], "big")
    try:
        v = float(mant * 2**exp)  # asn1tools' own expression, so the same rounding
    except OverflowError:
        return None
    return -v if h & 0x40 else v


def fast_record(message: bytes) -> list[tuple[str, object]] | None:
    """The ``measRecord`` of a Format-1 message of the shape above, or None (use asn1tools)."""
    b = message
    end = len(b)
    if end < 6 or b[0] & 0xFB or b[1] or b[2] or b[3]:
        # extension / choice / measInfoList bits, padding, measData count != 1, or the data
        # item's extension / incompleteFlag bits set.
        return None
    has_gp = b[0] & 0x04
    if b[4] < 0x80:
        count, pos = b[4], 5
    elif b[4] & 0xC0 == 0x80:
        count, pos = ((b[4] & 0x3F) << 8) | b[5], 6
    else:
        return None  # fragmented: 16K items or more
    if count == 0:
        return None
    bit = 0  # bits used of b[pos]
    out: list[tuple[str, object]] = []
    append = out.append
    try:
        for _ in range(count):
            # 3 bits: extension (0) and the index.
            two = (b[pos] << 8) | (b[pos + 1] if pos + 1 < end else 0)
            v = (two >> (13 - bit)) & 7
            bit += 3
            if bit >= 8:
                pos += 1
                bit -= 8
            if v == 2:
                append(("noValue", None))
            elif v == 0:  # integer: 2 bits of length, then octet-aligned value
                two = (b[pos] << 8) | (b[pos + 1] if pos + 1 < end else 0)
                n = ((two >> (14 - bit)) & 3) + 1
                pos += 1 if bit + 2 <= 8 else 2  # align after the 2 bits
                bit = 0
                if pos + n > end:
                    return None
                append(("integer", int.from_bytes(b[pos : pos + n], "big")))
                pos += n
            elif v == 1:  # real: aligned one-octet length, then the contents
                if bit:
                    pos += 1
                    bit = 0
                n = b[pos]
                if n >= 0x80 or pos + 1 + n > end:
                    return None
                r = _real(b[pos + 1 : pos + 1 + n])
                if r is None:
                    return None
                append(("real", r))
                pos += 1 + n
            else:
                return None
        if has_gp:  # granulPeriod INTEGER (1..2^32-1): 2 bits of length, aligned octets
            two = (b[pos] << 8) | (b[pos + 1] if pos + 1 < end else 0)
            n = ((two >> (14 - bit)) & 3) + 1
            pos += 1 if bit + 2 <= 8 else 2
            bit = 0
            pos += n
        elif bit:
            pos += 1
    except IndexError:
        return None
    return out if pos == end else None
