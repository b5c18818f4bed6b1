"""The hand-written KPM reader (issue 17) against asn1tools, the reference: the same record on
every message of the shape it reads, None (asn1tools decides) on anything else."""

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
