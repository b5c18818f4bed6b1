"""Experiments on Ray (issue 17): the same jobs give the same results as the serial run."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from airan_twin.experiments import Job, run_jobs
from airan_twin.scenario import load_scenario
from proto.errors import InputError

ray = pytest.importorskip("ray", reason="Ray is the optional extra: pip install '.[ray]'")


def _key(results):
    out = {}
    for job, res in results:
        d = asdict(res)
        d.pop("wall_s")  # the only field that is a measurement of this machine, not the run
        out[(job.method, job.rho, job.seed)] = d
    return out


def test_a_small_sweep_on_a_local_ray_runtime_equals_the_serial_run():
    sc = load_scenario()
    jobs = [
        Job(m, rho, seed, horizon=30.0)
        for m in ("haf-static", "round-robin")
        for rho in (0.5, 0.9)
        for seed in (1,)
    ]
    serial = run_jobs(sc, jobs, workers=1)
    seen = []
    on_ray = run_jobs(sc, jobs, workers=2, on_done=lambda n, j, r: seen.append(n), ray="local")
    assert _key(on_ray) == _key(serial)
    assert seen == [1, 2, 3, 4]  # the progress callback counts finished tasks
    assert not ray.is_initialized()  # the runtime it started is shut down


def test_the_critic_dataset_on_ray_is_the_serial_dataset():
    import numpy as np

    from airan_twin.critic_data import RunSpec, generate_dataset

    sc = load_scenario()
    runs = [RunSpec(0.9, 1), RunSpec(1.1, 2), RunSpec(0.9, 3, topology=1001)]
    serial = generate_dataset(sc, runs, horizon=16.0, samples_per_epoch=3, workers=1)
    seen: list[int] = []
    on_ray = generate_dataset(
        sc,
        runs,
        horizon=16.0,
        samples_per_epoch=3,
        workers=2,
        on_run_done=seen.append,
        ray="local",
    )
    assert sorted(serial) == sorted(on_ray)
    for k in serial:
        assert np.array_equal(serial[k], on_ray[k]), k
    assert len(serial["X"]) > 0 and seen == [1, 2, 3]


def test_without_ray_installed_the_option_says_how_to_get_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    with pytest.raises(InputError, match=r"pip install '\.\[ray\]'"):
        run_jobs(load_scenario(), [Job("haf-static", 0.9, 1, horizon=5.0)], ray="local")


def test_the_oracle_rollouts_on_ray_score_as_the_forked_ones():
    """Each candidate's rollout as a Ray task on a pickled copy of the twin gives the float
    the in-process rollout gives, so the oracle commits the same moves."""
    from airan_twin.run import make_twin

    sc = load_scenario()
    logs, results = [], []
    try:
        for kw in ({"workers": 1}, {"workers": 2, "ray": "local"}):
            twin = make_twin(
                sc, "oracle", 1.1, 4, 11.0, method_kwargs={"window_s": 2.0, "ai_only": True, **kw}
            )
            twin.run()
            logs.append(twin.method.regret_log)
            d = asdict(twin.result())
            d.pop("wall_s")
            d.pop("agent")  # the oracle's summary: rollout wall time, workers, ray
            results.append(d)
        assert ray.is_initialized()  # the oracle's session stays up for its later epochs
    finally:
        ray.shutdown()
    assert len(logs[0]) == 2 and logs[0] == logs[1]
    assert results[0] == results[1]
