"""RMR transport: the OSC xApp framework (``ricxappframe.RMRXapp``) around a :class:`Handler`.

RIC_INDICATION and A1_POLICY_REQ are registered with the framework, both on one callback that
passes the message type, payload, subscription id and MEID to ``Handler.handle`` (the
:class:`~xapp_alloc.standalone.Standalone` host, whose lock and guard the gRPC server shares);
any other type reaches the same callback through the framework's default handler, and the core
counts and drops it. RIC_HEALTH_CHECK_REQ is answered by the framework itself. Outputs leave with
``rmr_send_msg``: controls addressed to their E2 node by MEID, A1 answers carrying the policy
type id as subscription id. After RMR is ready, the handler's start messages (A1_POLICY_QUERY)
are sent. :func:`main` is the container's entry point (``$CONFIG_FILE`` is the descriptor).

ricxappframe loads the RMR C library (``librmr_si.so``) at import, so this module imports it
lazily; the container image installs RMR 4.9.x. tests/rmr_adapter_check.py runs it against
``ricxappframe.rmr.rmr_mocks`` with the C library stubbed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from xapp_alloc import core as xc

log = logging.getLogger(__name__)

RMR_DATA_PORT = 4560
GRPC_PORT = 50051  # StateService for the rApp (descriptor port "grpc")


class RmrTransport:
    def __init__(
        self,
        core: xc.Handler,
        rmr_port: int = RMR_DATA_PORT,
        wait_for_ready: bool = True,
        use_fake_sdl: bool = False,
        clock: Callable[[], float] = time.time,
        retries: int = 10,
    ) -> None:
        from ricxappframe.rmr import rmr
        from ricxappframe.xapp_frame import RMRXapp

        self.core = core
        self.clock = clock
        self.retries = retries
        self._rmr = rmr
        self.sent: int = 0
        self.send_failures: int = 0
        self.xapp = RMRXapp(
            self._on_unknown,
            config_handler=self._on_config,
            rmr_port=rmr_port,
            rmr_wait_for_ready=wait_for_ready,
            use_fake_sdl=use_fake_sdl,
            post_init=self._post_init,
        )
        self.xapp.register_callback(self._on_message, xc.RIC_INDICATION)
        self.xapp.register_callback(self._on_message, xc.A1_POLICY_REQ)

    # --- framework callbacks ---------------------------------------------------------------
    def _post_init(self, xapp) -> None:
        for msg in self.core.start():  # recover A1 policies
            self.send(msg, xapp)

    def _on_config(self, xapp, config: dict) -> None:
        log.info("config (re)loaded: %s", sorted(config))

    def _on_message(self, xapp, summary: dict, sbuf) -> None:
        rmr = self._rmr
        meid = summary.get(rmr.RMR_MS_MEID) or b""
        outs = self.core.handle(
            summary[rmr.RMR_MS_MSG_TYPE],
            summary.get(rmr.RMR_MS_PAYLOAD) or b"",
            self.clock(),
            summary.get(rmr.RMR_MS_SUB_ID, -1),
            meid.decode(errors="replace") if isinstance(meid, bytes) else str(meid),
        )
        xapp.rmr_free(sbuf)
        for out in outs:
            self.send(out, xapp)

    def _on_unknown(self, xapp, summary: dict, sbuf) -> None:
        # Types without a handler go through the core too, which counts and drops them.
        self._on_message(xapp, summary, sbuf)

    # --- sending -------------------------------------------------------------------------------
    def send(self, msg: xc.Message, xapp=None) -> bool:
        xapp = xapp or self.xapp
        rmr = self._rmr
        sbuf = rmr.rmr_alloc_msg(
            xapp._mrc,
            len(msg.payload),
            payload=msg.payload,
            gen_transaction_id=True,
            mtype=msg.mtype,
            meid=msg.meid.encode() if msg.meid else None,
            sub_id=msg.sub_id if msg.sub_id >= 0 else None,
        )
        try:
            for _ in range(self.retries):
                sbuf = rmr.rmr_send_msg(xapp._mrc, sbuf)
                if sbuf.contents.state == 0:
                    self.sent += 1
                    return True
            self.send_failures += 1
            log.warning("RMR send of type %d failed after %d tries", msg.mtype, self.retries)
            return False
        finally:
            rmr.rmr_free_msg(sbuf)

    def run(self, thread: bool = False, rmr_timeout: float = 5) -> None:
        self.xapp.run(thread=thread, rmr_timeout=rmr_timeout)


def main() -> None:
    """Container entry point: the controls of ``$CONFIG_FILE`` → core → RMR, forever."""
    import os

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from xapp_alloc.process import assemble, load_config
    from xapp_alloc.subscription import SUBMGR_URL, subscribe_all

    config = load_config(os.environ.get("CONFIG_FILE", "/opt/ric/config/config-file.json"))
    # One host: RMR callbacks, gRPC snapshot reads and the probes share its lock; A1 goes to the
    # RIC's mediator over RMR (no local store).
    proc = assemble(
        config,
        grpc_address=f"0.0.0.0:{os.environ.get('GRPC_PORT', GRPC_PORT)}",
        http_address="0.0.0.0",
        http_port=int(os.environ.get("HTTP_PORT", "8080")),
        local_mediator=False,
    )
    transport = RmrTransport(proc.host)
    if os.environ.get("HAF_SUBSCRIBE", "1") != "0":  # KPM reports from every configured node
        threading.Thread(
            target=subscribe_all,
            args=([n.node_id for n in config.nodes], config.instance_ids),
            kwargs={
                "reporting_period_ms": config.reporting_period_ms,
                "url": os.environ.get("SUBMGR_URL", SUBMGR_URL),
                "host": os.environ.get("XAPP_HTTP_HOST", "service-ricxapp-haf-xapp-http.ricxapp"),
            },
            daemon=True,
        ).start()
    transport.run()


if __name__ == "__main__":
    main()
