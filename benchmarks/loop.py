"""Closed-loop pieces on loopback: an E2 round trip over gRPC, an A1 PUT until ENFORCED, one
rApp epoch (snapshot over gRPC, heuristic agent, critic)."""

from __future__ import annotations

import statistics
import time

import httpx

from airan_twin.e2node import E2Loop
from airan_twin.run import make_twin
from airan_twin.scenario import cluster_config, load_scenario
from proto import haf_pb2, haf_pb2_grpc
from xapp_alloc import core as xc
from xapp_alloc.a1.rest import A1Server
from xapp_alloc.standalone import Standalone
from xapp_alloc.transport.grpc_server import XappGrpc


def _stats(lat: list[float]) -> dict:
    lat = sorted(lat)
    return {
        "n": len(lat),
        "median_ms": statistics.median(lat) * 1e3,
        "p99_ms": lat[int(0.99 * (len(lat) - 1))] * 1e3,
    }


def loop_latencies(n: int = 600) -> dict[str, dict]:
    sc = load_scenario()
    twin = make_twin(sc, "haf-static", 0.9, 1, 2.0, external_allocation=True)
    rec = E2Loop.build(twin, 0.02)
    twin.run()
    inds = [r for r in rec.record or [] if r.mtype == xc.RIC_INDICATION and not r.outbound][:n]
    host = Standalone(xc.XappCore(cluster_config(sc, 20)), envelope_clock=True)
    host.start()
    server = XappGrpc(host)
    port = server.serve("127.0.0.1:0")
    a1 = A1Server(host, port=0)
    a1.start()
    out: dict[str, dict] = {}
    try:
        import grpc

        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            relay = haf_pb2_grpc.E2RelayStub(ch)
            lat = []
            for r in inds:
                env = haf_pb2.Envelope(
                    mtype=r.mtype, meid=r.meid, payload=r.payload, timestamp=r.timestamp
                )
                t0 = time.perf_counter()
                relay.Deliver(env)
                lat.append(time.perf_counter() - t0)
            out["E2 indication → control (gRPC Deliver)"] = _stats(lat)
            state = haf_pb2_grpc.StateServiceStub(ch)
            lat = []
            for _ in range(200):
                t0 = time.perf_counter()
                state.GetSnapshot(haf_pb2.SnapshotRequest())
                lat.append(time.perf_counter() - t0)
            out["state snapshot (gRPC GetSnapshot)"] = _stats(lat)
        url = f"http://127.0.0.1:{a1.port}/A1-P/v2/policytypes/21000/policies"
        lat = []
        with httpx.Client() as client:
            for k in range(200):
                t0 = time.perf_counter()
                client.put(f"{url}/b{k}", json={"epoch": 0, "migrations": []})
                client.get(f"{url}/b{k}/status")
                lat.append(time.perf_counter() - t0)
        out["A1 PUT + status (REST)"] = _stats(lat)
        from rapp_placement.service import RappConfig, RappService

        svc = RappService(
            RappConfig(xapp_grpc=f"127.0.0.1:{port}", a1_url=f"http://127.0.0.1:{a1.port}")
        )
        lat = []
        for k in range(50):
            lat.append(svc.run_epoch(10_000 + k).duration_s)
        svc.close()
        out["rApp epoch (heuristic agent + critic)"] = _stats(lat)
    finally:
        a1.stop()
        server.stop()
    return out
