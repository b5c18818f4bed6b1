"""A peer on real RMR (OSC's librmr_si.so through ricxappframe's bindings), driven over stdin.

tests/test_osc_rmr.py runs it as its own process (the C library is found through
LD_LIBRARY_PATH, which must be set before the process starts). It plays the E2 termination and
the A1 mediator towards the xApp: one JSON command per stdin line, one JSON answer per line.

    {"op": "send", "mtype": 12050, "payload": "<base64>", "meid": "node-1", "sub_id": -1}
        -> {"state": 0}
    {"op": "recv", "timeout_ms": 2000}
        -> {"mtype": 12040, "payload": "<base64>", "meid": "node-1", "sub_id": -1} or {"none": true}
    {"op": "quit"}

Usage: ``python -m tests.rmr_peer PORT`` (with RMR_SEED_RT naming where its sends go).
"""

from __future__ import annotations

import base64
import json
import sys
import time


def main() -> None:
    from ricxappframe.rmr import rmr

    port = sys.argv[1]
    ctx = rmr.rmr_init(port.encode(), rmr.RMR_MAX_RCV_BYTES, rmr.RMRFL_NONE)
    deadline = time.monotonic() + 10
    while rmr.rmr_ready(ctx) == 0:
        if time.monotonic() > deadline:
            print(json.dumps({"error": "RMR not ready"}), flush=True)
            return
        time.sleep(0.05)
    print(json.dumps({"ready": True}), flush=True)
    rbuf = rmr.rmr_alloc_msg(ctx, rmr.RMR_MAX_RCV_BYTES)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "quit":
            break
        if cmd["op"] == "send":
            payload = base64.b64decode(cmd["payload"])
            meid = cmd.get("meid")
            sub_id = cmd.get("sub_id", -1)
            sbuf = rmr.rmr_alloc_msg(
                ctx,
                len(payload),
                payload=payload,
                gen_transaction_id=True,
                mtype=cmd["mtype"],
                meid=meid.encode() if meid else None,
                sub_id=sub_id if sub_id >= 0 else None,
            )
            for _ in range(20):  # RMR's own advice: retry a soft failure
                sbuf = rmr.rmr_send_msg(ctx, sbuf)
                if sbuf.contents.state == 0:
                    break
                time.sleep(0.05)
            state = sbuf.contents.state
            rmr.rmr_free_msg(sbuf)
            print(json.dumps({"state": state}), flush=True)
        elif cmd["op"] == "recv":
            rbuf = rmr.rmr_torcv_msg(ctx, rbuf, cmd.get("timeout_ms", 2000))
            s = rmr.message_summary(rbuf)
            if s[rmr.RMR_MS_MSG_STATE] != 0:
                print(json.dumps({"none": True, "state": s[rmr.RMR_MS_MSG_STATE]}), flush=True)
                continue
            meid = s.get(rmr.RMR_MS_MEID) or b""
            print(
                json.dumps(
                    {
                        "mtype": s[rmr.RMR_MS_MSG_TYPE],
                        "payload": base64.b64encode(s[rmr.RMR_MS_PAYLOAD]).decode(),
                        "meid": meid.decode(errors="replace") if isinstance(meid, bytes) else meid,
                        "sub_id": s[rmr.RMR_MS_SUB_ID],
                    }
                ),
                flush=True,
            )
    rmr.rmr_close(ctx)


if __name__ == "__main__":
    main()
