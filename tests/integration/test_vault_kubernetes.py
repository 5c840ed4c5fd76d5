"""Vault Kubernetes auth against a real OpenBao, with a wire-level TokenReview stand-in over HTTPS.

`vaultctl bootstrap --k8s-*` configures auth/kubernetes and one role per provider; the gateway's
`KubernetesLogin` logs in with a service-account token file. The right service account gets its own
provider key; another provider's account, another namespace or an unsigned token is refused.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path

import httpx
import hvac
import jwt
import pytest
from hvac import exceptions as hvac_errors

import catalogue
from devstack.ports import free_port
from gateway.secrets.base import SecretsError
from gateway.secrets.vault import VaultSecretsBackend
from gateway.secrets.vault_login import KubernetesLogin
from tests.support.openbao import OpenBaoServer, bootstrap_server
from tests.support.process import running
from tests.support.tokenreview import TokenReviewServer
from vaultctl.cli import main as vaultctl

pytestmark = pytest.mark.integration
NAMESPACE = "llm"
AUDIENCE = "vault"  # what the chart's projected tokens carry (vault.kubernetes.audience)
KEYS = {"openai": "sk-k8s-openai-7c1e", "anthropic": "sk-ant-k8s-2b9f"}


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenReviewServer]:
    server = TokenReviewServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bao(tmp_path_factory: pytest.TempPathFactory, kube: TokenReviewServer) -> Iterator[OpenBaoServer]:
    work = tmp_path_factory.mktemp("bao-k8s")
    server = OpenBaoServer(work).start()
    try:
        bootstrap_server(server, work / "creds", keys=KEYS)
        (work / "ca.pem").write_text(kube.ca_pem)
        (work / "reviewer.jwt").write_text(kube.issue("kube-system", "vault-token-reviewer"))
        args = ["bootstrap", "--addr", server.addr, "--providers", ",".join(catalogue.names()),
                "--k8s-host", kube.url, "--k8s-ca-cert", str(work / "ca.pem"), "--k8s-namespace", NAMESPACE,
                "--k8s-reviewer-jwt-file", str(work / "reviewer.jwt"), "--k8s-audience", AUDIENCE]
        out = io.StringIO()
        with redirect_stdout(out):  # the scoped operator token, as in production: llm-admin only, no root
            assert vaultctl([*args, "--token-file", str(_admin_token_file(server, work))]) == 0
        assert "k8s-role" in out.getvalue() and "llm-gateway-openai" in out.getvalue(), out.getvalue()
        yield server
    finally:
        server.stop()


def _root_token_file(server: OpenBaoServer, work: Path) -> Path:
    path = work / "root-token"
    path.write_text(server.root_token)
    return path


def _admin_token_file(server: OpenBaoServer, work: Path) -> Path:
    root = hvac.Client(url=server.addr, token=server.root_token)
    token = root.auth.token.create(policies=["llm-admin"], no_default_policy=False, ttl="30m")["auth"]["client_token"]
    path = work / "admin-token"
    path.write_text(token)
    return path


@pytest.mark.parametrize(("role", "body"), [
    ("llm-gateway-openai", {"token_policies": "llm-admin", "bound_service_account_names": "x",
                            "bound_service_account_namespaces": "llm"}),
    ("llm-gateway-openai", {"token_policies": ["llm-gateway-openai", "llm-gateway-anthropic"],
                            "bound_service_account_names": "x", "bound_service_account_namespaces": "llm"}),
    ("llm-gateway-evil", {"token_policies": "llm-gateway-openai", "bound_service_account_names": "x",
                          "bound_service_account_namespaces": "llm"}),
    ("llm-gateway-openai", {"token_policies": "llm-gateway-openai", "bound_service_account_names": "x",
                            "bound_service_account_namespaces": "llm", "token_period": "768h"}),
])
def test_admin_token_cannot_widen_a_kubernetes_role(bao: OpenBaoServer, tmp_path: Path, role: str,
                                                    body: dict) -> None:
    admin = hvac.Client(url=bao.addr, token=_admin_token_file(bao, tmp_path).read_text())
    with pytest.raises(hvac_errors.Forbidden):
        admin.adapter.post(f"/v1/auth/kubernetes/role/{role}", json=body)


def _token_file(tmp_path: Path, token: str) -> Path:
    path = tmp_path / "token"
    path.write_text(token + "\n")
    return path


async def test_provider_service_account_logs_in_and_reads_only_its_key(
        bao: OpenBaoServer, kube: TokenReviewServer, tmp_path: Path) -> None:
    before = len(kube.reviews)
    token_file = _token_file(tmp_path, kube.issue(NAMESPACE, "llm-gateway-openai", audience=AUDIENCE))
    backend = VaultSecretsBackend("openai", bao.addr, auth=KubernetesLogin("llm-gateway-openai", token_file),
                                  refresh_s=0.5)
    await backend.start()
    try:
        assert backend.provider_key() == KEYS["openai"]
        status = backend.status().as_dict()
        assert status["auth_method"] == "kubernetes" and status["ok"] is True
        assert KEYS["openai"] not in str(status)
        token = backend._client.token
    finally:
        await backend.stop()
    review = kube.reviews[before]  # OpenBao asked the TokenReview API, with the reviewer's token
    assert review.authenticated and review.token == token_file.read_text().strip()
    assert jwt.decode(review.bearer, options={"verify_signature": False})["sub"].endswith(":vault-token-reviewer")
    # A fresh login's token: its policy is the openai one only.
    client = hvac.Client(url=bao.addr)
    client.auth.kubernetes.login(role="llm-gateway-openai", jwt=token_file.read_text().strip())
    assert client.secrets.kv.v2.read_secret_version(path="llm/providers/openai",
                                                    raise_on_deleted_version=True)["data"]["data"]["api_key"]
    with pytest.raises(hvac_errors.Forbidden):
        client.secrets.kv.v2.read_secret_version(path="llm/providers/anthropic", raise_on_deleted_version=True)
    assert token  # the backend held a token while running


async def _refused_start(backend: VaultSecretsBackend, match: str) -> SecretsError:
    """start() refuses (its retry task is stopped at once); return the error."""
    try:
        with pytest.raises(SecretsError, match=match) as err:
            await backend.start()
    finally:
        await backend.stop()
    return err.value


async def test_token_for_another_audience_is_refused(bao: OpenBaoServer, kube: TokenReviewServer,
                                                     tmp_path: Path) -> None:
    token_file = _token_file(tmp_path, kube.issue(NAMESPACE, "llm-gateway-openai", audience="https://kubernetes"))
    backend = VaultSecretsBackend("openai", bao.addr, auth=KubernetesLogin("llm-gateway-openai", token_file))
    await _refused_start(backend, "Kubernetes login refused")


@pytest.mark.parametrize(("namespace", "account", "why"), [
    (NAMESPACE, "llm-gateway-anthropic", "another provider's service account"),
    ("other", "llm-gateway-openai", "the right name in another namespace"),
])
async def test_other_service_accounts_are_refused(bao: OpenBaoServer, kube: TokenReviewServer, tmp_path: Path,
                                                  namespace: str, account: str, why: str) -> None:
    token_file = _token_file(tmp_path, kube.issue(namespace, account, audience=AUDIENCE))
    backend = VaultSecretsBackend("openai", bao.addr, auth=KubernetesLogin("llm-gateway-openai", token_file))
    err = await _refused_start(backend, "Kubernetes login refused for role llm-gateway-openai")
    assert token_file.read_text().strip() not in str(err), why  # no token in the message
    assert backend.provider_key() is None


async def test_token_the_cluster_did_not_sign_is_refused(bao: OpenBaoServer, kube: TokenReviewServer,
                                                        tmp_path: Path) -> None:
    genuine = kube.issue(NAMESPACE, "llm-gateway-openai", audience=AUDIENCE)
    header, payload, _ = genuine.split(".")
    forged = f"{header}.{payload}.{'A' * 342}"
    before = len(kube.reviews)
    backend = VaultSecretsBackend("openai", bao.addr,
                                  auth=KubernetesLogin("llm-gateway-openai", _token_file(tmp_path, forged)))
    await _refused_start(backend, "Kubernetes login refused")
    assert [r.authenticated for r in kube.reviews[before:]] == [False]


def test_bootstrap_is_idempotent_and_roles_bind_one_account(bao: OpenBaoServer, kube: TokenReviewServer,
                                                           tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text(kube.ca_pem)
    out = io.StringIO()
    with redirect_stdout(out):
        code = vaultctl(["bootstrap", "--addr", bao.addr, "--token-file", str(_root_token_file(bao, tmp_path)),
                         "--k8s-host", kube.url, "--k8s-ca-cert", str(tmp_path / "ca.pem"),
                         "--k8s-namespace", NAMESPACE, "--k8s-audience", AUDIENCE])
    assert code == 0
    rows = [line for line in out.getvalue().splitlines() if line.startswith(("k8s-", "auth"))]
    assert rows and all("written" not in r and "enabled" not in r for r in rows), out.getvalue()
    root = hvac.Client(url=bao.addr, token=bao.root_token)
    for provider in catalogue.names():
        role = root.auth.kubernetes.read_role(name=f"llm-gateway-{provider}")
        assert role["bound_service_account_names"] == [f"llm-gateway-{provider}"]
        assert role["bound_service_account_namespaces"] == [NAMESPACE]
        assert role["token_policies"] == [f"llm-gateway-{provider}"]
        assert role["audience"] == AUDIENCE


def test_gateway_process_with_kubernetes_auth_turns_ready(bao: OpenBaoServer, kube: TokenReviewServer,
                                                          tmp_path: Path) -> None:
    """The settings the chart renders (GATEWAY_VAULT_AUTH=kubernetes + a projected token file) in a real gateway."""
    token_file = _token_file(tmp_path, kube.issue(NAMESPACE, "llm-gateway-openai", audience=AUDIENCE))
    port = free_port()
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "services"),
           "GATEWAY_PROVIDER": "openai", "GATEWAY_PORT": str(port), "GATEWAY_SECRETS_BACKEND": "vault",
           "GATEWAY_VAULT_ADDR": bao.addr, "GATEWAY_VAULT_AUTH": "kubernetes",
           "GATEWAY_VAULT_KUBERNETES_TOKEN_FILE": str(token_file), "GATEWAY_UPSTREAM_BASE_URL": "http://127.0.0.1:9/v1"}
    before = len(kube.reviews)
    url = f"http://127.0.0.1:{port}/readyz"
    with running([sys.executable, "-m", "gateway"], url, tmp_path / "gateway.log", name="gateway", env=env):
        assert httpx.get(url, timeout=5).status_code == 200
    assert [r.authenticated for r in kube.reviews[before:]] == [True]
    assert KEYS["openai"] not in (tmp_path / "gateway.log").read_text()
