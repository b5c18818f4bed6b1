"""HAF in the twin: the asynchronous shortlist (made on the previous epoch) and learning
from committed decisions into the experience pool."""

from __future__ import annotations

import json

from airan_twin.methods.haf import Haf
from airan_twin.run import make_twin
from airan_twin.scenario import load_scenario
from rapp_placement.agent import PlacementAgent
from rapp_placement.critic import Critic
from rapp_placement.experience import ExperiencePool


class Recorder:
    """Names the first migration it is offered and remembers which epoch's prompt it saw."""

    name = "recorder"

    def __init__(self):
        self.prompts = []

    def complete(self, prompt):
        self.prompts.append(prompt)
        return json.dumps({"shortlist": [prompt.labels[0]]})


def test_async_uses_the_shortlist_made_on_the_previous_epoch():
    sc = load_scenario()
    backend = Recorder()
    haf = Haf(PlacementAgent(backend), Critic.load(), sc.epoch_s, asynchronous=True)
    twin = make_twin(sc, haf, 0.9, 1, 30.0)
    twin.run(until=30.0)
    eps = haf.epochs
    assert len(eps) >= 4
    assert eps[0]["source"] == "heuristic"  # nothing prepared yet
    # From the second epoch on, the shortlist is the one answered on the previous snapshot
    # (still feasible: the recorder names one move, which the candidates of the next epoch
    # still hold unless that instance moved).
    answered = [p.candidate_ids[0] for p in backend.prompts]
    for k in range(1, len(eps)):
        assert eps[k]["source"] == "llm"
        assert eps[k]["shortlist"] in ([answered[k - 1]], [])


def test_committed_decisions_are_learned_after_their_window():
    sc = load_scenario()
    pool = ExperiencePool()
    haf = Haf(PlacementAgent(None, pool=pool), Critic.load(), sc.epoch_s)
    twin = make_twin(sc, haf, 1.1, 2, 60.0)
    twin.run(until=60.0)
    n_epochs = len(haf.epochs)
    # Every decision whose 15 s window ended before the last epoch is learned once.
    assert haf.learned == n_epochs - 3 and len(pool) >= 1
    e = next(iter(pool.items.values()))
    assert e.action and -100 <= e.gain <= 100 and len(e.state) == 16
