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
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from xapp_alloc import core as xc

log = logging.getLogger(__name__)

RMR_DATA_PORT = 4560
GRPC_PORT = 50051  # StateService for the rApp (descriptor port "grpc")
#: A1_POLICY_QUERY is re-sent until it is delivered: first after this many seconds, doubling.
QUERY_BACKOFF_S = (0.5, 30.0)


def route_table_file() -> Path | None:
    """Where RMR saves the route tables the routing manager sends (``RMR_STASH_RT``, else
    ``<RMR_SEED_RT>.stash``): its change means new routes, e.g. a restarted A1 mediator."""
    if os.environ.get("RMR_STASH_RT"):
        return Path(os.environ["RMR_STASH_RT"])
    if os.environ.get("RMR_SEED_RT"):
        return Path(os.environ["RMR_SEED_RT"] + ".stash")
    return None


def _signature(path: Path | None) -> tuple[int, int] | None:
    try:
        st = path.stat() if path is not None else None
    except OSError:
        return None
    return None if st is None else (st.st_ino, st.st_mtime_ns)


class RmrTransport:
    def __init__(
        self,
        core: xc.Handler,
        rmr_port: int = RMR_DATA_PORT,
        wait_for_ready: bool = True,
        use_fake_sdl: bool = False,
        clock: Callable[[], float] = time.time,
        retries: int = 10,
        query_backoff_s: tuple[float, float] = QUERY_BACKOFF_S,
    ) -> None:
        from ricxappframe.rmr import rmr
        from ricxappframe.xapp_frame import RMRXapp

        self.core = core
        self.clock = clock
        self.retries = retries
        self.query_backoff_s = query_backoff_s
        self._rmr = rmr
        self.sent: int = 0
        self.send_failures: int = 0
        self.queries_sent: int = 0
        self._stop = threading.Event()
        self._need_query = threading.Event()
        self._need_query.set()
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
        # Recover A1 policies: the query goes out from its own thread, retried with backoff
        # until delivered (the mediator may not be reachable yet) and again whenever the route
        # table changes (a restarted mediator may have lost our earlier query).
        self._xapp_for_queries = xapp
        threading.Thread(target=self._query_loop, name="a1-query", daemon=True).start()

    def _query_loop(self) -> None:
        first, cap = self.query_backoff_s
        wait = first
        table = route_table_file()
        seen = _signature(table)
        while not self._stop.is_set():
            if self._need_query.is_set():
                if all(self.send(m, self._xapp_for_queries) for m in self.core.start()):
                    self.queries_sent += 1
                    self._need_query.clear()
                    wait = first
                    log.info("A1_POLICY_QUERY delivered (%d so far)", self.queries_sent)
                else:
                    log.warning("A1_POLICY_QUERY not delivered; again in %.1f s", wait)
            self._stop.wait(wait if self._need_query.is_set() else min(first, 1.0))
            if self._need_query.is_set():
                wait = min(wait * 2, cap)
            now = _signature(table)
            if now != seen:
                seen = now
                log.info("route table %s changed: querying A1 policies again", table)
                self._need_query.set()
                wait = first

    def _on_config(self, xapp, config: dict) -> None:
        log.info("config (re)loaded: %s", sorted(config))

    def _on_message(self, xapp, summary: dict, sbuf) -> None:
        rmr = self._rmr
        meid = summary.get(rmr.RMR_MS_MEID) or b""
        mtype = summary[rmr.RMR_MS_MSG_TYPE]
        if mtype == xc.A1_POLICY_REQ:
            self._need_query.clear()  # the mediator is talking to us: recovery is under way
        outs = self.core.handle(
            mtype,
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

    def shutdown(self, deregister: bool = True) -> None:
        """Stop: deregister from the RIC's application manager, stop the RMR loop and the query
        thread. SIGTERM (Kubernetes' stop) calls it.

        ricxappframe's own ``stop()`` waits for its registration thread (up to ~10 s of retries)
        and then sleeps 10 s after deregistering; a pod has 30 s to stop, so this does the same
        steps without the waits: end the registration retries, deregister once, end the loops.
        """
        self._stop.set()
        xapp = self.xapp
        xapp._keep_registration = False
        if deregister:
            try:
                log.info("deregistering from the application manager")
                xapp.deregister()
            except Exception as exc:  # the app manager may be gone already: stop anyway
                log.warning("deregistration failed: %s", exc)
        xapp._keep_going = False  # ends RMRXapp.run's dispatch loop (what its stop() sets)
        xapp._rmr_loop.stop()


def main() -> None:
    """Container entry point: the controls of ``$CONFIG_FILE`` → core → RMR, until SIGTERM.

    Environment: ``CONFIG_FILE`` (the descriptor), ``RMR_PORT`` (4560), ``HTTP_PORT`` (8080),
    ``GRPC_PORT`` (50051), ``BIND_ADDRESS`` of the HTTP and gRPC servers (0.0.0.0),
    ``HAF_SUBSCRIBE=0`` to skip the KPM subscriptions, ``HAF_FAKE_SDL=1`` for a run without the
    RIC's database; RMR reads its own (``RMR_SEED_RT``, ``RMR_STASH_RT``, ``RMR_RTG_SVC``...).
    """
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from xapp_alloc.process import assemble, load_config
    from xapp_alloc.subscription import SUBMGR_URL, subscribe_all

    config = load_config(os.environ.get("CONFIG_FILE", "/opt/ric/config/config-file.json"))
    # One host: RMR callbacks, gRPC snapshot reads and the probes share its lock; A1 goes to the
    # RIC's mediator over RMR (no local store).
    bind = os.environ.get("BIND_ADDRESS", "0.0.0.0")
    up: list[RmrTransport] = []  # the transport, once RMR is ready (readiness probe, SIGTERM)
    stopping = threading.Event()

    def on_term(signum, _frame) -> None:
        log.info("signal %d: stopping", signum)
        stopping.set()
        if up:
            up[0].shutdown()

    signal.signal(signal.SIGTERM, on_term)
    proc = assemble(
        config,
        grpc_address=f"{bind}:{os.environ.get('GRPC_PORT', GRPC_PORT)}",
        http_address=bind,
        http_port=int(os.environ.get("HTTP_PORT", "8080")),
        local_mediator=False,
        ready=lambda: bool(up),
    )
    transport = RmrTransport(
        proc.host,
        rmr_port=int(os.environ.get("RMR_PORT", RMR_DATA_PORT)),
        use_fake_sdl=os.environ.get("HAF_FAKE_SDL", "0") == "1",
    )
    up.append(transport)
    if stopping.is_set():  # SIGTERM while RMR was starting
        transport.shutdown()
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
    try:
        transport.run()
    finally:
        proc.stop()


if __name__ == "__main__":
    main()
