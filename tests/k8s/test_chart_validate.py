"""The chart passes `helm lint --strict` and every value set validates against the Kubernetes API schemas.

Validated with kubernetes-validate --strict (unknown fields rejected) for the oldest and newest
Kubernetes versions the chart supports (Chart.yaml kubeVersion). Custom resources (cert-manager,
Prometheus Operator, Gateway API) have no schema there: they are counted and left to the kind job.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.k8s.conftest import CHART, VALUE_SETS, helm, render

KUBERNETES_VERSIONS = ("1.29.0", "1.37.0")  # oldest, newest supported
BUILTIN_GROUPS = ("v1", "apps/v1", "autoscaling/v2", "policy/v1", "networking.k8s.io/v1")


def _validator() -> str:
    path = Path(sys.executable).parent / "kubernetes-validate"
    if not path.exists():
        pytest.fail("kubernetes-validate is missing: run `make k8s-tools`")
    return str(path)


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_helm_lint_strict(name: str) -> None:
    extra = VALUE_SETS[name]
    out = subprocess.run([helm(), "lint", "--strict", str(CHART), *(["-f", str(extra)] if extra else [])],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "0 chart(s) failed" in out.stdout, out.stdout + out.stderr


def test_chart_declares_the_oldest_supported_version_and_the_project_version() -> None:
    import tomllib

    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["kubeVersion"] == f">={KUBERNETES_VERSIONS[0]}-0"
    project = tomllib.loads((CHART.parents[2] / "pyproject.toml").read_text())["project"]["version"]
    assert chart["appVersion"] == project  # default image tag of every component


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_manifests_validate_strictly(name: str, version: str, tmp_path: Path) -> None:
    rendered = render(name)
    builtin = [d for d in rendered.docs if d["apiVersion"] in BUILTIN_GROUPS]
    assert len(builtin) >= 10, f"{name}: only {len(builtin)} built-in objects rendered"  # one provider, one pod
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump_all(builtin))
    out = subprocess.run([_validator(), "--strict", "--no-warn", "-k", version, str(path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count(" passed for resource ") == len(builtin), out.stdout


def test_validator_rejects_an_unknown_field(tmp_path: Path) -> None:
    doc = next(d for d in render("defaults").docs if d["kind"] == "Deployment")
    doc["spec"]["template"]["spec"]["containers"][0]["securityContextt"] = {}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc))
    out = subprocess.run([_validator(), "--strict", "--no-warn", "-k", KUBERNETES_VERSIONS[0], str(path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "securityContextt" in out.stdout + out.stderr


def test_custom_resources_are_only_the_optional_ones() -> None:
    kinds = {d["kind"] for name in VALUE_SETS for d in render(name).docs if d["apiVersion"] not in BUILTIN_GROUPS}
    assert kinds == {"Certificate", "HTTPRoute", "BackendTLSPolicy", "ServiceMonitor", "PrometheusRule"}
    assert not [d for d in render("defaults").docs if d["apiVersion"] not in BUILTIN_GROUPS]


def test_schema_refuses_bad_values() -> None:
    for bad in ("gateway.image.tag=latest", "providers.gemini.enabled=true", "edge.service.type=External",
                "redis.mode=cluster", "postgres.external.sslmode=off", "postgres.inChart.image.tag=latest",
                "gateway.autoscaling.minReplicas=0", "vault.addr=vault:8200",
                "gateway.env.GATEWAY_CLIENT_KEYS=k1", "providers.openai.env.OPENAI_API_KEY=sk-x"):
        out = subprocess.run([helm(), "template", "x", str(CHART), "--set", bad], capture_output=True, text=True,
                             timeout=120)
        assert out.returncode != 0 and "schema" in out.stderr, f"{bad} was accepted"
