"""The production Vault path against a real server-mode OpenBao (raft storage, TLS listener, file audit).

`vaultctl init` → `unseal` → `admin-token` → `revoke-root` → `bootstrap` with the scoped admin token;
the admin token cannot grant more than it holds; a restart loses nothing (security review findings 1, 5).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest
from hvac import exceptions as hvac_errors

from devstack.ports import free_port
from devstack.procs import spawn, terminate
from devstack.tls import issue
from tests.support.openbao import find_bao
from tests.support.process import wait_ready

pytestmark = pytest.mark.integration


class ServerModeBao:
    """`bao server -config=…`: raft on disk, TLS listener, file audit device; uninitialised at first start."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port, self.cluster_port = free_port(), free_port()
        self.tls = issue(root / "tls", ("localhost", "127.0.0.1"))
        self.audit_log = root / "audit.log"
        (root / "raft").mkdir()
        self.config = root / "openbao.hcl"
        self.config.write_text(
            "disable_mlock = true\n"
            f'api_addr = "https://127.0.0.1:{self.port}"\n'
            f'cluster_addr = "https://127.0.0.1:{self.cluster_port}"\n'
            f'storage "raft" {{\n  path = "{root / "raft"}"\n  node_id = "n1"\n  performance_multiplier = 1\n}}\n'
            f'listener "tcp" {{\n  address = "127.0.0.1:{self.port}"\n'
            f'  cluster_address = "127.0.0.1:{self.cluster_port}"\n'
            f'  tls_cert_file = "{self.tls["cert"]}"\n  tls_key_file = "{self.tls["key"]}"\n}}\n'
            f'audit "file" "file" {{\n  options {{\n    file_path = "{self.audit_log}"\n  }}\n}}\n'
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def addr(self) -> str:
        """Return the HTTPS address."""
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the server and wait until it answers (sealed or not: seal-status is always 200)."""
        log = self.root / "server.log"
        self.proc = spawn([find_bao(), "server", f"-config={self.config}"], log)
        wait_ready(self.proc, f"{self.addr}/v1/sys/seal-status", log, name="openbao", deadline_s=20,
                   verify=str(self.tls["ca"]))

    def stop(self) -> None:
        """Stop it: terminate → wait → kill."""
        if self.proc is not None:
            terminate(self.proc)

    def client(self, token: str | None = None) -> hvac.Client:
        """Return a client that verifies the server's certificate."""
        return hvac.Client(url=self.addr, token=token, verify=str(self.tls["ca"]), timeout=10)

    def vaultctl(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """Run `python -m vaultctl` against this server over TLS."""
        full = {**os.environ, "VAULT_ADDR": self.addr, "VAULT_CACERT": str(self.tls["ca"]), **env}
        full.pop("VAULT_TOKEN", None)
        return subprocess.run([sys.executable, "-m", "vaultctl", *args], env=full, capture_output=True,
                              text=True, timeout=90, check=False)


@pytest.fixture(scope="module")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerModeBao]:
    server = ServerModeBao(tmp_path_factory.mktemp("bao-prod"))
    server.start()
    yield server
    server.stop()


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def operated(bao: ServerModeBao) -> dict[str, Path]:
    """Run the operator flow once: init, unseal, admin token, revoke root, bootstrap with the admin token."""
    state = bao.root / "state"
    init_file, admin_file, root_file = state / "init.json", state / "admin-token", state / "root-token"
    out = _ok(bao.vaultctl("init", "--key-shares", "3", "--key-threshold", "2", "--out", str(init_file)))
    material = json.loads(init_file.read_text())
    assert material["root_token"] not in out and all(k not in out for k in material["unseal_keys_b64"])
    assert stat.S_IMODE(init_file.stat().st_mode) == 0o600
    assert "already initialised" in bao.vaultctl("init", "--out", str(state / "again.json")).stderr
    assert bao.client().sys.is_sealed()
    assert _ok(bao.vaultctl("unseal", "--keys-file", str(init_file))).strip() == "unsealed"
    root_file.write_text(material["root_token"] + "\n")
    _ok(bao.vaultctl("admin-token", "--token-file", str(root_file), "--ttl", "30m", "--out", str(admin_file)))
    assert _ok(bao.vaultctl("revoke-root", "--token-file", str(root_file))).strip() == "root token revoked"
    with pytest.raises(hvac_errors.Forbidden):
        bao.client(material["root_token"]).auth.token.lookup_self()
    keys = state / "keys.json"
    keys.write_text(json.dumps({"openai": "sk-prod-seed-0001", "cohere": "co-prod-seed-0002"}))
    _ok(bao.vaultctl("bootstrap", "--token-file", str(admin_file), "--keys-file", str(keys),
                     "--client", "svc:openai", "--client-keys-file", str(state / "client-keys.json"),
                     "--out-dir", str(state / "approle"), "--issuer-token-file", str(state / "issuer")))
    return {"init": init_file, "admin": admin_file, "state": state}


def _admin(bao: ServerModeBao, operated: dict[str, Path]) -> hvac.Client:
    return bao.client(operated["admin"].read_text().strip())


def test_bootstrap_with_the_admin_token_serves_the_gateway(bao: ServerModeBao, operated: dict[str, Path]) -> None:
    approle = operated["state"] / "approle" / "openai"
    gateway = bao.client()
    gateway.auth.approle.login(role_id=(approle / "role_id").read_text().strip(),
                               secret_id=(approle / "secret_id").read_text().strip())
    secret = gateway.secrets.kv.v2.read_secret_version(path="llm/providers/openai", mount_point="secret",
                                                        raise_on_deleted_version=True)
    assert secret["data"]["data"]["api_key"] == "sk-prod-seed-0001"
    issuer = bao.client((operated["state"] / "issuer").read_text().strip()).auth.token.lookup_self()["data"]
    assert issuer["policies"] == ["default", "llm-secret-id-issuer"] and issuer["orphan"] is True
    assert "sk-prod-seed-0001" not in bao.audit_log.read_text()  # the audit device is on and hashes secrets


@pytest.mark.parametrize(("path", "body"), [
    ("sys/policy/llm-gateway-openai", {"policy": 'path "*" { capabilities = ["sudo", "read", "update"] }'}),
    ("sys/policy/llm-wide", {"policy": 'path "*" { capabilities = ["read"] }'}),
    ("auth/approle/role/llm-gateway-openai", {"token_policies": "llm-admin"}),
    ("auth/approle/role/llm-gateway-openai", {"token_policies": ["llm-gateway-openai", "llm-rotator"]}),
    ("auth/approle/role/llm-gateway-evil", {"token_policies": "llm-gateway-openai"}),
    ("auth/approle/role/llm-gateway-openai", {"token_policies": "llm-gateway-openai", "token_period": "768h"}),
    ("auth/token/roles/llm-secret-id-issuer", {"allowed_policies": "llm-admin", "orphan": True}),
    ("sys/audit/evil", {"type": "file", "options": {"file_path": "/tmp/x"}}),
    ("sys/policy/llm-admin", {"policy": 'path "*" { capabilities = ["sudo"] }'}),
])
def test_admin_token_cannot_grant_more_than_it_holds(bao: ServerModeBao, operated: dict[str, Path],
                                                     path: str, body: dict) -> None:
    with pytest.raises(hvac_errors.Forbidden):
        _admin(bao, operated).adapter.post(f"/v1/{path}", json=body)


def test_admin_token_cannot_create_a_root_token(bao: ServerModeBao, operated: dict[str, Path]) -> None:
    with pytest.raises((hvac_errors.Forbidden, hvac_errors.InvalidRequest)):
        _admin(bao, operated).auth.token.create(policies=["root"])


def test_restart_keeps_everything_and_bootstrap_is_idempotent(bao: ServerModeBao, operated: dict[str, Path]) -> None:
    bao.stop()
    bao.start()
    assert bao.client().sys.is_sealed()
    _ok(bao.vaultctl("unseal", "--keys-file", str(operated["init"])))
    rerun = _ok(bao.vaultctl("bootstrap", "--token-file", str(operated["admin"]), "--client", "svc:openai"))
    assert rerun.rstrip().endswith("done: no changes"), rerun
    stored = bao.client(operated["admin"].read_text().strip()).secrets.kv.v2.read_secret_version(
        path="llm/providers/cohere", mount_point="secret", raise_on_deleted_version=True)
    assert stored["data"]["data"]["api_key"] == "co-prod-seed-0002"


def test_admin_token_refuses_a_non_root_revoke(bao: ServerModeBao, operated: dict[str, Path]) -> None:
    result = bao.vaultctl("revoke-root", "--token-file", str(operated["admin"]))
    assert result.returncode == 1 and "not a root token" in result.stderr
