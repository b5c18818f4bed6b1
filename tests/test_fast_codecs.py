"""The hand-written hot-path codecs (issue 17) against the libraries, the reference: the KPM
reader against asn1tools, the E2AP indication reader and control writer against pycrate — the
same values (bytes) on every message of the shapes they handle, None (the library decides) on
anything else."""

from __future__ import annotations

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from airan_twin.e2node import E2Loop
from airan_twin.run import make_twin
from airan_twin.scenario import load_scenario
from xapp_alloc import core as xc
from xapp_alloc.e2 import codec
from xapp_alloc.e2.e2ap_fast import read_indication, write_control
from xapp_alloc.e2.kpm_fast import fast_record

ITEM = st.one_of(
    st.just(("noValue", None)),
    st.tuples(st.just("integer"), st.integers(0, 2**32 - 1)),
    st.tuples(st.just("real"), st.floats(allow_nan=False)),
)


def _encode(record, granule=10, names=None) -> bytes:
    fmt: dict = {"measData": [{"measRecord": record}]}
    if granule is not None:
        fmt["granulPeriod"] = granule
    if names:
        fmt["measInfoList"] = [
            {"measType": ("measName", n), "labelInfoList": [{"measLabel": {"noLabel": "true"}}]}
            for n in names
        ]
    return codec.kpm().encode(
        "E2SM-KPM-IndicationMessage",
        {"indicationMessage-formats": ("indicationMessage-Format1", fmt)},
    )


def _reference(message: bytes):
    m = codec.kpm().decode("E2SM-KPM-IndicationMessage", message)
    return m["indicationMessage-formats"][1]["measData"][0]["measRecord"]


def _same(a, b) -> bool:  # -0.0 and 0.0 told apart, as the wire does
    return len(a) == len(b) and all(
        x[0] == y[0] and (repr(x[1]) == repr(y[1])) for x, y in zip(a, b, strict=True)
    )


@settings(max_examples=300, deadline=None)
@given(
    st.lists(ITEM, min_size=1, max_size=400),
    st.one_of(st.none(), st.integers(1, 2**32 - 1)),
)
def test_every_positional_message_reads_as_asn1tools_reads_it(record, granule):
    message = _encode(record, granule)
    got = fast_record(message)
    assert got is not None and _same(got, _reference(message))


def test_special_reals_round_trip():
    record = [("real", v) for v in (math.inf, -math.inf, -0.0, 0.0, 5e-324, 1.7976931348623157e308)]
    message = _encode(record)
    got = fast_record(message)
    assert got is not None and _same(got, _reference(message))
    assert [v for _, v in got][:2] == [math.inf, -math.inf] and got[5][1] == record[5][1]
    nan = fast_record(_encode([("real", math.nan)]))
    assert nan is not None and math.isnan(nan[0][1])


def test_other_shapes_are_left_to_asn1tools():
    assert fast_record(_encode([("integer", 1)], names=["HAF.WorkGpu.du-1"])) is None
    assert fast_record(b"") is None and fast_record(b"\x04\x00") is None
    good = _encode([("integer", 7), ("real", 1.5)])
    assert fast_record(good + b"\x00") is None  # trailing bytes
    assert fast_record(good[:-1]) is None  # truncated


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_fuzzed_messages_never_read_differently(data):
    """Flip bytes of a real message: the fast reader either declines, or reads what
    asn1tools reads — it never accepts a message asn1tools rejects or reads it otherwise."""
    base = _encode([("integer", 3), ("real", -2.5e10), ("noValue", None)] * 5, 10)
    raw = bytearray(base)
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    message = bytes(raw)
    got = fast_record(message)
    if got is None:
        return
    try:
        ref = _reference(message)
    except Exception as exc:
        raise AssertionError(f"fast reader accepted what asn1tools rejects: {exc}") from None
    assert _same(got, ref)


def test_recorded_twin_reports_read_the_same_both_ways():
    twin = make_twin(load_scenario(), "haf-static", 0.9, 2, 1.0, external_allocation=True)
    loop = E2Loop.build(twin, 0.02)
    twin.run()
    inds = [r for r in loop.record if r.mtype == xc.RIC_INDICATION and not r.outbound]
    assert len(inds) > 100
    rng = random.Random(0)
    for r in rng.sample(inds, 100):
        ind = codec.decode_indication(r.payload)
        got = fast_record(ind.message)
        assert got is not None and _same(got, _reference(ind.message))


# --- E2AP: RICindication in, RICcontrolRequest out -----------------------------------------
def _pycrate_indication(data: bytes) -> codec.E2apIndication:
    saved, codec.USE_FAST = codec.USE_FAST, False
    try:
        return codec.decode_indication(data)
    finally:
        codec.USE_FAST = saved


def _pycrate_control(req: int, inst: int, message: bytes) -> bytes:
    saved, codec.USE_FAST = codec.USE_FAST, False
    try:
        return codec.encode_control(req, inst, message)
    finally:
        codec.USE_FAST = saved


INDICATION = st.builds(
    codec.E2apIndication,
    st.integers(0, 65535),
    st.integers(0, 65535),
    st.integers(0, 4095),
    st.integers(0, 255),
    st.integers(0, 65535),
    st.binary(max_size=600),
    st.binary(max_size=3000),
)


@settings(max_examples=200, deadline=None)
@given(INDICATION)
def test_indications_read_by_hand_as_pycrate_reads_them(ind):
    data = codec.encode_indication(ind)
    fast = read_indication(data)
    assert fast is not None and codec.E2apIndication(*fast) == _pycrate_indication(data) == ind


@settings(max_examples=400, deadline=None)
@given(INDICATION, st.data())
def test_fuzzed_indications_never_read_differently(ind, data):
    raw = bytearray(codec.encode_indication(ind))
    for _ in range(data.draw(st.integers(1, 3))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    fast = read_indication(bytes(raw))
    if fast is None:
        return
    try:
        ref = _pycrate_indication(bytes(raw))
    except codec.E2DecodeError as exc:
        raise AssertionError(f"read by hand what pycrate rejects: {exc}") from None
    assert codec.E2apIndication(*fast) == ref


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 65535), st.integers(0, 65535), st.binary(max_size=20000))
def test_controls_written_by_hand_are_the_bytes_pycrate_writes(req, inst, message):
    fast = write_control(req, inst, codec.HAF_RAN_FUNCTION_ID, codec.CONTROL_HEADER, message)
    ref = _pycrate_control(req, inst, message)
    if fast is None:  # a length pycrate fragments
        assert len(message) >= 0x3F00 and codec.encode_control(req, inst, message) == ref
    else:
        assert fast == ref
    assert codec.decode_control(codec.encode_control(req, inst, message)) == message


def test_other_indication_shapes_are_left_to_pycrate():
    data = codec.encode_indication(codec.E2apIndication(7, 1, 2, 1, 5, b"h", b"m"))
    assert read_indication(data + b"\x00") is None
    assert read_indication(data[:-1]) is None
    assert read_indication(b"\x20" + data[1:]) is None  # not an initiatingMessage
    assert read_indication(b"") is None
