"""A loopback network emulator: a TCP proxy that adds delay and limits bandwidth.

It stands between the rApp and a cloud model server so that a test or an experiment can put
the cloud "far away" without root or ``tc``: every chunk is held for half the round-trip time
in each direction, and each direction is a serial link of ``bandwidth`` bytes/s (a chunk
leaves only when the link has sent everything before it). ``down()`` makes the proxy refuse
connections (the server stopped); ``blackhole()`` accepts and never answers (a dead route).
Conditions change live with :meth:`NetemProxy.set`; connections opened later see them, and
open connections see them on their next chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)

_CHUNK = 4096  # bytes per read: small enough that bandwidth pacing is smooth


@dataclass
class Link:
    rtt_s: float = 0.0
    bandwidth_bps: float = float("inf")  # bytes per second, each direction
    mode: str = "up"  # up | down (refuse) | blackhole (accept, never forward)


class NetemProxy:
    """``NetemProxy(target_host, target_port)``; ``start()`` returns the local port."""

    def __init__(self, target_host: str, target_port: int, link: Link | None = None) -> None:
        self.target = (target_host, target_port)
        self.link = link or Link()
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.bytes = {"up": 0, "down": 0}
        self._tasks: set = set()

    # --- control ------------------------------------------------------------------------------
    def set(self, rtt_s: float | None = None, bandwidth_bps: float | None = None) -> None:
        if rtt_s is not None:
            self.link.rtt_s = max(0.0, rtt_s)
        if bandwidth_bps is not None:
            self.link.bandwidth_bps = max(1.0, bandwidth_bps)
        self.link.mode = "up"

    def down(self) -> None:
        self.link.mode = "down"

    def blackhole(self) -> None:
        self.link.mode = "blackhole"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> int:
        self._thread = threading.Thread(target=self._run, name="netem", daemon=True)
        self._thread.start()
        if not self._ready.wait(5.0):
            raise RuntimeError("netem proxy did not start")
        return self.port

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def __enter__(self) -> NetemProxy:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._server = loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            tasks = asyncio.all_tasks(loop)
            for t in tasks:  # open connections end with the proxy, quietly
                t.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.close()

    # --- the link -----------------------------------------------------------------------------
    async def _handle(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)  # asyncio keeps only weak references to tasks
        try:
            await self._serve(cr, cw)
        except asyncio.CancelledError:
            pass  # the proxy is stopping: its connections end with it
        finally:
            self._tasks.discard(task)

    async def _serve(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        if self.link.mode == "down":
            cw.transport.abort()  # connection reset: what a stopped server looks like
            return
        if self.link.mode == "blackhole":
            await cr.read()  # swallow until the client gives up
            cw.close()
            return
        # Bytes are time-stamped as they leave the client; the server sees the connection when
        # the first of them would reach it (rtt/2 later), not at once: its idle timeout must not
        # run while the request is still "in flight".
        up: asyncio.Queue = asyncio.Queue()
        reading = asyncio.ensure_future(self._read(cr, up))
        first = await up.get()
        await asyncio.sleep(max(0.0, first[0] + self.link.rtt_s / 2 - time.monotonic()))
        try:
            sr, sw = await asyncio.open_connection(*self.target)
        except OSError:
            reading.cancel()
            cw.transport.abort()
            return
        down: asyncio.Queue = asyncio.Queue()
        try:
            await asyncio.gather(
                reading,
                self._write(up, sw, "up", first),
                self._read(sr, down),
                self._write(down, cw, "down"),
            )
        except (ConnectionError, OSError):
            pass
        finally:
            sw.close()
            cw.close()

    @staticmethod
    async def _read(r: asyncio.StreamReader, q: asyncio.Queue) -> None:
        """Chunks with the time they were read; an empty chunk ends the stream."""
        while True:
            try:
                data = await r.read(_CHUNK)
            except (ConnectionError, OSError):
                data = b""
            await q.put((time.monotonic(), data))
            if not data:
                return

    async def _write(
        self,
        q: asyncio.Queue,
        w: asyncio.StreamWriter,
        way: str,
        first: tuple[float, bytes] | None = None,
    ) -> None:
        """One direction: each chunk arrives ``rtt/2`` after it was read and leaves the link
        ``len/bandwidth`` after the previous chunk left (a serial link); bytes trickle out in
        slices of ~50 ms of the link, as on a real slow link (a server's read timeout sees them
        coming, not one late burst)."""
        link_free = 0.0
        item = first
        while True:
            t_read, data = item if item is not None else await q.get()
            item = None
            if not data:
                break
            link_free = max(t_read + self.link.rtt_s / 2, link_free)
            step = int(min(_CHUNK, max(64, self.link.bandwidth_bps * 0.05)))
            for k in range(0, len(data), step):
                piece = data[k : k + step]
                link_free += len(piece) / self.link.bandwidth_bps
                delay = link_free - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if self.link.mode != "up":
                    return
                w.write(piece)
                self.bytes[way] += len(piece)
                await w.drain()
        with contextlib.suppress(OSError, RuntimeError):
            w.write_eof()
