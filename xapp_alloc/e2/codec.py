"""E2 codecs: E2AP (pycrate, aligned PER) around E2SM-KPM (asn1tools, aligned PER) and E2SM-HAF.

* Reports: each compute node is an E2 node. Its RIC_INDICATION carries an E2SM-KPM indication
  header (Format 1: collection start time) and message (Format 1). Every value is read by its
  measurement name ``HAF.<Field>.<instance>``: from the message's own ``measInfoList`` when it
  has one, else from the subscription's action definition (Format 1), which lists
  :func:`measurement_names` for every instance of the cluster in slot order (our E2 nodes leave
  ``measInfoList`` out: the cheap path). An instance not resident on the reporting node carries
  ``noValue`` in every slot. Each resident instance's values are range-checked into one
  :class:`~proto.observation.InstanceMeasurement` (``proto.observation.FIELD_SPECS``); a report
  with any bad value is refused whole (``E2DecodeError`` kind ``kpm-value``). Catalogue:
  docs/e2-kpm.md.
* Controls: RIC_CONTROL_REQ carries the E2SM-HAF protobuf (``proto/haf.proto``
  ``E2smHafControl``) in the RICcontrolMessage octet string, as ONF SD-RAN does for its
  protobuf service models; the RICcontrolHeader holds the ASCII tag ``HAF1``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import asn1tools

from proto.errors import HafError, MeasurementError
from proto.observation import (
    FIELDS,
    MAX_TIME_S,
    InstanceMeasurement,
    kpm_items,
    measurement_from_kpm,
    measurement_name,
)
from xapp_alloc.e2.e2ap_fast import read_indication, write_control
from xapp_alloc.e2.kpm_fast import fast_record

#: Read/write the hot-path shapes by hand (``e2ap_fast``, ``kpm_fast``); pycrate and asn1tools
#: decide every other shape and are the reference the tests compare with.
USE_FAST = True

KPM_RAN_FUNCTION_ID = 2  # the usual KPM RAN function id
HAF_RAN_FUNCTION_ID = 300  # E2SM-HAF (our control service model)
CONTROL_HEADER = b"HAF1"
ASN_FILE = Path(__file__).with_name("e2sm_kpm_subset.asn")


class E2DecodeError(HafError):
    """Bytes that are not the E2AP/E2SM message expected; ``kind`` says which layer failed."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


@cache
def kpm() -> asn1tools.compiler.Specification:
    return asn1tools.compile_files(str(ASN_FILE), "per")


def measurement_names(instance_ids: Sequence[str]) -> list[str]:
    """The subscription's measurement list: every field of every instance, instance-major."""
    return [measurement_name(field, iid) for iid in instance_ids for field in FIELDS]


# --- E2SM-KPM --------------------------------------------------------------------------------
def encode_event_trigger(reporting_period_ms: int) -> bytes:
    return kpm().encode(
        "E2SM-KPM-EventTriggerDefinition",
        {
            "eventDefinition-formats": (
                "eventDefinition-Format1",
                {"reportingPeriod": reporting_period_ms},
            )
        },
    )


def encode_action_definition(instance_ids: Sequence[str], granularity_ms: int) -> bytes:
    items = [
        {"measType": ("measName", name), "labelInfoList": [{"measLabel": {"noLabel": "true"}}]}
        for name in measurement_names(instance_ids)
    ]
    return kpm().encode(
        "E2SM-KPM-ActionDefinition",
        {
            "ric-Style-Type": 1,
            "actionDefinition-formats": (
                "actionDefinition-Format1",
                {"measInfoList": items, "granulPeriod": granularity_ms},
            ),
        },
    )


def decode_action_definition(data: bytes) -> tuple[list[str], int]:
    try:
        val = kpm().decode("E2SM-KPM-ActionDefinition", data)
        kind, fmt = val["actionDefinition-formats"]
    except Exception as exc:
        raise E2DecodeError("kpm-action", str(exc)) from None
    if kind != "actionDefinition-Format1":
        raise E2DecodeError("kpm-action", f"unsupported {kind}")
    return [item["measType"][1] for item in fmt["measInfoList"]], fmt["granulPeriod"]


NTP_UNIX_OFFSET = 2_208_988_800  # seconds from 1900-01-01 (NTP's epoch) to 1970-01-01
_FRACTION = 2.0**32


def ntp_timestamp(t: float) -> bytes:
    """E2SM-KPM ``TimeStamp``: the 64-bit NTP timestamp of IETF RFC 5905 — 32-bit seconds since
    1900-01-01 and a 32-bit binary fraction, big endian — of ``t``, seconds since the Unix
    epoch (the twin's simulated clock starts at 0, i.e. 1970-01-01). Times from 2036-02-07 on
    are in NTP era 1 (the seconds wrap), decoded back by :func:`from_ntp_timestamp`."""
    if not (math.isfinite(t) and 0.0 <= t <= MAX_TIME_S):
        raise ValueError(f"time {t!r} is not representable as an NTP timestamp here")
    whole = math.floor(t)
    frac = round((t - whole) * _FRACTION)
    if frac >= 2**32:  # rounded up to the next second
        whole, frac = whole + 1, 0
    secs = (whole + NTP_UNIX_OFFSET) % 2**32
    if secs == 0 and frac == 0:  # the era's first instant reads as "unknown": 0.23 ns later
        frac = 1
    return struct.pack(">II", secs, frac)


def from_ntp_timestamp(data: bytes) -> float:
    """Seconds since the Unix epoch of an RFC 5905 timestamp; :class:`MeasurementError` for
    one that is not 8 octets or is 0 (RFC 5905: time unknown). Seconds with the top bit clear
    are NTP era 1 (2036–2104), as RFC 4330 resolves the era."""
    if len(data) != 8:
        raise MeasurementError("colletStartTime", f"{len(data)} octets, an NTP timestamp has 8")
    secs, frac = struct.unpack(">II", data)
    if secs == 0 and frac == 0:
        raise MeasurementError("colletStartTime", "0: the E2 node's clock is not set (RFC 5905)")
    era = 0 if secs & 0x8000_0000 else 2**32
    return secs + era - NTP_UNIX_OFFSET + frac / _FRACTION


def encode_report(
    collected_at: float,
    node_id: str,
    instance_ids: Sequence[str],
    measurements: Sequence[InstanceMeasurement],
    granularity_ms: int,
) -> tuple[bytes, bytes]:
    """(indication header, indication message) of one node's report."""
    by_id = {m.instance_id: m for m in measurements}
    unknown = set(by_id) - set(instance_ids)
    if unknown:
        raise ValueError(f"instances not in the catalogue: {sorted(unknown)}")
    record: list[tuple[str, object]] = []
    for iid in instance_ids:
        m = by_id.get(iid)
        record.extend(kpm_items(m) if m is not None else [("noValue", None)] * len(FIELDS))
    header = kpm().encode(
        "E2SM-KPM-IndicationHeader",
        {
            "indicationHeader-formats": (
                "indicationHeader-Format1",
                {
                    "colletStartTime": ntp_timestamp(collected_at),
                    "senderName": node_id[:400],
                    "senderType": "HAF",
                },
            )
        },
    )
    message = kpm().encode(
        "E2SM-KPM-IndicationMessage",
        {
            "indicationMessage-formats": (
                "indicationMessage-Format1",
                {"measData": [{"measRecord": record}], "granulPeriod": granularity_ms},
            )
        },
    )
    return header, message


def decode_report(
    header: bytes,
    message: bytes,
    instance_ids: Sequence[str],
    earlier_sizes: frozenset[int] = frozenset(),
) -> tuple[float, str, list[InstanceMeasurement]]:
    """(collection time, sender name, validated measurements of the resident instances).

    ``earlier_sizes``: catalogue lengths before admissions (issue 16) appended instances to
    ``instance_ids``; a report without names that lists exactly one of those many instances is
    read against that prefix (an E2 node that has not yet started the new instance).

    Raises :class:`E2DecodeError`: kind ``kpm-header`` or ``kpm-message`` for bytes that are
    not the expected KPM structure, ``kpm-value`` for a name or value out of its range (the
    message names the measurement).
    """
    try:
        h = kpm().decode("E2SM-KPM-IndicationHeader", header)
        _, hf = h["indicationHeader-formats"]
        stamp = hf["colletStartTime"]
        node_id = hf.get("senderName", "")
    except Exception as exc:
        raise E2DecodeError("kpm-header", str(exc)[:200]) from None
    try:
        collected = from_ntp_timestamp(stamp)
    except MeasurementError as exc:
        raise E2DecodeError("kpm-value", str(exc)) from None
    if collected < 0.0:
        raise E2DecodeError("kpm-value", f"colletStartTime: before 1970 ({collected:.0f} s)")
    # The shape our E2 nodes send, read by hand (issue 17); USE_FAST = False is the
    # library-only path (the benchmark's "before").
    record = fast_record(message) if USE_FAST else None
    info = None
    if record is None:  # anything else: asn1tools, the reference
        try:
            m = kpm().decode("E2SM-KPM-IndicationMessage", message)
            mk, mf = m["indicationMessage-formats"]
        except Exception as exc:
            raise E2DecodeError("kpm-message", str(exc)[:200]) from None
        if mk != "indicationMessage-Format1":
            raise E2DecodeError("kpm-message", f"unsupported {mk}")
        if len(mf["measData"]) != 1:
            raise E2DecodeError("kpm-message", f"{len(mf['measData'])} measData items, expected 1")
        record = mf["measData"][0]["measRecord"]
        info = mf.get("measInfoList")
    try:
        if info is None:
            n = len(record) // len(FIELDS)
            if n in earlier_sizes and n * len(FIELDS) == len(record):
                instance_ids = instance_ids[:n]
            return collected, node_id, _by_slot(record, instance_ids)
        return collected, node_id, _by_name(record, info, instance_ids)
    except MeasurementError as exc:
        raise E2DecodeError("kpm-value", str(exc)) from None


def _resident(items: Sequence[tuple[str, object]]) -> bool:
    """An instance with noValue in every slot is not on the reporting node."""
    return items[0][0] != "noValue" or any(c != "noValue" for c, _ in items)


def _by_slot(
    record: Sequence[tuple[str, object]], instance_ids: Sequence[str]
) -> list[InstanceMeasurement]:
    """No ``measInfoList``: the names are the subscription's, in its order (instance-major)."""
    width = len(FIELDS)
    if len(record) != width * len(instance_ids):
        raise MeasurementError(
            "measRecord",
            f"{len(record)} values, the subscription lists {width * len(instance_ids)}",
        )
    out = []
    for k, iid in enumerate(instance_ids):
        items = record[k * width : (k + 1) * width]
        if _resident(items):
            out.append(measurement_from_kpm(iid, items))
    return out


def _by_name(
    record: Sequence[tuple[str, object]], info: Sequence[dict], instance_ids: Sequence[str]
) -> list[InstanceMeasurement]:
    """``measInfoList`` present: each value placed by its own measurement name."""
    if len(info) != len(record):
        raise MeasurementError("measInfoList", f"{len(info)} names for {len(record)} values")
    catalogue = set(instance_ids)
    slot = {f: k for k, f in enumerate(FIELDS)}
    grouped: dict[str, list] = {}
    for k, (item, value) in enumerate(zip(info, record, strict=True)):
        kind, name = item["measType"]
        if kind != "measName":
            raise MeasurementError(f"measInfoList[{k}]", "measID is not supported, use names")
        prefix, _, rest = name.partition(".")
        field, _, iid = rest.partition(".")
        if prefix != "HAF" or field not in slot or iid not in catalogue:
            raise MeasurementError(name[:160], "not a measurement of this subscription")
        items = grouped.setdefault(iid, [None] * len(FIELDS))
        if items[slot[field]] is not None:
            raise MeasurementError(name, "reported twice")
        items[slot[field]] = value
    out = []
    for iid in instance_ids:  # catalogue order, as without names
        items = grouped.get(iid)
        if items is None:
            continue
        for k, item in enumerate(items):
            if item is None:
                raise MeasurementError(measurement_name(FIELDS[k], iid), "missing")
        if _resident(items):
            out.append(measurement_from_kpm(iid, items))
    return out


# --- E2AP (pycrate) ----------------------------------------------------------------------------
@cache
def _pdu():
    from pycrate_asn1dir import E2AP

    return E2AP.E2AP_PDU_Descriptions.E2AP_PDU


@dataclass(frozen=True)
class E2apIndication:
    requestor_id: int
    instance_id: int
    ran_function_id: int
    action_id: int
    sequence_number: int
    header: bytes
    message: bytes


def _ie(ie_id: int, name: str, value: object) -> dict:
    return {"id": ie_id, "criticality": "reject", "value": (name, value)}


def encode_indication(ind: E2apIndication) -> bytes:
    """E2AP RICindication (procedure 5) around a KPM header and message."""
    pdu = _pdu()
    pdu.set_val(
        (
            "initiatingMessage",
            {
                "procedureCode": 5,
                "criticality": "ignore",
                "value": (
                    "RICindication",
                    {
                        "protocolIEs": [
                            _ie(
                                29,
                                "RICrequestID",
                                {
                                    "ricRequestorID": ind.requestor_id,
                                    "ricInstanceID": ind.instance_id,
                                },
                            ),
                            _ie(5, "RANfunctionID", ind.ran_function_id),
                            _ie(15, "RICactionID", ind.action_id),
                            _ie(27, "RICindicationSN", ind.sequence_number),
                            _ie(28, "RICindicationType", "report"),
                            _ie(25, "RICindicationHeader", ind.header),
                            _ie(26, "RICindicationMessage", ind.message),
                        ]
                    },
                ),
            },
        )
    )
    return pdu.to_aper()


def _decode_e2ap(data: bytes, procedure: str) -> dict[int, object]:
    pdu = _pdu()
    try:
        pdu.from_aper(data)
        kind, body = pdu.get_val()
        name, content = body["value"]
    except Exception as exc:
        raise E2DecodeError("e2ap", str(exc) or type(exc).__name__) from None
    if name != procedure:
        raise E2DecodeError("e2ap", f"expected {procedure}, got {kind}/{name}")
    return {ie["id"]: ie["value"][1] for ie in content["protocolIEs"]}


def decode_indication(data: bytes) -> E2apIndication:
    fast = read_indication(data) if USE_FAST else None
    if fast is not None:
        return E2apIndication(*fast)
    ies = _decode_e2ap(data, "RICindication")
    try:
        req = ies[29]
        return E2apIndication(
            req["ricRequestorID"],
            req["ricInstanceID"],
            ies[5],
            ies[15],
            ies.get(27, 0),
            ies[25],
            ies[26],
        )
    except (KeyError, TypeError) as exc:
        raise E2DecodeError("e2ap", f"RICindication lacks IE {exc}") from None


def encode_control(requestor_id: int, instance_id: int, message: bytes) -> bytes:
    """E2AP RICcontrolRequest (procedure 4) carrying an E2SM-HAF control message."""
    if USE_FAST:
        out = write_control(requestor_id, instance_id, HAF_RAN_FUNCTION_ID, CONTROL_HEADER, message)
        if out is not None:
            return out
    pdu = _pdu()
    pdu.set_val(
        (
            "initiatingMessage",
            {
                "procedureCode": 4,
                "criticality": "reject",
                "value": (
                    "RICcontrolRequest",
                    {
                        "protocolIEs": [
                            _ie(
                                29,
                                "RICrequestID",
                                {"ricRequestorID": requestor_id, "ricInstanceID": instance_id},
                            ),
                            _ie(5, "RANfunctionID", HAF_RAN_FUNCTION_ID),
                            _ie(22, "RICcontrolHeader", CONTROL_HEADER),
                            _ie(23, "RICcontrolMessage", message),
                        ]
                    },
                ),
            },
        )
    )
    return pdu.to_aper()


def decode_control(data: bytes) -> bytes:
    """The E2SM-HAF control message inside a RICcontrolRequest."""
    ies = _decode_e2ap(data, "RICcontrolRequest")
    if ies.get(22) != CONTROL_HEADER or 23 not in ies:
        raise E2DecodeError("e2ap", "RICcontrolRequest is not an E2SM-HAF control")
    return ies[23]  # type: ignore[return-value]
