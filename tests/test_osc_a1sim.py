"""The rApp's A1 client and `haf a1` against OSC's near-RT RIC A1 simulator, both flavours.

STD_2.0.0 is the O-RAN A1AP v2 API (``/A1-P/v2``; types are loaded through the simulator's
admin interface, the standard has no type creation); OSC_2.1.0 is OSC's own flavour (``/a1-p``,
types created over A1). The simulator runs from ../shared/vendor in a virtual environment of its
own (tests/osc.py); skipped, saying why, without it.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from a1_policies.haf_placement import POLICY_TYPE_ID, a1ap_policy_type, build_policy
from rapp_placement.a1client import NearRtA1, Retry, wait_enforced
from tests import osc
from tests.cli_helpers import run_haf as haf

pytestmark = pytest.mark.osc
ROOT = Path(__file__).resolve().parents[1]
FAST = Retry(retries=1, backoff_s=0.01, timeout_s=2.0)
PREFIX = {"STD_2.0.0": "/A1-P/v2", "OSC_2.1.0": "/a1-p"}


@pytest.fixture(scope="module")
def sim_install():
    found = osc.a1_simulator()
    if found is None:
        pytest.skip(f"A1 simulator not available: {osc.MISSING.get('a1sim')}")
    return found


@pytest.fixture(params=["STD_2.0.0", "OSC_2.1.0"])
def sim(request, sim_install, tmp_path):
    """A running simulator of one flavour: (base URL, flavour)."""
    root, python = sim_install
    port = osc.free_port()
    log = (tmp_path / f"a1sim-{request.param}.log").open("w")
    proc = subprocess.Popen(
        [str(python), str(ROOT / "tests" / "a1sim_launch.py"), str(root), request.param, str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    end = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url + "/").status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert proc.poll() is None and time.monotonic() < end, "the A1 simulator did not start"
        time.sleep(0.2)
    if request.param == "STD_2.0.0":  # the standard's types come from the RIC: load it there
        r = httpx.put(f"{url}/policytype?id={POLICY_TYPE_ID}", json=a1ap_policy_type())
        assert r.status_code in (200, 201), r.text
    yield url, request.param
    proc.terminate()
    proc.wait(10)


def _set_status(url: str, pid: str, status: str, reason: str = "") -> None:
    q = f"policyid={pid}&status={status}" + (f"&reason={reason}" if reason else "")
    assert httpx.put(f"{url}/status?{q}").status_code == 200


def test_client_finds_the_flavour_and_runs_every_operation(sim):
    url, flavour = sim
    c = NearRtA1(url, retry=FAST, prefix="auto")
    c.ensure_type()  # OSC_2.1.0: created over A1; STD_2.0.0: already loaded
    assert c.prefix == PREFIX[flavour] and c.health()
    assert POLICY_TYPE_ID in c.list_types()
    policy = build_policy(3, [("small-ai-1", "cpu-heavy-1")], "test")
    assert c.put("haf-epoch-3", policy) in (200, 201, 202)
    assert c.get("haf-epoch-3") == policy
    assert c.list_policies() == ["haf-epoch-3"]
    # Nobody has enforced it: NOT_ENFORCED/OTHER_REASON is final once it has settled, not
    # after the whole timeout.
    t0 = time.monotonic()
    st = wait_enforced(c, "haf-epoch-3", timeout_s=5.0)
    assert st["enforceStatus"] == "NOT_ENFORCED" and time.monotonic() - t0 < 2.0
    _set_status(url, "haf-epoch-3", "ENFORCED")
    assert wait_enforced(c, "haf-epoch-3", 5.0)["enforceStatus"] == "ENFORCED"
    _set_status(url, "haf-epoch-3", "NOT_ENFORCED", "STATEMENT_NOT_APPLICABLE")
    st = c.status("haf-epoch-3")
    assert (st["enforceStatus"], st["enforceReason"]) == (
        "NOT_ENFORCED",
        "STATEMENT_NOT_APPLICABLE",
    )
    c.delete("haf-epoch-3")
    assert c.list_policies() == []


def test_operator_cli_against_the_simulator(sim, capsys, tmp_path):
    url, flavour = sim
    common = ["--url", url, "--prefix", "auto"]
    code, out, err = haf(["a1", "types", *common, "--create"], capsys)
    assert code == 0 and str(POLICY_TYPE_ID) in out, err
    pfile = tmp_path / "p.json"
    pfile.write_text(json.dumps(build_policy(5, [("du-3", "gpu-heavy-1")], "operator")))
    code, out, err = haf(["a1", "put", "op-5", str(pfile), *common, "--wait", "0"], capsys)
    assert code == 0 and "PUT op-5" in out, err
    _set_status(url, "op-5", "NOT_ENFORCED", "SCOPE_NOT_APPLICABLE")
    code, out, _ = haf(["a1", "status", "op-5", *common], capsys)
    assert code == 0 and "NOT_ENFORCED" in out and "SCOPE_NOT_APPLICABLE" in out
    _set_status(url, "op-5", "ENFORCED")
    code, out, _ = haf(["a1", "status", "op-5", *common], capsys)
    assert code == 0 and "ENFORCED" in out and "NOT_ENFORCED" not in out
    code, out, _ = haf(["a1", "get", "op-5", *common], capsys)
    assert code == 0 and json.loads(out)["epoch"] == 5
    code, out, _ = haf(["a1", "delete", "op-5", *common], capsys)
    assert code == 0
    code, out, _ = haf(["a1", "get", *common], capsys)
    assert code == 0 and "no policy instances" in out
    # The explicit prefix of the other flavour is a 404: an A1 error, exit 1, not a traceback.
    other = "/a1-p" if flavour == "STD_2.0.0" else "/A1-P/v2"
    code, _, err = haf(["a1", "get", "--url", url, "--prefix", other], capsys)
    assert code == 1 and "A1 error" in (err + _)


def test_rapp_push_is_refused_quickly_when_nothing_enforces_it(sim):
    """The rApp's epoch through a real A1 implementation: type, put, status; NOT_ENFORCED is
    final (the simulator has no xApp behind it), counted by reason."""
    from rapp_placement.service import RappConfig, RappMetrics, RappService, make_target

    url, _ = sim
    cfg = RappConfig(a1_url=url, a1_prefix="auto", critic="none", enforce_timeout_s=5.0)
    svc = RappService.__new__(RappService)  # the push path only: no xApp, no agent
    svc.cfg, svc.metrics = cfg, RappMetrics()
    svc.target, svc.type_ready, svc.issued = make_target(cfg), False, []
    from rapp_placement.service import EpochResult

    t0 = time.monotonic()
    res = svc._push(EpochResult(7, "noop"), build_policy(7, [("du-1", "balanced-1")], "haf-rapp"))
    assert res.outcome == "refused" and time.monotonic() - t0 < 3.0
    assert (
        svc.metrics.registry.get_sample_value(
            "haf_rapp_a1_refusals_total", {"reason": "OTHER_REASON"}
        )
        == 1
    )
