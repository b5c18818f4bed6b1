"""Edge–cloud routing (rapp_placement/router.py, link.py) and the loopback network emulator."""

from __future__ import annotations

import http.server
import json
import math
import threading
import time

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from airan_twin.netem import Link, NetemProxy
from proto.errors import InputError
from rapp_placement.agent import BackendError
from rapp_placement.backends import first_item_confidence, make_agent
from rapp_placement.experience import ExperiencePool
from rapp_placement.link import LinkEstimator
from rapp_placement.router import (
    Beta,
    RouteConfig,
    RoutedAgent,
    in_time_probability,
    threshold,
)


# --- the rule -------------------------------------------------------------------------------
@given(
    st.floats(0.5, 10), st.floats(0.0, 5), st.floats(0.0, 5), st.floats(0.05, 2), st.floats(0, 1)
)
def test_in_time_probability_falls_with_predicted_latency(left, l1, dl, sd, up):
    p1 = in_time_probability(left, l1, sd, up)
    p2 = in_time_probability(left, l1 + dl, sd, up)
    assert 0.0 <= p2 <= p1 <= up + 1e-12


@given(st.floats(0, 1), st.floats(0.001, 0.5), st.floats(0.01, 1), st.floats(0.01, 1))
def test_threshold_rises_with_the_chance_of_an_answer_in_time(q_c, cost, p1, p2):
    lo, hi = sorted((p1, p2))
    assert threshold(q_c, cost, lo) <= threshold(q_c, cost, hi) <= q_c
    assert threshold(q_c, cost, 0.0) == -math.inf


def test_threshold_is_where_asking_starts_to_pay():
    """θ = q_c − κ/P is the unique q_e at which P·(q_c − q_e) − κ changes sign."""
    q_c, cost, p = 0.8, 0.1, 0.5
    th = threshold(q_c, cost, p)
    assert p * (q_c - (th - 1e-6)) - cost > 0 > p * (q_c - (th + 1e-6)) - cost


def test_beta_estimate_moves_with_evidence():
    b = Beta.prior(0.5)
    for _ in range(20):
        b.update(True)
    assert b.mean > 0.9


def test_route_config_rejects_bad_values():
    with pytest.raises(InputError, match="policy"):
        RouteConfig(policy="sometimes")
    with pytest.raises(InputError, match="cost"):
        RouteConfig(cost=float("nan"))
    with pytest.raises(InputError, match="budget"):
        RouteConfig(budget_s=0)


# --- the link estimate ----------------------------------------------------------------------
def test_link_estimator_recovers_rtt_bandwidth_and_compute_from_calls():
    rtt, bw, comp = 0.3, 20e3, 1.2
    est = LinkEstimator(alpha=0.5)
    for _ in range(6):
        est.probe(rtt)
    for nbytes in (4000, 9000, 6000, 12000, 5000, 8000):
        est.call(rtt + nbytes / bw + comp, nbytes, server_s=comp)
    e = est.estimate()
    assert e.rtt_s == pytest.approx(rtt, rel=1e-6)
    assert e.bandwidth_bps == pytest.approx(bw, rel=1e-6)
    assert e.predict(10000) == pytest.approx(rtt + 10000 / bw + comp, rel=1e-6)


def test_link_estimator_fits_bandwidth_without_server_timings():
    """Servers that do not report their compute time: least squares over varied call sizes."""
    rtt, bw, comp = 0.1, 50e3, 0.8
    est = LinkEstimator()
    est.probe(rtt)
    for nbytes in (3000, 9000, 6000, 15000, 4500):
        est.call(rtt + nbytes / bw + comp, nbytes)
    e = est.estimate()
    assert e.bandwidth_bps == pytest.approx(bw, rel=0.01)
    assert e.compute_s == pytest.approx(comp, rel=0.01)


def test_a_probe_that_waited_does_not_raise_the_rtt_and_a_longer_path_shows():
    """RTT is a windowed minimum: queueing only adds to a probe, a path change persists."""
    est = LinkEstimator(rtt_window=4)
    for rtt in (0.30, 0.31, 0.95, 0.30):  # the third queued behind a completion
        est.probe(rtt)
    assert est.estimate().rtt_s == pytest.approx(0.30)
    est.probe(None)  # no answer: availability, not RTT
    assert est.estimate().rtt_s == pytest.approx(0.30)
    for _ in range(4):  # the path got longer: once the window has only seen it, it is the RTT
        est.probe(0.8)
    assert est.estimate().rtt_s == pytest.approx(0.8)
    with pytest.raises(ValueError, match="rtt_window"):
        LinkEstimator(rtt_window=0)


def test_failures_lower_availability_and_late_calls_raise_the_compute_estimate():
    est = LinkEstimator(prior_compute_s=1.0)
    est.probe(0.05)
    for _ in range(5):
        est.failed(4.0)
    e = est.estimate()
    assert e.up < 0.2 and e.compute_s > 3.0


# --- confidence from logprobs ---------------------------------------------------------------
def test_first_item_confidence_multiplies_the_first_items_token_probabilities():
    toks = [
        {"token": '{"', "logprob": -0.1},
        {"token": "shortlist", "logprob": 0.0},
        {"token": '":["', "logprob": 0.0},
        {"token": "c", "logprob": math.log(0.5)},
        {"token": "4", "logprob": math.log(0.8)},
        {"token": '","', "logprob": 0.0},
        {"token": "stay", "logprob": math.log(0.1)},
        {"token": '"]}', "logprob": 0.0},
    ]
    assert first_item_confidence(toks) == pytest.approx(0.4)
    assert first_item_confidence([]) is None
    assert first_item_confidence([{"token": "x", "logprob": "bad"}]) is None
    assert first_item_confidence("nonsense") is None


# --- the router with controllable backends --------------------------------------------------
class Scripted:
    """A backend answering a fixed label after ``delay`` s, or failing."""

    def __init__(self, name: str, label_index: int, delay: float = 0.0, conf: float = 0.5):
        self.name, self.label_index, self.delay = name, label_index, delay
        self.last_confidence = conf
        self.fail = False
        self.calls = 0

    def complete(self, prompt) -> str:
        self.calls += 1
        time.sleep(self.delay)
        if self.fail:
            raise BackendError("connection refused")
        return json.dumps({"shortlist": [prompt.labels[self.label_index]]})


def _agent(policy="dynamic", cloud_delay=0.0, budget=1.0, conf=0.5, **kw):
    edge, cloud = Scripted("edge", 0, conf=conf), Scripted("cloud", 1, cloud_delay)
    cfg = RouteConfig(policy=policy, budget_s=budget, cost=0.05, **kw)
    return RoutedAgent(edge, cloud, cfg, deadline_s=budget), edge, cloud


def test_always_cloud_uses_the_cloud_answer_and_counts_agreement(state):
    snap, cands = state
    agent, _edge, cloud = _agent("cloud")
    res = agent.shortlist(snap, cands, 0)
    assert agent.last_route.route == "cloud" and res.backend == "cloud"
    assert agent.last_route.cloud_top == res.shortlist[0] != agent.last_route.edge_top
    assert agent.route_summary()["agreement"] == 0.0 and cloud.calls == 1


def test_edge_policy_never_calls_the_cloud(state):
    snap, cands = state
    agent, _, cloud = _agent("edge")
    for _ in range(3):
        agent.shortlist(snap, cands, 0)
    assert cloud.calls == 0 and agent.route_summary()["routes"] == {"edge": 3}


def test_a_slow_cloud_never_makes_the_epoch_late(state):
    snap, cands = state
    agent, _edge, cloud = _agent("cloud", cloud_delay=2.0, budget=0.5)
    t0 = time.perf_counter()
    res = agent.shortlist(snap, cands, 0)
    took = time.perf_counter() - t0
    assert took < 0.5 + 0.1  # the budget, plus scheduling slack
    assert agent.last_route.route == "cloud-late" and res.backend == "edge"
    assert agent.rstats.over_budget == 0
    # While that call still runs, no second cloud call is stacked behind it.
    agent.shortlist(snap, cands, 1)
    assert cloud.calls == 1 and agent.last_route.route == "edge"


def test_a_down_cloud_falls_back_and_the_router_stops_asking(state):
    snap, cands = state
    agent, _, cloud = _agent("dynamic", budget=2.0, conf=0.0)
    cloud.fail = True
    routes = [agent.shortlist(snap, cands, k) and agent.last_route.route for k in range(12)]
    assert routes[0] == "cloud-late"  # tried, fell back to the edge in time
    assert routes[-1] == "edge" and cloud.calls < 12  # availability estimate fell
    assert agent.route_summary()["cloud_errors"]["backend"] == cloud.calls


def test_dynamic_routing_follows_measured_quality(state):
    """If the critic keeps finding the cloud right and the edge wrong, the router asks more;
    if the edge is right, it stops asking."""
    snap, cands = state
    agent, _, _ = _agent("dynamic", budget=2.0, conf=0.9)
    asked = []
    for k in range(15):
        res = agent.shortlist(snap, cands, k)
        asked.append(agent.last_route.route == "cloud")
        agent.feedback(agent._edge_res.shortlist[0])  # the edge is always right
        assert res.shortlist
    assert asked[0] and not any(asked[-5:])


def test_only_cloud_answers_become_lessons_and_persist(state, tmp_path):
    from rapp_placement.experience import experience_of

    snap, cands = state
    agent, _, _ = _agent("cloud")
    agent.store_path = tmp_path / "lessons.json"
    mig = next(c for c in cands if not c.is_noop)
    e = experience_of(snap, mig, 2.0, 1.0, 5.0)
    agent.learn(e, "edge")
    assert len(agent.pool) == 0 and not agent.store_path.exists()
    agent.learn(e, "cloud")
    agent.learn(e, "cloud")  # deduplicated
    assert len(ExperiencePool.load(agent.store_path)) == 1


def test_route_spec_is_validated():
    with pytest.raises(InputError, match="route:EDGE,CLOUD"):
        make_agent("route:embedded")
    with pytest.raises(InputError, match="LLM backends"):
        make_agent("route:heuristic,openai:m@http://x:1")
    with pytest.raises(InputError, match="unknown agent"):
        make_agent("route:embedded,carrier-pigeon")
    with pytest.raises(InputError, match="route options"):
        make_agent("route:embedded,openai:m@http://x:1", route={"colour": "red"})
    a = make_agent("route:embedded,openai:m@http://127.0.0.1:9", route={"policy": "edge"})
    assert isinstance(a, RoutedAgent) and a.route.budget_s == pytest.approx(4.0)
    assert a.probe_url == "http://127.0.0.1:9"


# --- the network emulator -------------------------------------------------------------------
class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        body = b"x" * 20000
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self):
        self.send_response(405)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


@pytest.fixture()
def origin():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1]
    srv.shutdown()


def test_netem_adds_the_round_trip_and_paces_the_bandwidth(origin):
    with NetemProxy("127.0.0.1", origin, Link(0.2, 40e3)) as px:
        t0 = time.perf_counter()
        httpx.head(px.url + "/v1/models")
        head = time.perf_counter() - t0
        t0 = time.perf_counter()
        r = httpx.post(px.url + "/x", content=b"y" * 4000)
        post = time.perf_counter() - t0
    assert len(r.content) == 20000
    assert 0.2 <= head < 0.5
    assert 0.2 + 24000 / 40e3 <= post < 0.2 + 24000 / 40e3 + 0.4


def test_netem_down_and_blackhole(origin):
    with NetemProxy("127.0.0.1", origin) as px:
        px.down()
        with pytest.raises(httpx.HTTPError):
            httpx.post(px.url + "/x", content=b"y", timeout=2)
        px.blackhole()
        with pytest.raises(httpx.TimeoutException):
            httpx.post(px.url + "/x", content=b"y", timeout=0.5)
        px.set(0.0, 1e9)
        assert httpx.post(px.url + "/x", content=b"y", timeout=2).status_code == 200


# --- against a real llama.cpp server behind the emulator ------------------------------------
def _real_server():
    from rapp_placement.models import SMALL_MODEL, ModelError, model_path

    try:
        return model_path(SMALL_MODEL)
    except ModelError:  # pragma: no cover - `make install` brings it
        return None


@pytest.mark.skipif(_real_server() is None, reason="small model package not installed")
def test_routing_to_a_real_server_through_the_emulated_network(state):
    """llama.cpp's own server as the cloud, behind the proxy: near, it answers and the link
    estimate finds the injected RTT; blackholed, the epoch still ends within its budget on
    the edge's answer; stopped, the router soon stops asking."""
    from airan_twin.route_eval import Cloud
    from rapp_placement.backends import OpenAIBackend

    snap, cands = state
    cloud = Cloud("smollm2-135m").start()
    try:
        cloud.proxy.set(0.3, 1e9)
        backend = OpenAIBackend(cloud.url, "smollm2", timeout_s=30)
        agent = RoutedAgent(
            Scripted("edge", 0, conf=0.0),
            backend,
            RouteConfig(policy="cloud", budget_s=20.0),
            probe_url=cloud.url,
            deadline_s=20.0,
        )
        from rapp_placement.prompt import build_prompt

        backend.timeout_s = 300  # the first call reads the whole prompt: slow on a busy machine
        backend.complete(build_prompt(snap, cands, 0, 3, []))  # warm the server up
        backend.timeout_s = 30
        agent.shortlist(snap, cands, 0)
        time.sleep(1.0)  # the background probe lands
        res = agent.shortlist(snap, cands, 1)
        assert agent.last_route.route == "cloud" and res.backend == "openai:smollm2"
        assert 0.3 <= agent.link.estimate().rtt_s < 0.6
        assert agent.link.estimate().compute_s > 0
        cloud.proxy.blackhole()
        backend.timeout_s = 1.5
        agent.route.budget_s = 1.5
        agent._cloud_busy = None
        t0 = time.perf_counter()
        res = agent.shortlist(snap, cands, 2)
        assert time.perf_counter() - t0 < 1.5 + 0.2
        assert agent.last_route.route == "cloud-late" and res.backend == "edge"
        cloud.proxy.down()
        agent.route.policy = "dynamic"
        time.sleep(1.6)  # the blackholed call gives up (its budget-long timeout)
        routes = []
        for k in range(8):
            agent._cloud_busy = None
            agent.shortlist(snap, cands, 3 + k)
            routes.append(agent.last_route.route)
        assert routes[-1] == "edge"
    finally:
        agent.close()
        cloud.stop()


def test_netem_a_request_costs_one_round_trip_not_more(origin):
    """Headers and body written separately still leave the client together: one RTT."""
    with NetemProxy("127.0.0.1", origin, Link(1.0, 1e9)) as px:
        t0 = time.perf_counter()
        httpx.post(px.url + "/x", content=b"y" * 4000)
        took = time.perf_counter() - t0
    assert 1.0 <= took < 1.3
