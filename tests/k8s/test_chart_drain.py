"""Pods that go away cleanly and stay spread, and an edge that sees its clients' addresses.

- A gateway's terminationGracePeriodSeconds covers its whole shutdown: the preStop sleep, uvicorn's drain, then
  the app's own shutdown, which with PostgreSQL usage flushes the buffered rows (retried up to the sink's close
  deadline, read here from services/gateway/audit_postgres.py).
- The edge spreads over nodes like the gateways do.
- A NodePort or LoadBalancer edge keeps the clients' source addresses (externalTrafficPolicy: Local): SNAT to node
  addresses would make nginx's per-IP limits count nodes.
"""

from __future__ import annotations

import inspect
import re

import pytest

from tests.k8s.conftest import VALUE_SETS, Rendered, find, render, template

FULL = "llm-llm-gateway"


def _usage_flush_seconds() -> float:
    """How long the PostgreSQL sink's close() retries its flush (the gateway builds it with the default)."""
    from gateway.audit_postgres import PostgresSink

    return float(inspect.signature(PostgresSink.__init__).parameters["close_deadline_s"].default)


def _gateway_pods(r: Rendered) -> list[dict]:
    return [d for d in r.of_kind("Deployment") if "llm-gateway.io/provider" in d["metadata"]["labels"]]


def _drain(r: Rendered, deployment: dict) -> tuple[float, int]:
    """(GATEWAY_SHUTDOWN_GRACE_S, preStop sleep) of a gateway Deployment."""
    config = r.one("ConfigMap", deployment["metadata"]["name"])["data"]
    command = deployment["spec"]["template"]["spec"]["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    sleep = re.search(r"sleep\((\d+)\)", command[-1])
    assert sleep is not None, command
    return float(config["GATEWAY_SHUTDOWN_GRACE_S"]), int(sleep[1])


@pytest.mark.parametrize("name", ["all-on", "stores-in-chart"])  # external and in-chart PostgreSQL
def test_the_grace_period_covers_the_usage_flush_after_the_drain(name: str) -> None:
    r = render(name)
    flush = _usage_flush_seconds()
    for deployment in _gateway_pods(r):
        config = r.one("ConfigMap", deployment["metadata"]["name"])["data"]
        assert config["GATEWAY_USAGE_BACKEND"] == "postgres"
        grace, sleep = _drain(r, deployment)
        period = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        # + 10 s for the rest: Vault, the Redis settles, the flush's last try running past the deadline.
        assert period >= sleep + grace + flush + 10, (deployment["metadata"]["name"], period, flush)


def test_without_postgres_the_grace_period_keeps_its_short_margin() -> None:
    r = render("defaults")
    for deployment in _gateway_pods(r):
        grace, sleep = _drain(r, deployment)
        assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == sleep + grace + 10


def test_a_providers_own_drain_settings_set_its_grace_period() -> None:
    postgres = ("postgres.mode=external", "postgres.external.dsnSecret.name=pg",
                "postgres.external.egress.cidrs={10.0.0.0/8}")
    code, docs, err = template(*postgres, "providers.openai.shutdownGraceSeconds=60")
    assert code == 0, err
    openai = find(docs, "Deployment", f"{FULL}-openai")
    cohere = find(docs, "Deployment", f"{FULL}-cohere")
    assert openai is not None and cohere is not None
    assert openai["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 60 + 5 + 30
    assert cohere["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 20 + 5 + 30


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_the_edge_spreads_over_nodes_like_the_gateways(name: str) -> None:
    r = render(name)
    edge = r.one("Deployment", f"{FULL}-edge")
    labels = edge["spec"]["selector"]["matchLabels"]
    [spread] = edge["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert spread == {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
                      "labelSelector": {"matchLabels": labels}}
    for gateway in _gateway_pods(r):  # the same rule, each over its own pods
        [theirs] = gateway["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert {k: v for k, v in theirs.items() if k != "labelSelector"} == {
            k: v for k, v in spread.items() if k != "labelSelector"}


@pytest.mark.parametrize("kind", ["LoadBalancer", "NodePort"])
def test_an_edge_exposed_on_nodes_keeps_the_clients_addresses(kind: str) -> None:
    code, docs, err = template(f"edge.service.type={kind}")
    assert code == 0, err
    service = find(docs, "Service", f"{FULL}-edge")
    assert service is not None and service["spec"]["externalTrafficPolicy"] == "Local"
    code, docs, err = template(f"edge.service.type={kind}", "edge.service.externalTrafficPolicy=Cluster")
    assert code == 0, err
    service = find(docs, "Service", f"{FULL}-edge")
    assert service is not None and service["spec"]["externalTrafficPolicy"] == "Cluster"  # the operator's choice


def test_a_cluster_ip_edge_has_no_external_traffic_policy() -> None:
    """The API server refuses externalTrafficPolicy on a ClusterIP Service."""
    service = render("defaults").one("Service", f"{FULL}-edge")
    assert service["spec"]["type"] == "ClusterIP" and "externalTrafficPolicy" not in service["spec"]
    assert render("all-on").one("Service", f"{FULL}-edge")["spec"]["externalTrafficPolicy"] == "Local"


def test_an_unknown_traffic_policy_is_refused() -> None:
    code, _, err = template("edge.service.type=LoadBalancer", "edge.service.externalTrafficPolicy=Node")
    assert code != 0 and "schema" in err, err
