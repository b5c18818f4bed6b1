"""Hand-written aligned-PER for the two E2AP messages on the xApp's hot path (issue 17): reading
a RICindication and writing a RICcontrolRequest, for the shapes HAF uses. pycrate stays the
reference and the fallback: :func:`read_indication` returns None for any other shape (an IE it
does not know, a criticality or extension it does not expect, a length it cannot read, trailing
bytes) and the caller decodes with pycrate; :func:`write_control` returns None for what it does
not write (a message of 16 KiB or more: fragmented lengths). Tests compare both ways with
pycrate on random, fuzzed and recorded messages.

Layout (X.691 aligned): E2AP-PDU CHOICE index (``00``: initiatingMessage), procedureCode (one
octet), criticality (2 bits, padded), the value as an open type (a length determinant, then the
procedure's SEQUENCE: an extension bit, padded, then the IE count in two octets); each IE is its
id (two octets), criticality (one octet) and value as an open type. OCTET STRING values carry
their own length determinant inside the open type.
"""

from __future__ import annotations

_CRIT = (0x00, 0x40, 0x80)  # reject, ignore, notify: 2 bits, padded


def _length(b: bytes, pos: int) -> tuple[int, int]:
    """A general length determinant (< 16384) at ``pos``: (length, position after it)."""
    h = b[pos]
    if h < 0x80:
        return h, pos + 1
    if h & 0xC0 == 0x80:
        return ((h & 0x3F) << 8) | b[pos + 1], pos + 2
    raise ValueError("fragmented length")


def _put_length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    return bytes((0x80 | (n >> 8), n & 0xFF))


def _octets(v: bytes) -> bytes | None:
    """An unconstrained OCTET STRING's encoding inside an open type, or None if it reads
    otherwise."""
    n, pos = _length(v, 0)
    return v[pos:] if pos + n == len(v) else None


def read_indication(b: bytes) -> tuple[int, int, int, int, int, bytes, bytes] | None:
    """(requestor id, instance id, RAN function id, action id, sequence number, header,
    message) of a RICindication of the expected shape; None: let pycrate decode it."""
    try:
        if len(b) < 8 or b[0] != 0x00 or b[1] != 5 or b[2] not in _CRIT:
            return None
        n, pos = _length(b, 3)
        if pos + n != len(b) or b[pos] != 0x00:
            return None
        count = (b[pos + 1] << 8) | b[pos + 2]
        pos += 3
        ies: dict[int, bytes] = {}
        for _ in range(count):
            ie = (b[pos] << 8) | b[pos + 1]
            if b[pos + 2] not in _CRIT or ie in ies:
                return None
            n, pos = _length(b, pos + 3)
            ies[ie] = b[pos : pos + n]
            pos += n
        if pos != len(b) or set(ies) - {29, 5, 15, 27, 28, 25, 26}:
            return None
        req, fn, act, kind = ies[29], ies[5], ies[15], ies[28]
        sn = ies.get(27, b"\x00\x00")
        if len(req) != 5 or req[0] or len(fn) != 2 or len(act) != 1 or len(sn) != 2:
            return None
        if kind != b"\x00":  # report (insert, or an extension: pycrate says what it is)
            return None
        function = (fn[0] << 8) | fn[1]
        header, message = _octets(ies[25]), _octets(ies[26])
        if function > 4095 or header is None or message is None:
            return None
        return (
            (req[1] << 8) | req[2],
            (req[3] << 8) | req[4],
            function,
            act[0],
            (sn[0] << 8) | sn[1],
            header,
            message,
        )
    except (IndexError, KeyError, ValueError):
        return None


def _ie(ie: int, value: bytes) -> bytes:
    return bytes((ie >> 8, ie & 0xFF, 0x00)) + _put_length(len(value)) + value


def write_control(
    requestor_id: int, instance_id: int, function_id: int, header: bytes, message: bytes
) -> bytes | None:
    """A RICcontrolRequest (procedure 4, criticality reject, every IE reject) with the request
    id, RAN function id, control header and message IEs — the bytes pycrate writes; None when
    a length needs fragmenting (pycrate writes it)."""
    if not (0 <= requestor_id <= 0xFFFF and 0 <= instance_id <= 0xFFFF):
        return None
    if not 0 <= function_id <= 4095 or len(header) >= 0x3F00 or len(message) >= 0x3F00:
        return None
    body = b"".join(
        (
            b"\x00\x00\x04",  # extension bit (padded), 4 IEs
            _ie(
                29,
                bytes(
                    (
                        0,
                        requestor_id >> 8,
                        requestor_id & 0xFF,
                        instance_id >> 8,
                        instance_id & 0xFF,
                    )
                ),
            ),
            _ie(5, bytes((function_id >> 8, function_id & 0xFF))),
            _ie(22, _put_length(len(header)) + header),
            _ie(23, _put_length(len(message)) + message),
        )
    )
    if len(body) >= 0x4000:
        return None
    return b"\x00\x04\x00" + _put_length(len(body)) + body
