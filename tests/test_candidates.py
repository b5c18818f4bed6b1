"""Candidate actions (spec 3.1): never one that breaks GPU memory (4) or moves a busy instance."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from proto.observation import InstanceView, NodeView, Snapshot
from rapp_placement.candidates import NOOP, feasible_candidates, migration_id

CATS = ("du", "cu-up", "large-ai", "small-ai")


@st.composite
def snapshots(draw):
    n_nodes = draw(st.integers(1, 6))
    caps = [draw(st.floats(1e9, 400e9)) for _ in range(n_nodes)]
    insts, used = [], [0.0] * n_nodes
    for k in range(draw(st.integers(1, 12))):
        node = draw(st.integers(0, n_nodes - 1))
        w = draw(st.sampled_from([0.0, 1e9, 4e9, 28e9]))
        kv = draw(st.floats(0, 5e9))
        used[node] += w + kv
        insts.append(
            InstanceView(
                f"i{k}",
                draw(st.sampled_from(CATS)),
                f"n{node}",
                w,
                kv,
                draw(st.booleans()),
                1.0,
                0,
                0,
                0,
                0,
                0,
                0,
            )
        )
    nodes = tuple(
        NodeView(
            f"n{j}", "balanced", 1e14, 8, caps[j], min(used[j], caps[j] * 2), 0.5, 0.5, 0.1, 0.1, 0
        )
        for j in range(n_nodes)
    )
    return Snapshot(0.0, 1, nodes, tuple(insts))


@settings(max_examples=400, deadline=None)
@given(snapshots(), st.sets(st.sampled_from(CATS)))
def test_candidates_respect_memory_windows_and_categories(snap, eligible):
    cands = feasible_candidates(snap, eligible)
    assert cands[0].cid == NOOP and sum(c.is_noop for c in cands) == 1
    nodes = {n.node_id: n for n in snap.nodes}
    seen = set()
    for c in cands[1:]:
        inst = snap.instance(c.instance_id)
        dst = nodes[c.dst]
        assert c.cid == migration_id(inst.instance_id, dst.node_id) and c.cid not in seen
        seen.add(c.cid)
        assert inst.category in eligible and not inst.migrating and dst.node_id != inst.node_id
        assert dst.mem_used + inst.weights + inst.kv <= dst.mem_capacity  # eq. (4) holds after
        assert c.dst_mem_headroom_after >= 0
    # Completeness: every move that fits is offered.
    for inst in snap.instances:
        for dst in snap.nodes:
            fits = dst.mem_used + inst.weights + inst.kv <= dst.mem_capacity
            ok = inst.category in eligible and not inst.migrating and dst.node_id != inst.node_id
            assert (migration_id(inst.instance_id, dst.node_id) in seen) == (fits and ok)


def test_tiny_kv_on_a_full_node_is_feasible_with_zero_headroom():
    # Regression: cap - used - need rounded to -7.5e-243 while used + need <= cap held.
    nodes = (
        NodeView("n0", "balanced", 1e14, 8, 1e9, 0.0, 0.5, 0.5, 0.1, 0.1, 0),
        NodeView("n1", "balanced", 1e14, 8, 1e9, 1e9, 0.5, 0.5, 0.1, 0.1, 0),
    )
    inst = InstanceView("i7", "du", "n0", 0.0, 7.5e-243, False, 1.0, 0, 0, 0, 0, 0, 0)
    cands = feasible_candidates(Snapshot(0.0, 1, nodes, (inst,)))
    assert [c.cid for c in cands] == [NOOP, "mig:i7:n1"]
    assert cands[1].dst_mem_headroom_after == 0.0


def test_candidates_honour_the_placement_rules_in_force(state):
    """An operator's avoid rules and pins (issue 16) remove the moves they forbid, and only
    those."""
    from dataclasses import replace

    from proto.observation import Constraints

    snap, cands = state
    llm = next(i for i in snap.instances if i.category == "large-ai")
    kind = next(n.kind for n in snap.nodes if n.node_id != llm.node_id)
    pin_to = next(n.node_id for n in snap.nodes if n.node_id != llm.node_id and n.kind != kind)
    rules = Constraints(avoid=(("ai", kind),), pin=((llm.instance_id, pin_to),))
    ruled = feasible_candidates(replace(snap, constraints=rules))
    kinds = {n.node_id: n.kind for n in snap.nodes}
    cats = {i.instance_id: i.category for i in snap.instances}
    for c in ruled[1:]:
        assert not (cats[c.instance_id] in ("large-ai", "small-ai") and kinds[c.dst] == kind)
        assert c.instance_id != llm.instance_id or c.dst == pin_to
    allowed = [
        c
        for c in cands[1:]
        if rules.allows(cats[c.instance_id], c.instance_id, c.dst, kinds[c.dst])
    ]
    assert [c.cid for c in ruled[1:]] == [c.cid for c in allowed]
    assert len(ruled) < len(cands)
