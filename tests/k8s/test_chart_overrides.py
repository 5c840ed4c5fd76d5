"""What a cluster would do with the chart's per-provider settings and its changes, read from real `helm template`
output: a provider's own port everywhere it is reached, settings changes that roll the pods reading them, a
self-hosted upstream's egress, a PodDisruptionBudget that would hang drains, the alert rules' scrape job."""

from __future__ import annotations

import subprocess

import pytest
import yaml

import catalogue
from tests.k8s.conftest import CHART, NAMESPACE, RELEASE, helm, render

FULL = f"{RELEASE}-llm-gateway"


def _template(*sets: str) -> tuple[int, list[dict], str]:
    """`helm template` with these --set values: exit code, objects, stderr."""
    args = [a for s in sets for a in ("--set", s)]
    out = subprocess.run([helm(), "template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args],
                         capture_output=True, text=True, timeout=120)
    docs = [d for d in yaml.safe_load_all(out.stdout) if d] if out.returncode == 0 else []
    return out.returncode, docs, out.stderr


def _one(docs: list[dict], kind: str, name: str) -> dict:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def _checksum(docs: list[dict], deployment: str) -> str:
    return _one(docs, "Deployment", deployment)["spec"]["template"]["metadata"]["annotations"]["checksum/config"]


def test_a_providers_own_port_is_where_the_edge_reaches_it() -> None:
    code, docs, err = _template("providers.openai.port=9000")
    assert code == 0, err
    edge = _one(docs, "ConfigMap", f"{FULL}-edge")["data"]
    assert edge["NGINX_UPSTREAM_OPENAI"] == f"{FULL}-openai:9000" and edge["NGINX_UPSTREAM_COHERE"].endswith(":8000")
    assert _one(docs, "ConfigMap", f"{FULL}-openai")["data"]["GATEWAY_PORT"] == "9000"
    assert [p["port"] for p in _one(docs, "Service", f"{FULL}-openai")["spec"]["ports"]] == [9000]
    egress = _one(docs, "NetworkPolicy", f"{FULL}-edge")["spec"]["egress"]
    to_gateways = next(rule for rule in egress if "to" in rule)
    assert sorted(p["port"] for p in to_gateways["ports"]) == [8000, 9000]


@pytest.mark.parametrize(("change", "deployment"), [
    ("providers.mistral.enabled=false", "edge"),  # the edge's provider list
    ("providers.openai.port=9000", "edge"),  # where the edge reaches a gateway
    ("vault.addr=https://vault2.vault.svc:8200", "openai"),  # the Vault a gateway reads its key from
    ("vault.mount=kv", "openai"),
])
def test_a_settings_change_rolls_the_pods_that_read_it(change: str, deployment: str) -> None:
    code, before, err = _template()
    assert code == 0, err
    code, after, err = _template(change)
    assert code == 0, err
    assert _checksum(before, f"{FULL}-{deployment}") != _checksum(after, f"{FULL}-{deployment}")


def test_self_hosted_rows_are_off_until_given_their_server_and_egress_to_it() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())["providers"]
    for row in catalogue.providers():
        assert values[row.name]["enabled"] is (row.kind != "openai-compatible"), row.name
    rule = {"to": [{"ipBlock": {"cidr": "10.30.0.0/24"}}], "ports": [{"port": 8000, "protocol": "TCP"}]}
    code, docs, err = _template("providers.local-llama.enabled=true",
                                "providers.local-llama.upstreamBaseUrl=http://vllm.ml.svc:8000/v1",
                                "providers.local-llama.networkPolicy.upstreamEgress[0].to[0].ipBlock.cidr=10.30.0.0/24",
                                "providers.local-llama.networkPolicy.upstreamEgress[0].ports[0].port=8000",
                                "providers.local-llama.networkPolicy.upstreamEgress[0].ports[0].protocol=TCP")
    assert code == 0, err
    assert rule in _one(docs, "NetworkPolicy", f"{FULL}-local-llama")["spec"]["egress"]
    assert rule not in _one(docs, "NetworkPolicy", f"{FULL}-openai")["spec"]["egress"]  # that provider's only


@pytest.mark.parametrize("sets", [
    ("gateway.autoscaling.enabled=true", "providers.openai.pdb.minAvailable=2"),  # the HPA's minimum is 2
    ("providers.openai.replicas=2", "providers.openai.pdb.minAvailable=2"),
])
def test_a_disruption_budget_that_would_hang_every_drain_is_refused(sets: tuple[str, ...]) -> None:
    code, _, err = _template("gateway.allowPerPodLimits=true", *sets)
    assert code != 0 and "providers.openai.pdb.minAvailable" in err and "drain" in err, err
    ok = _template("gateway.allowPerPodLimits=true", "providers.openai.replicas=2",
                   "providers.openai.pdb.minAvailable=50%")
    assert ok[0] == 0, ok[2]  # a share is the cluster's to round


def test_the_scrape_job_is_the_one_the_alert_rules_name() -> None:
    monitor = render("all-on").one("ServiceMonitor", f"{FULL}-gateways")
    assert {"targetLabel": "job", "replacement": "llm-gateway"} in monitor["spec"]["endpoints"][0]["relabelings"]
    rules = render("all-on").one("PrometheusRule", f"{FULL}-alerts")["spec"]["groups"]
    down = next(r for g in rules for r in g["rules"] if r.get("alert") == "LLMGatewayDown")
    assert 'job="llm-gateway"' in down["expr"]


@pytest.mark.parametrize(("sets", "workers"), [
    ((), "1"), (("edge.resources.limits.cpu=2500m",), "3"), (("edge.resources.limits.cpu=2",), "2"),
    (("edge.settings.NGINX_WORKER_PROCESSES=auto",), "auto"),  # the operator's own choice stands
])
def test_nginx_runs_a_worker_per_cpu_of_its_limit_not_of_the_node(sets: tuple[str, ...], workers: str) -> None:
    code, docs, err = _template(*sets)
    assert code == 0, err
    assert _one(docs, "ConfigMap", f"{FULL}-edge")["data"]["NGINX_WORKER_PROCESSES"] == workers


def test_a_route_in_front_reaches_the_edge_over_tls() -> None:
    route = ("httpRoute.enabled=true", "httpRoute.parentRefs[0].name=public")
    code, _, err = _template(*route)
    assert code != 0 and "httpRoute.backendTLS.hostname is required" in err
    code, docs, err = _template(*route, "httpRoute.backendTLS.hostname=llm.example.com")
    assert code == 0, err
    policy = _one(docs, "BackendTLSPolicy", f"{FULL}-edge")["spec"]
    service = _one(docs, "Service", f"{FULL}-edge")
    [target] = policy["targetRefs"]
    assert (target["kind"], target["name"]) == ("Service", service["metadata"]["name"])
    assert target["sectionName"] in [p["name"] for p in service["spec"]["ports"]]
    assert policy["validation"] == {"hostname": "llm.example.com", "wellKnownCACertificates": "System"}
    policy = render("all-on").one("BackendTLSPolicy", f"{FULL}-edge")["spec"]
    assert policy["validation"]["caCertificateRefs"] == [{"group": "", "kind": "ConfigMap", "name": "llm-edge-ca"}]
