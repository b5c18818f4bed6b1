"""Twin speed: events/s, wall time and real-time factor of one paper run, and peak memory.

Each measurement runs in a fresh interpreter so that its peak RSS is its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

_CHILD = r"""
import json, resource, sys, time
from airan_twin.run import make_twin
from airan_twin.scenario import load_scenario
method, rho, horizon, seed = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
resolve = sys.argv[5]
twin = make_twin(load_scenario(), method, rho, seed, horizon, resolve=resolve)
t0 = time.perf_counter()
twin.run()
wall = time.perf_counter() - t0
mid = make_twin(load_scenario(), method, rho, seed, horizon)
mid.run(until=horizon / 2)  # fork in the middle of a run, as critic rollouts do
t1 = time.perf_counter()
fork = mid.fork()
fork_s = time.perf_counter() - t1
print(json.dumps({"method": method, "events": twin.counters.events, "wall_s": wall,
                  "solves": twin.counters.solves,
                  "overall": twin.result().fulfilment["overall"],
                  "horizon_s": horizon, "requests": len(twin.arrived),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "fork_ms": fork_s * 1e3}))
"""


def paper_run(
    method: str = "haf-static",
    rho: float = 0.9,
    horizon: float = 300.0,
    seed: int = 1,
    resolve: str = "changed",
    pure_python: bool = False,
) -> dict:
    """One run in a fresh interpreter; ``resolve="every-event"`` and ``pure_python`` (the
    interpreted kernel) give the configuration before issue 17's changes."""
    env = dict(os.environ, HAF_PURE_PYTHON="1" if pure_python else "0")
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, method, str(rho), str(horizon), str(seed), resolve],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    r = json.loads(out.stdout)
    r["events_per_s"] = r["events"] / r["wall_s"]
    r["x_real_time"] = r["horizon_s"] / r["wall_s"]
    return r
