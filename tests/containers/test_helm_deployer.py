"""`dagger call deploy-kubernetes`, replayed here: the deployer image the module builds, run as the module runs it.

The image comes from deploy/helm/Dockerfile.deployer over the module-filtered source (the same filter and
build helper as test_module_replay.py); it must carry a working helm, a chart that lints, and deploy.sh,
which must really ask the cluster the mounted kubeconfig names. No cluster runs here: the API server is
a closed loopback port, and the test asserts helm reached for exactly that address.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from devstack.ports import free_port
from tests.containers.conftest import REPO
from tests.containers.test_module_replay import build, copy_filtered, tracked_files

sys.path.insert(0, str(REPO / "ci" / "src"))

from llm_stack import consts, release

pytestmark = [pytest.mark.containers, pytest.mark.timeout(1800)]
IMAGE = "llmgw-dagger-helm-deployer:replay"
CHART = "/opt/llm-gateway/deploy/helm/llm-gateway"


@pytest.fixture(scope="module")
def deployer(tmp_path_factory: pytest.TempPathFactory) -> str:
    source = copy_filtered(tmp_path_factory.mktemp("deployer-source"), tracked_files())
    build(consts.HELM_DEPLOYER_DOCKERFILE, IMAGE, source)
    return IMAGE


def _run(image: str, *args: str, mounts: tuple[str, ...] = (), entrypoint: str | None = None,
         env: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    cmd = ["docker", "run", "--rm", "--network", "host", "--read-only", "--tmpfs", "/tmp"]
    for mount in mounts:
        cmd += ["-v", mount]
    for pair in env:
        cmd += ["-e", pair]
    if entrypoint:
        cmd += ["--entrypoint", entrypoint]
    return subprocess.run([*cmd, image, *args], capture_output=True, text=True, timeout=180, check=False)


def test_deployer_carries_helm_and_a_chart_that_lints(deployer: str) -> None:
    who = _run(deployer, "-u", entrypoint="id")
    assert who.stdout.strip() == consts.HELM_DEPLOYER_USER.split(":")[0]  # never root
    lint = _run(deployer, "lint", "--strict", CHART, entrypoint="helm")
    assert lint.returncode == 0 and "0 chart(s) failed" in lint.stdout, lint.stdout + lint.stderr


def test_deploy_script_asks_the_cluster_the_kubeconfig_names(deployer: str, tmp_path: Path) -> None:
    port = free_port()  # nothing listens on it: the API server is unreachable
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "https://127.0.0.1:{port}", insecure-skip-tls-verify: true}}}}]
users: [{{name: u, user: {{token: test-only}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
""")
    kubeconfig.chmod(0o644)  # the module mounts it owned by the image's user; a bind mount keeps host modes
    values = REPO / "deploy" / "helm" / "llm-gateway" / "ci" / "one-provider-values.yaml"
    # The argv and environment the module's exec uses (release.kubernetes_deploy_container).
    out = _run(deployer, "-f", release.VALUES_FILE, "--description", "replay",
               mounts=(f"{kubeconfig}:{release.KUBECONFIG}:ro", f"{values}:{release.VALUES_FILE}:ro"),
               entrypoint=consts.HELM_DEPLOY_SCRIPT,
               env=(f"KUBECONFIG={release.KUBECONFIG}", "NAMESPACE=llm", "RELEASE=llm-gateway", "TIMEOUT=20s"))
    assert out.returncode != 0
    assert f"127.0.0.1:{port}" in out.stderr and "connection refused" in out.stderr, out.stdout + out.stderr
    missing = _run(deployer, "-f", release.VALUES_FILE, entrypoint=consts.HELM_DEPLOY_SCRIPT)
    assert missing.returncode == 2 and "KUBECONFIG must name a readable file" in missing.stderr
