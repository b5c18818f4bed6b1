"""RMR adapter checks, run by tests/test_rmr.py in a fresh interpreter.

ricxappframe's legacy generated protobuf modules import only with
PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python, which must be set before protobuf is first
imported — hence a process of its own (the container image sets it the same way). The RMR C
library (librmr_si.so) is stubbed; message buffers come from ricxappframe.rmr.rmr_mocks.
"""

from __future__ import annotations

import json
import sys
import time
import types
from unittest import mock

CONSTANTS = {
    "RMR_MAX_RCV_BYTES": 65536,
    "RMRFL_MTCALL": 2,
    "RMRFL_NONE": 0,
    "RMR_OK": 0,
    "RMR_ERR_NOENDPT": 2,
    "RMR_ERR_RETRY": 10,
    "RMR_ERR_TIMEOUT": 12,
    "RMR_MAX_MEID": 32,
    "RMR_MAX_XID": 32,
    "RMR_MAX_SRC": 64,
}

stub = types.ModuleType("ricxappframe.rmr.rmrclib.rmrclib")
stub.rmr_c_lib = mock.MagicMock(name="librmr_si.so")
stub.get_constants = lambda cache={}: CONSTANTS
stub.state_to_status = lambda state: f"state {state}"
sys.modules["ricxappframe.rmr.rmrclib.rmrclib"] = stub

from ricxappframe.rmr import helpers, rmr  # noqa: E402
from ricxappframe.rmr.rmr_mocks import rmr_mocks  # noqa: E402

from tests.test_xapp import CONFIG, _indication, a1  # noqa: E402
from xapp_alloc import core as xc  # noqa: E402
from xapp_alloc.e2 import codec  # noqa: E402


class Patch:
    """Just enough of pytest's monkeypatch for rmr_mocks.patch_rmr."""

    def setattr(self, target, value):
        mod, _, name = target.rpartition(".")
        setattr(sys.modules[mod], name, value)


rmr_mocks.patch_rmr(Patch())
sent = []


def sender(state):
    base = rmr_mocks.send_mock_generator(state)

    def send(mrc, sbuf):
        c = sbuf.contents
        sent.append((c.mtype, c.payload, c.meid, c.sub_id))
        return base(mrc, sbuf)

    return send


def idle_receive(_mrc, timeout=0):  # the framework's receive thread: nothing arrives
    time.sleep(0.01)
    return iter(())


helpers.rmr_rcvall_msgs_raw = idle_receive


def inbound(mtype, payload, meid=None, sub_id=-1):
    sbuf = rmr_mocks.Rmr_mbuf_t()
    c = sbuf.contents
    c.mtype, c.payload, c.len, c.meid, c.sub_id = mtype, payload, len(payload), meid, sub_id
    return rmr.message_summary(sbuf), sbuf


def check_routing() -> None:
    """As the container's main() wires it: the instrumented core behind the lock that the
    gRPC StateService shares."""
    from xapp_alloc.metrics import InstrumentedCore
    from xapp_alloc.standalone import Standalone
    from xapp_alloc.transport.rmr import RmrTransport

    rmr.rmr_send_msg = sender(0)
    host = Standalone(InstrumentedCore(xc.XappCore(CONFIG)), clock=lambda: 1.0)
    tr = RmrTransport(host, wait_for_ready=False, use_fake_sdl=True, clock=lambda: 1.0)
    counters = host.inner.counters
    try:
        assert sent[0][0] == xc.A1_POLICY_QUERY, sent
        assert json.loads(sent[0][1])["policy_type_id"] == 21000
        tr.run(thread=True, rmr_timeout=0.05)
        q = tr.xapp._rmr_loop.rcv_queue
        meas = [codec.InstanceMeasurement("du-1", 5e10, 0, 2000.0, 5e10, 5e-4, 0, False)]
        q.put(inbound(xc.RIC_INDICATION, _indication(meas), b"balanced-1"))
        pol = {"epoch": 1, "migrations": [{"instance_id": "large-ai-1", "to_node": "gpu-heavy-1"}]}
        q.put(inbound(xc.A1_POLICY_REQ, a1(pol), None, 21000))
        q.put(inbound(4242, b"unknown"))
        deadline = time.time() + 10
        while (len(sent) < 3 or counters.dropped["unknown-type"] < 1) and time.time() < deadline:
            time.sleep(0.01)
    finally:
        tr.xapp._keep_going = False
        tr.xapp._rmr_loop._keep_going = False
    assert [s[0] for s in sent] == [xc.A1_POLICY_QUERY, xc.RIC_CONTROL_REQ, xc.A1_POLICY_RESP], sent
    assert sent[1][2] == b"balanced-1", sent[1]
    assert json.loads(sent[2][1])["status"] == "OK" and sent[2][3] == 21000
    assert counters.dropped["unknown-type"] == 1
    assert tr.sent == 3 and tr.send_failures == 0
    placed = {i.instance_id: i.node_id for i in host.snapshot().instances}
    assert placed["large-ai-1"] == "gpu-heavy-1"  # what the rApp reads over gRPC
    print("routing ok")


def check_send_failures() -> None:
    from xapp_alloc.transport.rmr import RmrTransport

    sent.clear()
    rmr.rmr_send_msg = sender(10)  # RMR_ERR_RETRY every time
    tr = RmrTransport(xc.XappCore(CONFIG), wait_for_ready=False, use_fake_sdl=True, retries=3)
    tr.xapp._rmr_loop._keep_going = False
    assert tr.send_failures == 1 and tr.sent == 0 and len(sent) == 3
    print("send failures ok")


if __name__ == "__main__":
    check_routing()
    check_send_failures()
