"""The shared stores in the chart: external Redis/PostgreSQL from existing Secrets (TLS), or in-chart ones.

Defaults keep the embedded backends (so one pod per provider); `all-on` points at external services over TLS;
`stores-in-chart` runs one Valkey and one PostgreSQL in the release, reachable from its gateways only.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.k8s.conftest import CHART, RELEASE, Rendered, helm, render
from tests.k8s.test_chart_policies import FULL, container_env

GATEWAY = {"app.kubernetes.io/name": "llm-gateway", "app.kubernetes.io/instance": RELEASE,
           "app.kubernetes.io/component": "gateway"}


def _config(r: Rendered, provider: str) -> dict[str, str]:
    config = r.get("ConfigMap", f"{FULL}-{provider}")
    assert config is not None
    return config["data"]


def _gateway(r: Rendered, provider: str) -> dict:
    deployment = r.get("Deployment", f"{FULL}-{provider}")
    assert deployment is not None
    return deployment


def test_defaults_keep_the_embedded_backends_with_one_pod_per_provider() -> None:
    r = render("defaults")
    assert not r.of_kind("StatefulSet")
    for provider in r.enabled_providers():
        data = _config(r, provider)
        assert not {k for k in data if k.startswith(("GATEWAY_LIMITS_", "GATEWAY_USAGE_"))}, data
        assert "env" not in _gateway(r, provider)["spec"]["template"]["spec"]["containers"][0]
        # In-memory limits are exact only in one pod: no autoscaler, and no budget that would hang a drain.
        assert _gateway(r, provider)["spec"]["replicas"] == 1
        assert r.get("HorizontalPodAutoscaler", f"{FULL}-{provider}") is None
        assert r.get("PodDisruptionBudget", f"{FULL}-{provider}") is None


def test_external_stores_come_from_existing_secrets_over_tls() -> None:
    r = render("all-on")
    for provider in r.enabled_providers():
        data = _config(r, provider)
        assert data["GATEWAY_LIMITS_BACKEND"] == "redis" and data["GATEWAY_USAGE_BACKEND"] == "postgres"
        assert data["GATEWAY_LIMITS_BUDGETS_ON_OUTAGE"] == "open" and data["GATEWAY_USAGE_BATCH"] == "200"
        pod = _gateway(r, provider)["spec"]["template"]["spec"]
        env = {e["name"]: e for e in pod["containers"][0]["env"]}
        assert env["GATEWAY_REDIS_URL"]["valueFrom"]["secretKeyRef"] == {"name": "llm-redis", "key": "url"}
        assert env["GATEWAY_POSTGRES_DSN"]["valueFrom"]["secretKeyRef"] == {"name": "llm-postgres", "key": "dsn"}
        assert env["PGSSLMODE"]["value"] == "verify-full"
        mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert env["PGSSLROOTCERT"]["value"] == "/etc/llm-gateway/postgres-ca/ca.crt"
        for path, secret in (("/etc/llm-gateway/postgres-ca", "postgres-ca"),
                             ("/etc/llm-gateway/redis-ca", "redis-ca")):
            assert mounts[path]["readOnly"] is True
            assert volumes[mounts[path]["name"]]["secret"]["secretName"] == secret
    # The autoscaler's ceiling is the fallback's divisor: N pods deciding alone never pass the limit together.
    assert _config(r, "openai")["GATEWAY_LIMITS_REPLICAS"] == "12"
    egress = r.one("NetworkPolicy", f"{FULL}-openai")["spec"]["egress"]
    by_port = {rule["ports"][0]["port"]: rule.get("to") for rule in egress}
    assert by_port[6380] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "data"}},
                              "podSelector": {"matchLabels": {"app": "redis"}}}]
    assert by_port[5432] == [{"ipBlock": {"cidr": "10.30.0.5/32"}}]


def test_in_chart_stores_are_single_hardened_statefulsets_with_volumes() -> None:
    r = render("stores-in-chart")
    for name, port, mount in (("valkey", 6379, "/data"), ("postgres", 5432, "/var/lib/postgresql/data")):
        sts = r.get("StatefulSet", f"{FULL}-{name}")
        assert sts is not None and sts["spec"]["replicas"] == 1
        pod = sts["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == 999 and pod["automountServiceAccountToken"] is False
        container = pod["containers"][0]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert {m["mountPath"] for m in container["volumeMounts"]} >= {mount, "/tmp"}
        [claim] = sts["spec"]["volumeClaimTemplates"]
        assert claim["spec"]["accessModes"] == ["ReadWriteOnce"] and claim["metadata"]["name"] == "data"
        password = next(e for e in container["env"] if "valueFrom" in e)
        assert password["valueFrom"]["secretKeyRef"]["name"] == f"llm-{name}"
        service = r.get("Service", f"{FULL}-{name}")
        assert service is not None and service["spec"]["ports"][0]["port"] == port
    valkey = r.one("StatefulSet", f"{FULL}-valkey")["spec"]
    assert valkey["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "standard"
    script = valkey["template"]["spec"]["containers"][0]["args"][-1]
    assert "--appendonly yes" in script and "--requirepass" not in script  # the password: test_chart_secrets.py
    image = r.one("StatefulSet", f"{FULL}-postgres")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.example.com/mirror/postgres:17.6-bookworm"


def test_only_the_gateways_reach_the_in_chart_stores() -> None:
    r = render("stores-in-chart")
    for name, port in (("valkey", 6379), ("postgres", 5432)):
        policy = r.get("NetworkPolicy", f"{FULL}-{name}")
        assert policy is not None
        spec = policy["spec"]
        assert spec["policyTypes"] == ["Ingress", "Egress"] and spec["egress"] == []
        [rule] = spec["ingress"]
        assert rule["from"] == [{"podSelector": {"matchLabels": GATEWAY}}]
        assert rule["ports"] == [{"port": port, "protocol": "TCP"}]
        store_labels = r.one("StatefulSet", f"{FULL}-{name}")["spec"]["template"]["metadata"]["labels"]
        for provider in r.enabled_providers():
            egress = r.one("NetworkPolicy", f"{FULL}-{provider}")["spec"]["egress"]
            to_store = [e for e in egress if any(
                all(store_labels.get(k) == v for k, v in peer.get("podSelector", {}).get("matchLabels", {}).items())
                and peer.get("podSelector", {}).get("matchLabels") for peer in e.get("to", []))]
            assert [e["ports"] for e in to_store] == [[{"port": port, "protocol": "TCP"}]], (provider, name)


def test_in_chart_urls_reach_the_gateway_as_settings_it_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.config import load_settings

    r = render("stores-in-chart")
    for provider in r.enabled_providers():
        env = container_env(_gateway(r, provider))
        assert env["GATEWAY_REDIS_URL"] == f"redis://:hex0123456789abcdef@{FULL}-valkey:6379/0"
        assert env["GATEWAY_POSTGRES_DSN"] == f"postgresql://llm:hex0123456789abcdef@{FULL}-postgres:5432/llm"
        with monkeypatch.context() as m:
            for key, value in {**_config(r, provider), **env}.items():
                m.setenv(key, value)
            settings = load_settings()
        assert (settings.limits_backend, settings.usage_backend) == ("redis", "postgres")
        assert settings.limits_replicas == 4 and settings.redis_url == env["GATEWAY_REDIS_URL"]


@pytest.mark.parametrize("values,message", [
    (["redis.mode=external", "redis.external.egress.cidrs={10.0.0.0/8}"], "redis.external.urlSecret.name"),
    (["postgres.mode=external", "postgres.external.egress.cidrs={10.0.0.0/8}"], "postgres.external.dsnSecret.name"),
    (["redis.mode=inChart"], "redis.inChart.passwordSecret.name"),
    (["postgres.mode=inChart"], "postgres.inChart.passwordSecret.name"),
    (["redis.mode=external", "redis.external.urlSecret.name=r"], "redis.external.egress"),
])
def test_a_store_without_its_secret_or_peers_is_refused_by_name(values: list[str], message: str) -> None:
    out = subprocess.run([helm(), "template", RELEASE, str(CHART), *[a for v in values for a in ("--set", v)]],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and message in out.stderr, out.stderr
