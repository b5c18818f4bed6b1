"""Tunable AI services (issue 16): variants in the scenario, the twin, the policy and the xApp,
and admission of new instances."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from a1_policies.haf_placement import PolicyError, build_policy, policy_request
from airan_twin.e2node import E2Loop
from airan_twin.run import make_twin
from airan_twin.scenario import (
    DEFAULT_SCENARIO,
    ScenarioError,
    cluster_config,
    load_scenario,
    parse_scenario,
)
from proto import haf_pb2, safejson
from proto.errors import ConfigError
from proto.observation import ClusterConfig
from xapp_alloc import core as xc

GB = 1e9


def _doc() -> dict:
    return yaml.safe_load(DEFAULT_SCENARIO.read_text())


def _parse(doc: dict):
    return parse_scenario(yaml.safe_dump(doc), "s.yaml")


# --- the scenario -----------------------------------------------------------------------------
def test_the_default_variant_must_be_the_category_itself():
    doc = _doc()
    doc["categories"]["large-ai"]["variants"]["bf16"]["weights_gb"] = 27.0
    with pytest.raises(ScenarioError, match="default variant 'bf16' must have the category"):
        _parse(doc)
    doc = _doc()
    doc["categories"]["large-ai"]["default_variant"] = "fp8"
    with pytest.raises(ScenarioError, match="default_variant must name one of"):
        _parse(doc)


def test_variants_are_for_ai_services_and_instances_name_offered_ones():
    doc = _doc()
    doc["categories"]["du"]["variants"] = {
        "x": {"weights_gb": 4.0, "work_scale": 1.0, "kv_scale": 1.0, "quality": 1.0}
    }
    doc["categories"]["du"]["default_variant"] = "x"
    with pytest.raises(ScenarioError, match="only AI services offer variants"):
        _parse(doc)
    doc = _doc()
    doc["instances"][12]["variant"] = "int3"
    with pytest.raises(ScenarioError, match="large-ai has no variant 'int3'"):
        _parse(doc)
    doc = _doc()
    doc["categories"]["large-ai"]["variants"]["int4"]["quality"] = 1.5
    with pytest.raises(ScenarioError, match="quality"):
        _parse(doc)


def test_an_instance_may_start_in_a_variant_and_the_config_carries_its_weights():
    doc = _doc()
    doc["instances"][12]["variant"] = "int4"
    cfg = cluster_config(_parse(doc))
    inst = {i.instance_id: i for i in cfg.instances}
    assert inst["large-ai-1"].variant == "int4" and inst["large-ai-1"].weights == 9.8 * GB
    assert inst["large-ai-2"].variant == "bf16" and inst["large-ai-2"].weights == 28 * GB
    assert ClusterConfig.from_dict(safejson.loads(safejson.dumps(cfg.to_dict()), "c")) == cfg


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"variants": [{"category": "du", "name": "x", "weights": 1}]}, "large-ai or small-ai"),
        ({"variants": [{"category": "large-ai", "name": "X!", "weights": 1}]}, "name: must"),
        ({"variants": [{"category": "large-ai", "name": "a", "weights": -1}]}, "weights"),
        (
            {"variants": [{"category": "large-ai", "name": "a", "weights": 1, "quality": 2}]},
            "quality",
        ),
        (
            {"variants": [{"category": "large-ai", "name": "a", "weights": 1, "zz": 1}]},
            "unknown field",
        ),
        ({"variants": "all"}, "must be a list"),
    ],
)
def test_the_config_rejects_bad_variants_by_name(patch, message):
    doc = cluster_config(load_scenario()).to_dict()
    doc.update(patch)
    with pytest.raises(ConfigError, match=message):
        ClusterConfig.from_dict(doc)


def test_the_config_rejects_an_instance_variant_not_offered():
    doc = cluster_config(load_scenario()).to_dict()
    doc["instances"][12]["variant"] = "int2"
    with pytest.raises(ConfigError, match=r"instances\[12\].variant"):
        ClusterConfig.from_dict(doc)
    doc["instances"][12]["variant"] = ["int4"]
    with pytest.raises(ConfigError, match=r"instances\[12\].variant"):
        ClusterConfig.from_dict(doc)


# --- the twin -----------------------------------------------------------------------------------
def test_variants_in_the_scenario_change_nothing_while_unused():
    doc = _doc()
    for cat in ("large-ai", "small-ai"):
        doc["categories"][cat].pop("variants")
        doc["categories"][cat].pop("default_variant")
    plain, rich = _parse(doc), load_scenario()
    a = make_twin(plain, "haf-nocritic", 1.0, 4, 20.0)
    b = make_twin(rich, "haf-nocritic", 1.0, 4, 20.0)
    a.run()
    b.run()
    ra, rb = a.result(), b.result()
    assert ra.fulfilment == rb.fulfilment and ra.events == rb.events
    assert rb.services["quality"] == {"large_ai": 1.0, "small_ai": 1.0}


def test_a_variant_change_swaps_weights_scales_work_and_sets_quality():
    sc = load_scenario()
    twin = make_twin(sc, "haf-static", 0.9, 3, 30.0)
    twin.run(until=2.0)
    node = twin.instances["large-ai-1"].node
    before = node.mem_used
    twin.set_variant("large-ai-1", "int4")
    inst = twin.instances["large-ai-1"]
    assert inst.migrating_until == pytest.approx(2.0 + 8.0)
    assert node.mem_used == pytest.approx(before - (28 - 9.8) * GB)
    assert twin.cluster.instances[12].weights == 9.8 * GB
    with pytest.raises(ValueError, match="already migrating"):
        twin.set_variant("large-ai-1", "int8")
    twin.run()
    r = twin.result()
    assert r.services["reconfigurations"] == 1
    served = [q for q in (x.quality for x in twin.arrived if x.cls == 2 and x.fulfilled)]
    assert {round(q, 3) for q in served} <= {1.0, 0.958}
    assert 0.958 <= r.services["quality"]["large_ai"] < 1.0
    # The work of a request served by the INT4 instance is scaled by its work_scale.
    int4 = [x for x in twin.arrived if x.cls == 2 and x.quality < 1.0]
    assert int4
    spec = sc.categories["large-ai"].variants["int4"]
    k = int4[0].rid
    base = twin.workload.requests[k]
    assert int4[0].ai_work == pytest.approx(base.ai_work * spec.work_scale)


def test_a_variant_change_is_refused_when_the_new_weights_do_not_fit():
    sc = load_scenario()
    twin = make_twin(sc, "haf-static", 0.9, 3, 10.0)
    twin.set_variant("large-ai-1", "int4")  # 48 GB node: 9.8 GB now
    twin.run(until=9.0)
    twin.admit("extra", "large-ai", "balanced-1", "int4")  # 4 + 9.8 + 9.8 GB
    twin.run(until=9.5)
    with pytest.raises(ValueError, match="breaks GPU memory"):
        twin.admit("extra-2", "large-ai", "balanced-1", "bf16")
    with pytest.raises(ValueError, match="exists already"):
        twin.admit("extra", "large-ai", "balanced-2", "int4")
    with pytest.raises(ValueError, match="only AI services"):
        twin.admit("du-9", "du", "balanced-2")


def test_an_admitted_instance_serves_after_its_window():
    sc = load_scenario()
    twin = make_twin(sc, "haf-static", 0.9, 3, 40.0)
    twin.run(until=1.0)
    twin.admit("large-ai-3", "large-ai", "gpu-heavy-1", "int8")
    twin.run()
    served = [x for x in twin.arrived if x.cls == 2 and x.quality == pytest.approx(0.99)]
    assert served and min(x.end for x in served) >= 1.0 + 8.0  # after loading (its window)
    r = twin.result()
    assert r.services["admissions"] == 1
    assert "large-ai-3" in [i.instance_id for i in twin.snapshot().instances]


# --- the policy and the xApp -----------------------------------------------------------------
def test_the_policy_type_carries_variants_and_admissions():
    p = build_policy(
        4,
        [],
        "t",
        variants={"large-ai-1": "int4"},
        admit=[
            {
                "instance_id": "llm-3",
                "category": "large-ai",
                "node": "gpu-heavy-1",
                "variant": "int8",
            }
        ],
    )
    assert p["variants"] == {"large-ai-1": "int4"} and p["admit"][0]["node"] == "gpu-heavy-1"
    with pytest.raises(PolicyError, match="admit"):
        build_policy(4, [], "t", admit=[{"instance_id": "x", "category": "du", "node": "n"}])
    with pytest.raises(PolicyError, match="variants"):
        build_policy(4, [], "t", variants={"large-ai-1": "INT 4"})


def _core():
    return xc.XappCore(cluster_config(load_scenario()))


def _put(core, policy, iid="p-1", now=1.0):
    out = core.handle(xc.A1_POLICY_REQ, policy_request("CREATE", iid, policy), now)
    return safejson.loads(out[0].payload, "resp")


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"variants": {"nope": "int4"}}, "variants.nope: unknown instance"),
        ({"variants": {"large-ai-1": "int2"}}, "offers no variant 'int2'"),
        ({"variants": {"du-1": "int4"}}, "du offers no variant"),
        ({"admit": [{"instance_id": "x", "category": "large-ai", "node": "mars"}]}, "unknown node"),
        (
            {"admit": [{"instance_id": "x", "category": "large-ai", "node": "gpu-heavy-1"}]},
            "offers variants, name one",
        ),
        (
            {
                "admit": [
                    {
                        "instance_id": "x",
                        "category": "large-ai",
                        "node": "cpu-heavy-1",
                        "variant": "bf16",
                    }
                ]
            },
            r"needs 28.0 GB on cpu-heavy-1",
        ),
        (
            {
                "admit": [
                    {
                        "instance_id": "large-ai-1",
                        "category": "small-ai",
                        "node": "gpu-heavy-1",
                        "variant": "bf16",
                    }
                ]
            },
            "exists already",
        ),
        (
            {
                "admit": [
                    {
                        "instance_id": "x",
                        "category": "large-ai",
                        "node": "gpu-heavy-1",
                        "variant": "int4",
                    }
                ]
                * 2
            },
            "admitted twice",
        ),
    ],
)
def test_the_xapp_refuses_bad_variants_and_admissions_by_name(kwargs, reason):
    core = _core()
    resp = _put(core, build_policy(1, [], "t", **kwargs))
    assert resp["status"] == "ERROR" and reason in resp["reason"]
    assert core.placement == {i.instance_id: i.node_id for i in core.config.instances[:18]}
    assert len(core.instances) == 18  # nothing changed


def test_the_xapp_checks_memory_with_the_new_weights():
    core = _core()
    # cpu-heavy-1 (24 GB) holds du-5 (4 GB) and small-ai-3 (1 GB): a 28 GB LLM cannot move
    # there, its INT4 variant (9.8 GB) can, in one policy (migration + variant).
    resp = _put(core, build_policy(1, [("large-ai-1", "cpu-heavy-1")], "t"))
    assert resp["status"] == "ERROR" and "needs 28.0 GB" in resp["reason"]
    resp = _put(
        core, build_policy(1, [("large-ai-1", "cpu-heavy-1")], "t", variants={"large-ai-1": "int4"})
    )
    assert resp["status"] == "OK"
    cmd = core.pending["balanced-1"][0]
    assert (cmd.to_node, cmd.variant, cmd.category) == ("cpu-heavy-1", "int4", "")
    assert core.instances["large-ai-1"].weights == 9.8 * GB


def test_an_admission_reaches_the_e2_node_and_the_xapp_decodes_its_reports():
    sc = load_scenario()
    twin = make_twin(sc, "haf-static", 0.9, 5, 20.0, external_allocation=True)
    loop = E2Loop.build(twin, period_s=0.05)
    twin.run(until=2.0)
    admit = [
        {
            "instance_id": "large-ai-3",
            "category": "large-ai",
            "node": "gpu-heavy-2",
            "variant": "int4",
        }
    ]
    loop.push_policy(1, [], variants={"large-ai-2": "int8"}, admit=admit)
    assert loop.responses[-1]["status"] == "OK", loop.responses[-1]
    twin.run(until=12.0)
    assert "large-ai-3" in twin.instances and twin.instances["large-ai-3"].node.nid == "gpu-heavy-2"
    assert twin.instances["large-ai-2"].variant == "int8"
    snap = loop.core.snapshot(twin.now)
    by_id = {i.instance_id: i for i in snap.instances}
    assert by_id["large-ai-3"].node_id == "gpu-heavy-2"
    assert by_id["large-ai-3"].weights == 9.8 * GB and by_id["large-ai-2"].weights == 15.6 * GB
    # After its window the new instance is served and reported like any other.
    assert by_id["large-ai-3"].migrating is False
    assert sum(loop.core.counters.dropped.values()) == 0  # old-size reports were read too
    assert loop.refused_migrations == 0
    # The same policy again (a retry) changes nothing.
    loop.push_policy(1, [], variants={"large-ai-2": "int8"}, admit=admit)
    assert loop.responses[-1]["status"] == "OK"
    twin.run()
    assert twin.result().services["admissions"] == 1


def test_an_e2_node_refuses_a_command_it_cannot_carry_out():
    sc = load_scenario()
    twin = make_twin(sc, "haf-static", 0.9, 5, 5.0, external_allocation=True)
    loop = E2Loop.build(twin, period_s=0.05)
    bad = haf_pb2.MigrationCommand(
        instance_id="x", to_node="cpu-heavy-1", epoch=1, variant="bf16", category="large-ai"
    )
    loop._carry_out(bad)  # 28 GB do not fit on a 24 GB node
    assert loop.refused_migrations == 1 and "x" not in twin.instances


# --- the xApp's checks and the twin's agree --------------------------------------------------
_SC = load_scenario()
_NODES = [n.id for n in _SC.nodes]
_AI = [i.id for i in _SC.instances if i.category.value in ("large-ai", "small-ai")]


@settings(max_examples=25, deadline=None)
@given(
    st.dictionaries(st.sampled_from(_AI), st.sampled_from(["bf16", "int8", "int4"]), max_size=4),
    st.lists(
        st.tuples(
            st.sampled_from(["large-ai", "small-ai"]),
            st.sampled_from(_NODES),
            st.sampled_from(["bf16", "int8", "int4"]),
        ),
        max_size=3,
    ),
)
def test_what_the_xapp_accepts_the_e2_nodes_carry_out_within_memory(variants, admissions):
    """The xApp checks memory (4) on its last reports; the E2 node checks again when the
    command arrives (KV may have grown meanwhile) and refuses, counted, what no longer fits.
    Whatever happens: memory (4) holds on every node, every report is read, and every command
    the xApp sent is either carried out or counted as refused."""
    twin = make_twin(_SC, "haf-static", 0.9, 1, 2.0, external_allocation=True)
    loop = E2Loop.build(twin, period_s=0.05)
    twin.run(until=0.3)  # the xApp has reports (KV) to check against
    before = {iid: inst.variant for iid, inst in twin.instances.items()}
    admit = [
        {"instance_id": f"new-{k}", "category": c, "node": n, "variant": v}
        for k, (c, n, v) in enumerate(admissions)
    ]
    loop.push_policy(1, [], variants=variants, admit=admit)
    accepted = loop.responses[-1]["status"] == "OK"
    twin.run(until=1.0)
    for node in twin.nodes.values():
        assert node.mem_used <= node.mem_cap * (1 + 1e-9)  # memory (4) after every change
    assert sum(loop.core.counters.dropped.values()) == 0  # every report read (prefixes too)
    started = [a for a in admit if a["instance_id"] in twin.instances]
    changed = [i for i, v in variants.items() if before[i] != v and twin.instances[i].variant == v]
    if accepted:
        sent = len(admit) + sum(before[i] != v for i, v in variants.items())
        assert len(started) + len(changed) + loop.refused_migrations == sent
    else:
        assert not started and not changed and loop.refused_migrations == 0
