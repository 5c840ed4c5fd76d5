"""Policies over the rendered manifests of every value set: isolation per provider, hardening, drain.

What these check is what the cluster would run: the objects `helm template` emits, not the templates.
"""

from __future__ import annotations

import re

import pytest
import yaml

import catalogue
from tests.k8s.conftest import CHART, RELEASE, Rendered, chart_values, render

FULL = f"{RELEASE}-llm-gateway"
PER_PROVIDER = ("Deployment", "Service", "ServiceAccount", "HorizontalPodAutoscaler", "PodDisruptionBudget",
                "NetworkPolicy", "ConfigMap")
# *_FILE paths are fine; the stores' URL/DSN carry their password (they come from Secrets)
SECRET_NAME = re.compile(r"(API_KEY|CLIENT_KEYS|TOKEN|SECRET|PASSWORD|CREDENTIALS?|DSN|REDIS_URL)$")
SECRET_VALUE = re.compile(r"(sk-[A-Za-z0-9-]{8,}|-----BEGIN|eyJ[A-Za-z0-9_-]{10,}\.)")


def _pods(r: Rendered) -> list[tuple[dict, dict]]:
    """(workload, pod spec) of every Deployment and StatefulSet (the in-chart stores)."""
    return [(d, d["spec"]["template"]["spec"]) for d in r.of_kind("Deployment") + r.of_kind("StatefulSet")]


# What a Secret would hold, for settings that come from one (the chart never renders a Secret).
SECRET_STANDINS = {"GATEWAY_REDIS_URL": "rediss://:pw@redis.data.svc:6380/0",
                   "GATEWAY_POSTGRES_DSN": "postgresql://llm:pw@10.30.0.5:5432/llm"}


def container_env(workload: dict) -> dict[str, str]:
    """The first container's `env` as the kubelet sets it: Secret refs stood in for, $(VAR) expanded."""
    out: dict[str, str] = {}
    for item in workload["spec"]["template"]["spec"]["containers"][0].get("env", []):
        if "valueFrom" in item:
            out[item["name"]] = SECRET_STANDINS.get(item["name"], "hex0123456789abcdef")
        else:
            out[item["name"]] = re.sub(r"\$\((\w+)\)", lambda m: out[m[1]], item["value"])
    return out


def _provider(obj: dict) -> str | None:
    return obj["metadata"]["labels"].get("llm-gateway.io/provider")


def test_provider_list_is_the_gateway_registry() -> None:
    schema = __import__("json").loads((CHART / "values.schema.json").read_text())
    assert sorted(chart_values()["providers"]) == sorted(catalogue.names())
    assert sorted(schema["properties"]["providers"]["properties"]) == sorted(catalogue.names())


def test_every_enabled_provider_has_its_objects_and_no_other(rendered: Rendered) -> None:
    enabled = rendered.enabled_providers()
    assert enabled, rendered.name
    for kind in PER_PROVIDER:
        providers = sorted(p for d in rendered.of_kind(kind) if (p := _provider(d)))
        if kind in ("HorizontalPodAutoscaler", "PodDisruptionBudget"):  # only where a provider runs several pods
            assert set(providers) <= set(enabled), f"{rendered.name}: {kind} for {providers}, enabled {enabled}"
        else:
            assert providers == enabled, f"{rendered.name}: {kind} for {providers}, enabled {enabled}"
    for provider in enabled:
        deployment = rendered.one("Deployment", f"{FULL}-{provider}")
        hpa = rendered.get("HorizontalPodAutoscaler", f"{FULL}-{provider}")
        # The HPA owns the replica count when there is one; the Deployment's own count otherwise.
        assert (hpa is None) == ("replicas" in deployment["spec"]), provider
        most = hpa["spec"]["maxReplicas"] if hpa else deployment["spec"]["replicas"]
        if hpa:
            assert 1 <= hpa["spec"]["minReplicas"] <= most
            assert hpa["spec"]["scaleTargetRef"]["name"] == f"{FULL}-{provider}"
        # A budget only where more than one pod can run: with one it could only hang a drain or allow everything.
        assert (rendered.get("PodDisruptionBudget", f"{FULL}-{provider}") is not None) == (most > 1), provider


def test_gateway_pods_use_only_their_own_identity_and_settings(rendered: Rendered) -> None:
    for deployment, pod in _pods(rendered):
        provider = _provider(deployment)
        if provider is None:
            continue
        own = f"{FULL}-{provider}"
        assert pod["serviceAccountName"] == own
        assert pod["automountServiceAccountToken"] is False
        referenced = []
        for volume in pod["volumes"]:
            if "secret" in volume or "configMap" in volume:
                referenced.append((volume.get("secret") or volume["configMap"]).get("secretName")
                                  or volume["configMap"]["name"])
            for source in volume.get("projected", {}).get("sources", []):
                assert set(source) == {"serviceAccountToken"}, volume  # own SA token only
        for container in pod["containers"]:
            referenced += [e["configMapRef"]["name"] for e in container.get("envFrom", []) if "configMapRef" in e]
            referenced += [e["secretRef"]["name"] for e in container.get("envFrom", []) if "secretRef" in e]
            for env in container.get("env", []):
                ref = env.get("valueFrom", {})
                referenced += [ref[k]["name"] for k in ("secretKeyRef", "configMapKeyRef") if k in ref]
        others = [p for p in catalogue.names() if p != provider]
        for name in referenced:
            assert not any(name.endswith(f"-{o}") or f"-{o}-" in name for o in others), (provider, name)
        settings = rendered.get("ConfigMap", own)
        assert settings is not None
        assert settings["data"]["GATEWAY_PROVIDER"] == provider
        assert settings["data"]["GATEWAY_VAULT_KUBERNETES_ROLE"] == f"llm-gateway-{provider}"
        assert settings["data"]["GATEWAY_VAULT_AUTH"] == "kubernetes"


def test_no_latest_tags_and_every_image_pinned(rendered: Rendered) -> None:
    for _, pod in _pods(rendered):
        for container in pod["containers"] + pod.get("initContainers", []):
            image = container["image"]
            name, _, tag = image.rpartition(":") if "@" not in image else (image, "", "digest")
            assert "@sha256:" in image or (name and tag and tag != "latest"), image


def test_configmaps_hold_no_secret(rendered: Rendered) -> None:
    for config in rendered.of_kind("ConfigMap"):
        for key, value in (config.get("data") or {}).items():
            assert not SECRET_NAME.search(key), (config["metadata"]["name"], key)
            assert not SECRET_VALUE.search(str(value)), (config["metadata"]["name"], key)
    assert not rendered.of_kind("Secret")  # the chart never carries secret material


def test_every_container_is_hardened(rendered: Rendered) -> None:
    for deployment, pod in _pods(rendered):
        where = deployment["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["runAsUser"] > 0, where
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", where
        for container in pod["containers"] + pod.get("initContainers", []):
            sc = container["securityContext"]
            assert sc["runAsNonRoot"] is True and sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False and sc.get("privileged", False) is False, where
            assert sc["capabilities"]["drop"] == ["ALL"] and not sc["capabilities"].get("add"), where
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", where
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), where
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), where


def test_gateways_probe_health_and_outlive_their_drain(rendered: Rendered) -> None:
    for deployment, pod in _pods(rendered):
        provider = _provider(deployment)
        if provider is None:
            continue
        container = pod["containers"][0]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["lifecycle"]["preStop"]["exec"]["command"]
        config = rendered.get("ConfigMap", f"{FULL}-{provider}")
        assert config is not None, provider
        grace = float(config["data"]["GATEWAY_SHUTDOWN_GRACE_S"])
        pause = re.search(r"sleep\((\d+)\)", container["lifecycle"]["preStop"]["exec"]["command"][-1])
        assert pause is not None, container["lifecycle"]["preStop"]
        sleep = int(pause[1])
        assert pod["terminationGracePeriodSeconds"] > grace + sleep, deployment["metadata"]["name"]


def _selects(peer: dict, labels: dict) -> bool:
    match = peer.get("podSelector", {}).get("matchLabels")
    return "namespaceSelector" not in peer and match is not None and all(labels.get(k) == v for k, v in match.items())


def test_network_policies_isolate_each_gateway(rendered: Rendered) -> None:
    policies = {p["metadata"]["name"]: p for p in rendered.of_kind("NetworkPolicy")}
    gateway_labels = {p: d["spec"]["template"]["metadata"]["labels"] for d, _ in _pods(rendered)
                      if (p := _provider(d))}
    edge_labels = next(d["spec"]["template"]["metadata"]["labels"] for d, _ in _pods(rendered)
                       if d["metadata"]["name"].endswith("-edge"))
    for provider in gateway_labels:
        spec = policies[f"{FULL}-{provider}"]["spec"]
        assert spec["policyTypes"] == ["Ingress", "Egress"]
        for rule in spec["ingress"]:
            for peer in rule["from"]:  # only the edge or the scraper's namespace, never a gateway
                assert _selects(peer, edge_labels) or "namespaceSelector" in peer, peer
                assert not any(_selects(peer, other) for other in gateway_labels.values()), peer
        ports = set()
        for rule in spec["egress"]:
            assert rule.get("to", None) != [], "an empty peer list would allow every destination"
            for peer in rule.get("to", []):
                assert not any(_selects(peer, other) for other in gateway_labels.values()), (provider, peer)
            if "to" not in rule:
                ports |= {p["port"] for p in rule["ports"]}
        assert ports == {53, 443}, f"{provider}: open egress on {ports}"  # DNS and TLS only; the rest names peers


def test_edge_routes_exactly_the_enabled_providers_with_the_repository_renderer(rendered: Rendered,
                                                                               tmp_path: object) -> None:
    from pathlib import Path

    from edge.render import render as render_nginx

    settings = rendered.get("ConfigMap", f"{FULL}-edge")
    assert settings is not None
    assert settings["data"]["NGINX_PROVIDERS"].split(",") == rendered.enabled_providers()
    prefix = Path(str(tmp_path)) / "nginx"
    values = {**settings["data"], "NGINX_TLS_CERT": "/etc/llm-gateway/tls/server.pem",
              "NGINX_TLS_KEY": "/etc/llm-gateway/tls/server.key"}
    conf = render_nginx(prefix, values)  # the image's entrypoint runs this same renderer on these values
    assert sorted(p.name for p in (prefix / "providers").iterdir()) == rendered.enabled_providers()
    text = "".join(p.read_text() for p in (prefix / "providers").rglob("*.conf")) + conf.read_text()
    for provider in rendered.enabled_providers():
        assert f"{FULL}-{provider}:8000" in text
    edge = rendered.get("Deployment", f"{FULL}-edge")
    assert edge is not None
    mounts = {m["mountPath"] for m in edge["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
    assert {"/etc/llm-gateway/tls", "/tmp"} <= mounts  # the cert paths above and the render prefix


def test_prometheus_rule_is_the_repository_alert_file() -> None:
    rendered = render("all-on")
    rule = rendered.get("PrometheusRule", f"{FULL}-alerts")
    assert rule is not None
    source = yaml.safe_load((CHART.parents[2] / "deploy" / "monitoring" / "alerts.yml").read_text())
    # Less the rules of providers this release does not run (their absence rule would fire forever).
    on = set(rendered.enabled_providers())
    expected = [{**group, "rules": [r for r in group["rules"] if r.get("labels", {}).get("provider") in (None, *on)]}
                for group in source["groups"]]
    assert rule["spec"]["groups"] == expected
    dropped = {r["labels"]["provider"] for g in source["groups"] for r in g["rules"]
               if r.get("labels", {}).get("provider")} - on
    assert dropped, "all-on leaves some provider off: the filter is exercised"


def test_gateway_settings_are_ones_the_gateway_reads(rendered: Rendered, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings ignores unknown GATEWAY_* variables, so a misspelt key in the chart would be silently lost."""
    from gateway.config import Settings, load_settings

    known = {f"GATEWAY_{name.upper()}" for name in Settings.model_fields}
    for provider in rendered.enabled_providers():
        data = rendered.one("ConfigMap", f"{FULL}-{provider}")["data"]
        assert set(data) <= known, set(data) - known
        deployment = rendered.get("Deployment", f"{FULL}-{provider}")
        assert deployment is not None
        with monkeypatch.context() as env:
            for key, value in {**data, **container_env(deployment)}.items():
                env.setenv(key, value)
            settings = load_settings()
        assert (settings.provider, settings.secrets_backend, settings.vault_auth) == (provider, "vault", "kubernetes")
        assert settings.vault_kubernetes_role == f"llm-gateway-{provider}"
        assert str(settings.vault_kubernetes_token_file) == "/var/run/secrets/vault/token"


def test_edge_settings_are_ones_the_renderer_reads(rendered: Rendered) -> None:
    from edge import render as nginx_render

    data = rendered.one("ConfigMap", f"{FULL}-edge")["data"]
    providers = data["NGINX_PROVIDERS"].split(",")
    known = set(nginx_render.DEFAULTS) | {"NGINX_HTTPS_PUBLIC_PORT"} | {
        f"NGINX_UPSTREAM_{p.upper()}" for p in providers} | {
        f"NGINX_{p.upper()}_{limit}" for p in providers for limit in nginx_render._LIMITS}
    assert set(data) <= known, set(data) - known


def _captured(pattern: str, script: str) -> str:
    """The first group of `pattern`'s first match in `script`; fail when the script no longer has it."""
    match = re.search(pattern, script)
    assert match is not None, pattern
    return match[1]


def test_kind_job_names_match_its_release(tmp_path: object) -> None:
    """deploy/helm/kind/e2e.sh installs release llm-gateway: its Vault binding and mock URLs must name those objects."""
    import subprocess

    from tests.k8s.conftest import VALUE_SETS, helm

    script = (CHART.parent / "kind" / "e2e.sh").read_text()
    release = _captured(r"RELEASE=(\S+)", script)
    out = subprocess.run([helm(), "template", release, str(CHART), "-f", str(VALUE_SETS["kind"])],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    accounts = sorted(d["metadata"]["name"] for d in docs if d["kind"] == "ServiceAccount")
    bound = _captured(r"--k8s-service-account '([^']+)'", script)
    assert accounts == sorted(bound.format(provider=p) for p in catalogue.names())
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    mock = next(n for n in services if n.endswith("-mock"))
    for config in (d for d in docs if d["kind"] == "ConfigMap" and "GATEWAY_UPSTREAM_BASE_URL" in d["data"]):
        url = config["data"]["GATEWAY_UPSTREAM_BASE_URL"]
        assert url.startswith(f"http://{mock}:{services[mock]['spec']['ports'][0]['port']}"), url
    assert f"svc/{release}-edge" in script and f"svc/{mock}" in script
    audience = _captured(r"--k8s-audience (\S+)", script)
    for deployment in (d for d in docs if d["kind"] == "Deployment" and _provider(d)):
        volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "vault-token")
        assert volume["projected"]["sources"][0]["serviceAccountToken"]["audience"] == audience


def test_each_per_provider_object_can_be_disabled() -> None:
    import subprocess

    from tests.k8s.conftest import helm

    sets = ["gateway.autoscaling.enabled=true", "gateway.allowPerPodLimits=true",
            "providers.openai.autoscaling.enabled=false", "providers.openai.replicas=3",
            "providers.openai.pdb.enabled=false", "providers.openai.networkPolicy.enabled=false",
            "edge.enabled=false"]
    out = subprocess.run([helm(), "template", RELEASE, str(CHART), *[a for s in sets for a in ("--set", s)]],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    openai = {d["kind"] for d in docs if _provider(d) == "openai"}
    assert openai == {"ConfigMap", "ServiceAccount", "Deployment", "Service"}
    deployment = next(d for d in docs if d["kind"] == "Deployment" and _provider(d) == "openai")
    assert deployment["spec"]["replicas"] == 3
    cohere = {d["kind"] for d in docs if _provider(d) == "cohere"}
    assert set(PER_PROVIDER) == cohere  # the others keep theirs
    assert not [d for d in docs if d["metadata"]["name"].endswith("-edge")]
