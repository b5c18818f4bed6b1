"""Scenario files: the shipped testbed loads; bad files are rejected naming line and field."""

from __future__ import annotations

import pytest

from airan_twin.scenario import (
    DEFAULT_SCENARIO,
    Category,
    ScenarioError,
    load_scenario,
    parse_scenario,
)

TEXT = DEFAULT_SCENARIO.read_text()


def test_paper_testbed_matches_the_paper_table_one():
    sc = load_scenario()
    assert len(sc.nodes) == 6
    kinds = sorted(n.kind for n in sc.nodes)
    assert kinds == ["balanced"] * 2 + ["cpu-heavy"] * 2 + ["gpu-heavy"] * 2
    count = {c: sum(i.category == c for i in sc.instances) for c in Category}
    assert count == {Category.DU: 6, Category.CU_UP: 6, Category.LARGE_AI: 2, Category.SMALL_AI: 4}
    assert sc.hop_delay == pytest.approx(200e-6)
    assert sc.categories[Category.LARGE_AI].weights_gb == 28.0
    assert sc.categories[Category.SMALL_AI].weights_gb == 1.0
    assert [sc.categories[c].reconfig_s for c in Category] == [0.05, 0.05, 8.0, 0.5]
    assert sc.epoch_s == 5.0


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        ("gpu_tflops: 81.0", "gpu_tflops: -1", "paper.yaml:15: nodes[4].gpu_tflops"),
        (
            "node: cpu-heavy-2}",
            "node: nowhere}",
            "paper.yaml:57: instances[10]: (du-6): unknown node",
        ),
        ("urllc_share: 0.3", "urllc_share: 2", "ran.urllc_share"),
        ("epoch_s: 5.0", "epoch_s: 5.0\nsurprise: 1", "surprise: Extra inputs are not permitted"),
        ("{id: du-2, category: du, cell: 2", "{id: du-2, category: du, cell: 1", "cell 1 has two"),
        ("category: large-ai, node: balanced-1", "category: gpt, node: balanced-1", "category"),
    ],
)
def test_bad_scenarios_name_line_and_field(old, new, fragment):
    assert old in TEXT
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(TEXT.replace(old, new, 1), "paper.yaml")
    assert fragment in str(exc.value)


def test_not_yaml_and_not_a_mapping():
    with pytest.raises(ScenarioError, match="not valid YAML"):
        parse_scenario("a: [", "x.yaml")
    with pytest.raises(ScenarioError, match="a YAML mapping"):
        parse_scenario("- 1\n- 2\n", "x.yaml")


def test_every_shipped_scenario_loads_and_its_cluster_is_a_valid_xapp_config():
    from pathlib import Path

    from airan_twin.scenario import cluster_config
    from proto.observation import ClusterConfig

    shipped = sorted((Path(__file__).parents[1] / "airan_twin" / "scenarios").glob("*.yaml"))
    assert {p.stem for p in shipped} >= {"paper", "caora-home"}
    for path in shipped:
        cfg = cluster_config(load_scenario(path))
        assert ClusterConfig.from_dict(cfg.to_dict()) == cfg
