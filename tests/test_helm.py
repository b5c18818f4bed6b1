"""Helm charts, checked without a helm binary: they render (Go-template subset, see
tests/helm_render.py), every value they use exists, and ports, message types, files and
commands agree with the descriptor and the code."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import yaml

from tests.helm_render import Chart, TemplateError, values_paths

ROOT = Path(__file__).resolve().parents[1]
HELM = ROOT / "helm"
DEPLOY = ROOT / "xapp_alloc" / "deploy"
DESC = json.loads((DEPLOY / "config-file.json").read_text())


def _by_kind(objs: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for o in objs:
        out.setdefault(o["kind"], []).append(o)
    return out


@pytest.mark.parametrize("chart", ["haf-xapp", "haf-rapp"])
def test_every_value_used_exists_and_every_value_is_used(chart):
    root = HELM / chart
    values = yaml.safe_load((root / "values.yaml").read_text())
    known = values_paths(values)
    text = "".join(p.read_text() for p in (root / "templates").iterdir())
    used = set(re.findall(r"\.Values(?:\.[A-Za-z_][A-Za-z0-9_]*)+", text))
    assert used and used <= known, sorted(used - known)
    leaves = {p for p in known if not isinstance(_get(values, p), dict)}
    unused = {p for p in leaves if not any(u == p or p.startswith(u + ".") for u in used)}
    assert not unused, f"values nobody reads: {sorted(unused)}"


def _get(tree, path: str):
    for part in path.split(".")[2:]:
        tree = tree[part]
    return tree


def test_renderer_rejects_a_missing_value_and_unknown_functions(tmp_path):
    chart = tmp_path / "c"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("name: c\nversion: 0.0.1\n")
    (chart / "values.yaml").write_text("a: 1\n")
    (chart / "templates" / "x.yaml").write_text("v: {{ .Values.b }}\n")
    with pytest.raises(TemplateError, match="missing 'b'"):
        Chart(chart).render()
    (chart / "templates" / "x.yaml").write_text("v: {{ .Values.a | upper }}\n")
    with pytest.raises(TemplateError, match="upper"):
        Chart(chart).render()


def test_xapp_chart_matches_the_descriptor_and_the_code():
    from xapp_alloc.health import ALIVE, READY
    from xapp_alloc.transport import rmr

    objs = _by_kind(Chart(HELM / "haf-xapp").objects())
    (dep,) = objs["Deployment"]
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    desc_ports = {p["name"]: p["port"] for p in DESC["messaging"]["ports"]}
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == desc_ports
    assert c["name"] == DESC["containers"][0]["name"]
    img = DESC["containers"][0]["image"]
    assert c["image"] == f"{img['registry']}/{img['name']}:{img['tag']}"
    assert c["command"] == ["python", "-m", "xapp_alloc.transport.rmr"] and callable(rmr.main)
    assert c["livenessProbe"]["httpGet"]["path"] == ALIVE
    assert c["readinessProbe"]["httpGet"]["path"] == READY
    assert c["livenessProbe"]["httpGet"]["port"] == desc_ports["http"]
    # The descriptor and route table mounted where the onboarder mounts them.
    maps = {m["metadata"]["name"]: m["data"] for m in objs["ConfigMap"]}
    appconfig = next(d for n, d in maps.items() if n.endswith("-appconfig"))
    appenv = next(d for n, d in maps.items() if n.endswith("-appenv"))
    assert json.loads(appconfig["config-file.json"]) == DESC
    assert appconfig["routes.rt"] == (DEPLOY / "routes.rt").read_text()
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert mounts["app-config"] == "/opt/ric/config"
    # RMR stashes the routing manager's tables beside RMR_STASH_RT: a writable emptyDir,
    # never the read-only ConfigMap that holds the seed table.
    stash = appenv["RMR_STASH_RT"]
    assert stash.startswith(mounts["rmr-stash"] + "/")
    vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert "emptyDir" in vols["rmr-stash"] and "configMap" in vols["app-config"]
    assert appenv["CONFIG_FILE"] == "/opt/ric/config/config-file.json"
    assert appenv["RMR_RTG_SVC"] == str(desc_ports["rmr-route"])
    assert appenv["RMR_SEED_RT"] == "/opt/ric/config/routes.rt"
    assert appenv["GRPC_PORT"] == str(rmr.GRPC_PORT) == str(desc_ports["grpc"])
    assert appenv["HTTP_PORT"] == str(desc_ports["http"])
    assert appenv["RMR_SRC_ID"].startswith("service-ricxapp-haf-xapp-rmr.")
    for key in ("DBAAS_SERVICE_HOST", "DBAAS_SERVICE_PORT"):
        assert appenv[key]
    # Services: the rmr one carries both RMR ports, the http one health/metrics and gRPC.
    svc = {s["metadata"]["name"]: s for s in objs["Service"]}
    rmr_svc = svc["service-ricxapp-haf-xapp-rmr"]["spec"]["ports"]
    assert {p["port"] for p in rmr_svc} == {desc_ports["rmr-data"], desc_ports["rmr-route"]}
    assert (
        svc["service-ricxapp-haf-xapp-rmr"]["spec"]["selector"]
        == (dep["spec"]["selector"]["matchLabels"])
    )
    assert dep["spec"]["selector"]["matchLabels"].items() <= (
        dep["spec"]["template"]["metadata"]["labels"].items()
    )


def test_route_table_comes_from_values():
    values = yaml.safe_load((HELM / "haf-xapp" / "values.yaml").read_text())
    values["rmr"]["routes"] = {"e2term": "e2t.example:38000", "a1mediator": "a1.example:4562"}
    objs = _by_kind(Chart(HELM / "haf-xapp", values).objects())
    maps = {m["metadata"]["name"]: m["data"] for m in objs["ConfigMap"]}
    table = next(d for n, d in maps.items() if n.endswith("-appconfig"))["routes.rt"]
    assert "rte|12040|e2t.example:38000" in table and "rte|20012|a1.example:4562" in table


def test_chart_files_are_copies_of_the_deploy_files():
    for name in ("config-file.json",):
        assert (HELM / "haf-xapp" / "files" / name).read_text() == (DEPLOY / name).read_text(), (
            f"cp xapp_alloc/deploy/{name} helm/haf-xapp/files/"
        )


def _rapp_config(values: dict | None = None) -> dict:
    objs = _by_kind(Chart(HELM / "haf-rapp", values).objects())
    (cm,) = objs["ConfigMap"]
    return json.loads(cm["data"]["rapp-config.json"])


def test_rapp_chart_renders_a_config_the_service_accepts():
    from rapp_placement.service import RappConfig

    cfg = RappConfig.from_dict(_rapp_config())
    values = yaml.safe_load((HELM / "haf-rapp" / "values.yaml").read_text())
    assert cfg.agent == f"ollama:{values['agent']['model']}@{values['ollama']['host']}"
    assert cfg.a1_mode == "pms" and cfg.critic is None
    other = copy.deepcopy(values)
    other["agent"]["kind"] = "heuristic"
    other["critic"]["weights"] = "none"
    other["a1"]["mode"] = "a1p"
    cfg = RappConfig.from_dict(_rapp_config(other))
    assert (cfg.agent, cfg.critic, cfg.a1_mode) == ("heuristic", "none", "a1p")


def test_rapp_chart_command_uses_flags_the_cli_has():
    import typer

    from haf.cli import app

    objs = _by_kind(Chart(HELM / "haf-rapp").objects())
    (dep,) = objs["Deployment"]
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    cmd = c["command"]
    assert cmd[:2] == ["haf", "rapp"]
    rapp = typer.main.get_command(app).commands["rapp"]
    flags = {opt for p in rapp.params for opt in p.opts}
    assert {a for a in cmd[2:] if a.startswith("--")} <= flags
    port = int(cmd[cmd.index("--port") + 1])
    assert c["ports"][0]["containerPort"] == port == c["livenessProbe"]["httpGet"]["port"]
    (svc,) = objs["Service"]
    assert svc["spec"]["ports"][0]["port"] == port
    assert cmd[cmd.index("--config") + 1].startswith(c["volumeMounts"][0]["mountPath"])


def test_rapp_dockerfile_runs_what_the_chart_runs():
    text = (ROOT / "rapp_placement" / "deploy" / "Dockerfile").read_text()
    (cmd,) = re.findall(r"^CMD (\[.*\])$", text, re.M)
    objs = _by_kind(Chart(HELM / "haf-rapp").objects())
    (c,) = objs["Deployment"][0]["spec"]["template"]["spec"]["containers"]
    assert json.loads(cmd) == c["command"]
    assert f"EXPOSE {c['ports'][0]['containerPort']}" in text


def test_xapp_dockerfile_exposes_every_descriptor_port():
    text = (DEPLOY / "Dockerfile").read_text()
    (line,) = re.findall(r"^EXPOSE (.*)$", text, re.M)
    assert {int(p) for p in line.split()} == {p["port"] for p in DESC["messaging"]["ports"]}
