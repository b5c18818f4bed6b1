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
