"""Offline judging of agents on recorded epochs: the file format and the arithmetic."""

from __future__ import annotations

import json

import pytest

from airan_twin.agent_eval import EvalEpoch, judge, load_epochs, save_epochs
from airan_twin.run import make_twin
from airan_twin.scenario import load_scenario
from proto.errors import InputError
from rapp_placement.agent import PlacementAgent
from rapp_placement.candidates import NOOP


@pytest.fixture(scope="module")
def epoch():
    twin = make_twin(load_scenario(), "haf-static", 0.9, 1, 30.0)
    twin.run(until=10.0)
    snap = twin.snapshot()
    cands = twin.candidates(snap)
    realised = {c.cid: 0.80 for c in cands}
    best = cands[5].cid
    realised[best] = 0.83  # +3 points over the no-op
    realised[cands[6].cid] = 0.78
    return EvalEpoch("t", snap, cands, realised)


class Fixed:
    """A backend that names given candidates (by their label in the prompt)."""

    name = "fixed"

    def __init__(self, cids):
        self.cids = cids

    def complete(self, prompt):
        labels = [prompt.labels[prompt.candidate_ids.index(c)] for c in self.cids]
        return json.dumps({"shortlist": labels})


def test_judge_counts_the_best_on_the_list_and_the_gains(epoch):
    best = epoch.best
    assert best == epoch.candidates[5].cid and epoch.gain(best) == pytest.approx(3.0)
    hit = judge("hit", PlacementAgent(Fixed([epoch.candidates[6].cid, best])), [epoch])
    r = hit.row()
    assert r["valid %"] == 100 and r["best in list %"] == 100 and r["no-op only %"] == 0
    assert r["gain list-best pts"] == pytest.approx(3.0)
    assert r["gain oracle pts"] == pytest.approx(3.0)
    miss = judge("miss", PlacementAgent(Fixed([NOOP])), [epoch]).row()
    assert miss["best in list %"] == 0 and miss["no-op only %"] == 100
    assert miss["gain critic pts"] == 0.0 and miss["gain list-best pts"] == 0.0

    # An invalid answer is a fallback, not a valid one.
    class Bad:
        name = "bad"

        def complete(self, prompt):
            return "no"

    assert judge("bad", PlacementAgent(Bad()), [epoch]).row()["valid %"] == 0


def test_eval_file_round_trips_and_bad_files_are_named(epoch, tmp_path):
    path = tmp_path / "e.json"
    save_epochs([epoch], path)
    (back,) = load_epochs(path)
    assert back.snap == epoch.snap and back.realised == epoch.realised
    assert [c.cid for c in back.candidates] == [c.cid for c in epoch.candidates]
    doc = json.loads(path.read_text())
    doc["epochs"][0]["realised"].pop(NOOP)
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="epoch 0: ValueError: realised outcomes"):
        load_epochs(path)
    path.write_text('{"format": "x"}')
    with pytest.raises(InputError, match="not an agent evaluation set"):
        load_epochs(path)


def test_agreement_across_label_orders_separates_content_from_position(epoch):
    """A model that answers by position names other instances under another label order;
    one that answers by content names the same moves."""
    from airan_twin.agent_eval import agreement

    class ByPosition:
        name = "pos"

        def complete(self, prompt):
            return json.dumps({"shortlist": list(prompt.labels[:2])})

    target = [epoch.candidates[5].cid, epoch.candidates[9].cid]
    runs_pos, runs_content = [], []
    for ls in (0, 1):
        runs_pos.append(judge("p", PlacementAgent(ByPosition(), label_seed=ls), [epoch] * 3))
        runs_content.append(judge("c", PlacementAgent(Fixed(target), label_seed=ls), [epoch] * 3))
    assert agreement(*runs_content) == 100.0
    assert agreement(*runs_pos) < 50.0


def test_judge_cli_rejects_bad_input(tmp_path):
    from tests.test_cli import run

    bad = tmp_path / "e.json"
    bad.write_text("{not json")
    r = run("agent", "judge", "--data", str(bad))
    assert r.returncode == 2 and "not JSON" in r.stderr + r.stdout
    assert "Traceback" not in r.stderr
    r = run("agent", "fetch", "gpt-9")
    assert r.returncode == 2 and "unknown model 'gpt-9'" in r.stderr + r.stdout
