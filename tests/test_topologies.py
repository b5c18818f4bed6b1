"""Generated topologies: valid, seeded, within memory (4), LLMs on weak GPUs when asked."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airan_twin.scenario import Category, cluster_config, parse_scenario
from airan_twin.topologies import LLM_GB, generate, to_yaml
from proto.observation import ClusterConfig


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**6))
def test_every_seed_gives_a_valid_scenario_within_memory(seed):
    sc = generate(seed)
    assert 4 <= len(sc.nodes) <= 9
    held: dict[str, float] = {}
    for inst in sc.instances:
        held[inst.node] = held.get(inst.node, 0.0) + sc.categories[inst.category].weights_gb
    for n in sc.nodes:
        assert held.get(n.id, 0.0) <= n.gpu_mem_gb  # (4) at the start
    cfg = cluster_config(sc)
    assert ClusterConfig.from_dict(cfg.to_dict()) == cfg  # a valid xApp config too
    assert parse_scenario(to_yaml(sc)) == sc  # the file a user writes reads back the same


def test_same_seed_same_topology_and_options_are_honoured():
    assert generate(7) == generate(7) and generate(7) != generate(8)
    sc = generate(3, nodes=6, llms=2, small=3, llms_on_weak=True)
    cats = [i.category for i in sc.instances]
    assert len(sc.nodes) == 6 and cats.count(Category.LARGE_AI) == 2
    assert cats.count(Category.SMALL_AI) == 3
    # On weak GPUs: no LLM-capable node with room is weaker than the one each LLM got.
    gpu = {n.id: n.gpu_tflops for n in sc.nodes}
    capable = [n for n in sc.nodes if n.gpu_mem_gb >= LLM_GB + 12]
    first = next(i for i in sc.instances if i.category == Category.LARGE_AI)
    assert gpu[first.node] == min(gpu[n.id] for n in capable)
    with pytest.raises(ValueError):
        generate(1, nodes=1)


def test_cli_writes_a_scenario_the_twin_runs(tmp_path, capsys):
    from tests.cli_helpers import run_haf

    path = tmp_path / "t.yaml"
    code, out, err = run_haf(["topology", "--seed", "11", "--out", str(path)], capsys)
    assert code == 0 and path.exists(), err
    code, out, err = run_haf(
        ["sim", "--method", "haf-static", "--scenario", str(path), "--horizon", "3"], capsys
    )
    assert code == 0 and "generated-11" in out, err
