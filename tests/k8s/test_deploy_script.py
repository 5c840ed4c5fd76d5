"""deploy/helm/deploy.sh with the real helm: what it refuses, and that it really asks the cluster in the kubeconfig."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from devstack.ports import free_port
from tests.k8s.conftest import ROOT, helm

SCRIPT = ROOT / "deploy" / "helm" / "deploy.sh"


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "HELM": helm()}
    return subprocess.run([str(SCRIPT), *args], env={**base, **env}, capture_output=True, text=True, timeout=120)


def test_refuses_without_a_kubeconfig_file(tmp_path: Path) -> None:
    out = _run({})
    assert out.returncode == 2 and "KUBECONFIG must name a readable file" in out.stderr
    out = _run({"KUBECONFIG": str(tmp_path / "absent")})
    assert out.returncode == 2


def _unreachable_cluster(tmp_path: Path) -> tuple[Path, int]:
    port = free_port()  # nothing listens on it: the API server is unreachable
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "https://127.0.0.1:{port}", insecure-skip-tls-verify: true}}}}]
users: [{{name: u, user: {{token: test-only}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
""")
    kubeconfig.chmod(0o600)
    return kubeconfig, port


def test_installs_against_the_cluster_named_in_the_kubeconfig(tmp_path: Path) -> None:
    kubeconfig, port = _unreachable_cluster(tmp_path)
    out = _run({"KUBECONFIG": str(kubeconfig), "TIMEOUT": "20s"})
    assert out.returncode != 0
    assert f"127.0.0.1:{port}" in out.stderr and "connection refused" in out.stderr, out.stderr


def test_uses_no_flag_the_pinned_helm_deprecates(tmp_path: Path) -> None:
    """Helm 4 replaced `upgrade --atomic` by `--rollback-on-failure`: the script asks for the rollback by its name."""
    help_text = subprocess.run([helm(), "upgrade", "--help"], capture_output=True, text=True, timeout=60).stdout
    assert "--rollback-on-failure" in help_text
    assert "--rollback-on-failure" in SCRIPT.read_text()
    kubeconfig, _ = _unreachable_cluster(tmp_path)
    out = _run({"KUBECONFIG": str(kubeconfig), "TIMEOUT": "20s"})
    assert out.returncode != 0 and "connection refused" in out.stderr, out.stderr  # helm parsed the flags and ran
    assert "deprecated" not in out.stderr.lower(), out.stderr
