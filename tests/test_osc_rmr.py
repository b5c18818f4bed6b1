"""The xApp over real OSC RMR (4.9.4, built from ../shared/vendor) on loopback.

The container's entry point (``python -m xapp_alloc.transport.rmr``) runs with the built
``librmr_si.so``; a second process on RMR (tests/rmr_peer.py, ricxappframe's bindings) plays the
E2 termination and the A1 mediator. Skipped, saying why, without ../shared, cmake or a compiler.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import httpx
import pytest

from a1_policies.haf_placement import POLICY_TYPE_ID, build_policy
from proto import haf_pb2, haf_pb2_grpc
from tests import osc
from tests.test_xapp import DATA, a1
from xapp_alloc import core as xc
from xapp_alloc.tracefile import read_trace

pytest.importorskip("ricxappframe")  # installed by `make` with --no-deps (README)
pytestmark = pytest.mark.osc

ROOT = Path(__file__).resolve().parents[1]
CONFIG_FILE = ROOT / "xapp_alloc" / "deploy" / "config-file.json"


@pytest.fixture(scope="module")
def rmr_lib() -> Path:
    prefix = osc.rmr_prefix()
    if prefix is None:
        pytest.skip(f"real RMR not available: {osc.MISSING.get('rmr')}")
    return prefix


def _route_table(path: Path, routes: dict[int, int]) -> Path:
    lines = ["newrt|start", *(f"rte|{m}|127.0.0.1:{p}" for m, p in routes.items()), "newrt|end"]
    path.write_text("\n".join(lines) + "\n")
    return path


class Peer:
    """The E2 termination + A1 mediator stand-in, on real RMR, in its own process."""

    def __init__(self, rmr_lib: Path, port: int, xapp_port: int, tmp: Path) -> None:
        table = _route_table(
            tmp / f"peer-{port}.rt",
            {xc.RIC_INDICATION: xapp_port, xc.A1_POLICY_REQ: xapp_port, 4242: xapp_port},
        )
        env = dict(os.environ, **_rmr_env(rmr_lib, table, osc.free_port()))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.rmr_peer", str(port)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self._read() == {"ready": True}

    def _read(self) -> dict:
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        assert line, "the RMR peer died"
        return json.loads(line)

    def _cmd(self, **cmd) -> dict:
        self.proc.stdin.write(json.dumps(cmd) + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        return self._read()

    def send(self, mtype: int, payload: bytes, meid: str = "", sub_id: int = -1) -> int:
        return self._cmd(
            op="send",
            mtype=mtype,
            payload=base64.b64encode(payload).decode(),
            meid=meid,
            sub_id=sub_id,
        )["state"]

    def recv(self, timeout_ms: int = 3000) -> tuple[int, bytes, str, int] | None:
        r = self._cmd(op="recv", timeout_ms=timeout_ms)
        if r.get("none"):
            return None
        return r["mtype"], base64.b64decode(r["payload"]), r["meid"], r["sub_id"]

    def recv_type(self, mtype: int, timeout_s: float = 10.0) -> tuple[int, bytes, str, int]:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            m = self.recv(500)
            if m is not None and m[0] == mtype:
                return m
        raise AssertionError(f"no message of type {mtype} within {timeout_s} s")

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(AssertionError, BrokenPipeError, ValueError):
                self._cmd(op="quit")
            self.proc.kill()
        self.proc.wait(5)


def _rmr_env(rmr_lib: Path, table: Path, ctl_port: int) -> dict[str, str]:
    return {
        "LD_LIBRARY_PATH": str(rmr_lib / "lib"),
        "RMR_SEED_RT": str(table),
        "RMR_RTG_SVC": "-1",  # no routing manager: the seed table is the table
        "RMR_CTL_PORT": str(ctl_port),
        "RMR_BIND_IF": "127.0.0.1",
        "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION": "python",
        "PYTHONPATH": str(ROOT),
    }


class Xapp:
    """The container's entry point on real RMR, with its HTTP and gRPC ports on loopback."""

    def __init__(self, rmr_lib: Path, port: int, peer_port: int, tmp: Path, **env) -> None:
        self.port, self.http, self.grpc = port, osc.free_port(), osc.free_port()
        table = _route_table(
            tmp / f"xapp-{port}.rt",
            {
                xc.RIC_CONTROL_REQ: peer_port,
                xc.A1_POLICY_RESP: peer_port,
                xc.A1_POLICY_QUERY: peer_port,
            },
        )
        self.stash = tmp / f"xapp-{port}.stash"
        self.log = tmp / f"xapp-{port}.log"
        full = dict(
            os.environ,
            **_rmr_env(rmr_lib, table, osc.free_port()),
            RMR_STASH_RT=str(self.stash),
            RMR_PORT=str(port),
            HTTP_PORT=str(self.http),
            GRPC_PORT=str(self.grpc),
            BIND_ADDRESS="127.0.0.1",
            HAF_SUBSCRIBE="0",
            HAF_FAKE_SDL="1",
            CONFIG_FILE=str(CONFIG_FILE),
            **env,
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "xapp_alloc.transport.rmr"],
            cwd=ROOT,
            env=full,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        end = time.monotonic() + 30
        while time.monotonic() < end:
            try:
                if (
                    httpx.get(f"http://127.0.0.1:{self.http}/ric/v1/health/ready").status_code
                    == 200
                ):
                    return
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            time.sleep(0.2)
        raise AssertionError("xApp did not come up:\n" + self.log.read_text()[-3000:])

    def metric(self, name: str, **labels) -> float:
        text = httpx.get(f"http://127.0.0.1:{self.http}/metrics").text
        want = ",".join(f'{k}="{v}"' for k, v in labels.items())
        for line in text.splitlines():
            key, _, value = line.rpartition(" ")
            if key == (f"{name}{{{want}}}" if want else name):
                return float(value)
        return 0.0

    def snapshot(self) -> haf_pb2.StateSnapshot:
        with grpc.insecure_channel(f"127.0.0.1:{self.grpc}") as ch:
            return haf_pb2_grpc.StateServiceStub(ch).GetSnapshot(
                haf_pb2.SnapshotRequest(), timeout=5
            )

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait(5)


@pytest.fixture
def pair(rmr_lib, tmp_path):
    """A peer, then the xApp (its start-up query reaches the peer at once)."""
    xport, pport = osc.free_port(), osc.free_port()
    peer = Peer(rmr_lib, pport, xport, tmp_path)
    xapp = Xapp(rmr_lib, xport, pport, tmp_path)
    yield peer, xapp
    xapp.stop()
    peer.close()


def test_query_health_recording_and_a1_over_real_rmr(pair, rmr_lib):
    peer, xapp = pair
    # Start-up: the xApp asks the mediator for its policies (numeric type id, as the Go
    # mediator reads it).
    _, body, _, sub_id = peer.recv_type(xc.A1_POLICY_QUERY)
    assert json.loads(body) == {"policy_type_id": POLICY_TYPE_ID} and sub_id == POLICY_TYPE_ID
    # RMR's own health check tool: a 100 answered with a 101.
    r = subprocess.run(
        [str(rmr_lib / "bin" / "health_ck"), "-h", f"127.0.0.1:{xapp.port}", "-t", "5"],
        env=dict(os.environ, LD_LIBRARY_PATH=str(rmr_lib / "lib"), RMR_BIND_IF="127.0.0.1"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    # A recording's indications give controls identical to the recorded ones, byte for byte.
    records, _ = read_trace(DATA / "e2-static-0.3s.haftrace")
    inbound = [x for x in records if not x.outbound and x.mtype == xc.RIC_INDICATION][:60]
    recorded = [x for x in records if x.outbound and x.mtype == xc.RIC_CONTROL_REQ][:60]
    for rec, want in zip(inbound, recorded, strict=True):
        assert peer.send(rec.mtype, rec.payload, rec.meid) == 0
        _, payload, meid, _ = peer.recv_type(xc.RIC_CONTROL_REQ)
        assert (payload, meid) == (want.payload, want.meid)
    # A1 in the Go mediator's all-string form and in the older integer/object form.
    move = build_policy(1, [("small-ai-1", "cpu-heavy-1")], "test")
    for iid, string_form in (("p-go", True), ("p-py", False)):
        assert peer.send(xc.A1_POLICY_REQ, a1(move, "CREATE", iid, string_form)) == 0
        _, body, _, sub_id = peer.recv_type(xc.A1_POLICY_RESP)
        ans = json.loads(body)
        assert (ans["policy_instance_id"], ans["status"], sub_id) == (iid, "OK", POLICY_TYPE_ID)
    assert peer.send(xc.A1_POLICY_REQ, a1(None, "DELETE", "p-go")) == 0
    assert json.loads(peer.recv_type(xc.A1_POLICY_RESP)[1])["status"] == "DELETED"
    # An unknown message type is dropped: no answer, counted.
    assert peer.send(4242, b"what?") == 0
    assert peer.recv(1000) is None
    assert xapp.metric("haf_xapp_dropped_messages_total", kind="unknown-type") == 1
    snap = xapp.snapshot()
    assert {i.instance_id: i.node_id for i in snap.instances}["small-ai-1"] == "cpu-heavy-1"


def test_startup_query_is_retried_until_the_mediator_is_up_and_after_a_route_change(
    rmr_lib, tmp_path
):
    xport, pport = osc.free_port(), osc.free_port()
    xapp = Xapp(rmr_lib, xport, pport, tmp_path)  # no mediator yet: sends fail
    try:
        time.sleep(2.0)
        peer = Peer(rmr_lib, pport, xport, tmp_path)
        try:
            peer.recv_type(xc.A1_POLICY_QUERY, timeout_s=20)  # a retry reaches it
            # RMR saves each table the routing manager pushes to RMR_STASH_RT; a new one
            # means new routes: the xApp queries its policies again.
            xapp.stash.write_text("newrt|start\nnewrt|end\n")
            peer.recv_type(xc.A1_POLICY_QUERY, timeout_s=10)
        finally:
            peer.close()
    finally:
        assert xapp.stop() == 0
    log = xapp.log.read_text()
    assert "A1_POLICY_QUERY not delivered" in log and "route table" in log


def test_recovery_reaches_the_same_placement_in_any_replay_order(pair):
    """A real mediator replays CREATEs in its storage order (the Go mediator: unordered), not
    in epoch order."""
    peer, xapp = pair
    peer.recv_type(xc.A1_POLICY_QUERY)
    p9 = build_policy(9, [("small-ai-1", "cpu-heavy-1")], "haf-rapp")
    p10 = build_policy(10, [("small-ai-2", "cpu-heavy-2")], "haf-rapp")
    for iid, pol in (("haf-epoch-10", p10), ("haf-epoch-9", p9)):
        assert peer.send(xc.A1_POLICY_REQ, a1(pol, "CREATE", iid)) == 0
        assert json.loads(peer.recv_type(xc.A1_POLICY_RESP)[1])["status"] == "OK"
    placed = {i.instance_id: i.node_id for i in xapp.snapshot().instances}
    assert (placed["small-ai-1"], placed["small-ai-2"]) == ("cpu-heavy-1", "cpu-heavy-2")
    assert xapp.snapshot().epoch == 10


def test_sigterm_deregisters_and_exits(pair):
    _peer, xapp = pair
    assert xapp.stop() == 0
    log = xapp.log.read_text()
    assert "deregistering from the application manager" in log
