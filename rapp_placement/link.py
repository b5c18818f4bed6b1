"""Online estimates of the link to a cloud model server: RTT, bandwidth, compute, availability.

Nothing here is configured; everything is measured from the traffic the router sends anyway:

- **RTT** from a probe, a ``HEAD /v1/models`` (no body either way; any HTTP answer, even 405,
  has crossed the link once each way): the probe's time is one round trip, plus whatever the
  server or a busy client made it wait. Waiting only ever adds, so the estimate is the
  **minimum of the last few probes** (``rtt_window``; TCP's and BBR's min-RTT filter), not an
  average: a probe that queued behind a completion does not raise it, and a path that got
  longer shows once ``rtt_window`` probes have seen it.
- **Bandwidth and the server's compute time** from the completion calls. A call of ``b`` bytes
  (request + answer) that took ``T`` splits as ``T = RTT + b/BW + C`` (eq. of the NetGPT seed's
  latency model). Where the server reports its compute time (llama.cpp's ``timings``) ``C`` is
  known and each call gives a bandwidth sample ``b / (T − RTT − C)``. Otherwise ``C`` and
  ``1/BW`` are fitted by least squares over the recent calls, which identifies the bandwidth
  only when the calls' sizes differ (else all of it is counted as compute: the prediction of
  the next call's time, which is what routing needs, stays right).
- **Availability**: the share of recent calls and probes that got an answer at all.

The others are exponentially weighted (``alpha``) or windowed (``window``) so that a change
of the link shows within a few calls.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass

_MIN_TRANSFER_S = 1e-3  # a transfer faster than this carries no bandwidth information


@dataclass
class LinkEstimate:
    rtt_s: float
    bandwidth_bps: float  # bytes/s; inf while unknown
    compute_s: float
    sd_s: float  # spread of a call's time around the prediction
    up: float  # availability, 0..1
    calls: int

    def predict(self, nbytes: int) -> float:
        """Expected seconds of a completion call of ``nbytes`` bytes (request + answer)."""
        transfer = nbytes / self.bandwidth_bps if math.isfinite(self.bandwidth_bps) else 0.0
        return self.rtt_s + transfer + self.compute_s


class LinkEstimator:
    """Thread-safe: probes run on a worker thread while calls are recorded by the router."""

    def __init__(
        self,
        alpha: float = 0.3,
        window: int = 20,
        prior_compute_s: float = 1.0,
        rtt_window: int = 4,
    ) -> None:
        if rtt_window < 1:
            raise ValueError(f"rtt_window must be at least 1, got {rtt_window}")
        self.alpha = alpha
        self._lock = threading.Lock()
        self.rtt_s: float | None = None  # min of _rtts
        self._rtts: deque[float] = deque(maxlen=rtt_window)
        self.compute_s = prior_compute_s  # until a call says otherwise
        self.inv_bw = 0.0  # s/byte; 0: not yet measured (optimistic: the first calls explore)
        self.sd_s = 0.25 * prior_compute_s
        self.up = 1.0
        self.calls = 0
        self._fit: deque[tuple[float, float]] = deque(maxlen=window)  # (bytes, T − RTT)

    def _ewma(self, old: float, new: float) -> float:
        return (1 - self.alpha) * old + self.alpha * new

    def probe(self, rtt_s: float | None) -> None:
        """A probe's round-trip time, or None when it got no answer."""
        with self._lock:
            if rtt_s is None:
                self.up = self._ewma(self.up, 0.0)
                return
            self.up = self._ewma(self.up, 1.0)
            self._rtts.append(rtt_s)
            self.rtt_s = min(self._rtts)

    def call(self, total_s: float, nbytes: int, server_s: float | None = None) -> None:
        """A completed call: its wall time, bytes both ways, and the server's own compute time
        when it reports one."""
        with self._lock:
            pred = self._estimate().predict(nbytes)
            self.sd_s = self._ewma(self.sd_s, abs(total_s - pred))
            self.up = self._ewma(self.up, 1.0)
            self.calls += 1
            rtt = self.rtt_s or 0.0
            if server_s is not None:  # the first report replaces the prior outright
                self.compute_s = (
                    self._ewma(self.compute_s, server_s) if self.calls > 1 else (server_s)
                )
                transfer = total_s - rtt - server_s
                if transfer > _MIN_TRANSFER_S:
                    self.inv_bw = (
                        self._ewma(self.inv_bw, transfer / nbytes)
                        if self.inv_bw
                        else (transfer / nbytes)
                    )
                return
            self._fit.append((float(nbytes), max(total_s - rtt, 0.0)))
            self._refit()

    def failed(self, waited_s: float) -> None:
        """A call that got no answer (error or past its deadline) after ``waited_s``: it counts
        against availability, and a late call's time is at least what it waited."""
        with self._lock:
            self.up = self._ewma(self.up, 0.0)
            rtt = self.rtt_s or 0.0
            if waited_s - rtt > self.compute_s:  # censored: the server took at least this long
                self.compute_s = self._ewma(self.compute_s, waited_s - rtt)

    def _refit(self) -> None:
        xs = [b for b, _ in self._fit]
        ys = [t for _, t in self._fit]
        n = len(xs)
        mx, my = sum(xs) / n, sum(ys) / n
        sxx = sum((x - mx) ** 2 for x in xs)
        if n >= 3 and sxx > (0.05 * mx) ** 2 * n:  # sizes differ by > 5 %: slope identifiable
            slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
            if slope > 0:
                self.inv_bw = slope
                self.compute_s = max(my - slope * mx, 0.0)
                return
        self.compute_s = max(my - self.inv_bw * mx, 0.0)

    def _estimate(self) -> LinkEstimate:
        bw = 1.0 / self.inv_bw if self.inv_bw > 0 else math.inf
        return LinkEstimate(self.rtt_s or 0.0, bw, self.compute_s, self.sd_s, self.up, self.calls)

    def estimate(self) -> LinkEstimate:
        with self._lock:
            return self._estimate()


def probe_models(url: str, timeout_s: float, headers: dict | None = None) -> float | None:
    """Seconds for ``HEAD {url}/v1/models`` (any HTTP answer counts: it crossed the link), or
    None when nothing answered within ``timeout_s``."""
    import httpx

    t0 = time.perf_counter()
    try:
        httpx.head(f"{url}/v1/models", timeout=timeout_s, headers=headers or {})
    except httpx.HTTPError:
        return None
    return time.perf_counter() - t0
