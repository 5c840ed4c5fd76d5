"""Provider-key rotation (CAS, metadata, versions, rollback) and client-key overlap on a real OpenBao."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import hvac
import pytest

from gateway.secrets.base import ClientKeyRecord
from tests.support.openbao import OpenBaoServer, bootstrap_server
from vaultctl import clients, kv
from vaultctl.connection import VaultctlError

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoServer]:
    server = OpenBaoServer(tmp_path_factory.mktemp("bao-rot")).start()
    bootstrap_server(server, server.workdir / "creds", keys={"openai": "sk-rot-v1"})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def root(bao: OpenBaoServer) -> hvac.Client:
    return hvac.Client(url=bao.addr, token=bao.root_token)


def _accepts(registry: dict[str, dict], key: str, provider: str) -> bool:
    """Check a key the way the gateway's authenticator does (architecture.md contract)."""
    _, key_id, secret = key.split("_", 2)
    if key_id not in registry:
        return False
    record = ClientKeyRecord.from_dict(key_id, registry[key_id])
    digest = hashlib.sha256(secret.encode()).hexdigest()
    expired = record.expires_at is not None and record.expires_at <= datetime.now(UTC)
    return hmac.compare_digest(digest, record.hash) and not record.disabled and not expired \
        and provider in record.providers


def test_rotate_writes_cas_version_with_metadata(bao: OpenBaoServer, root: hvac.Client) -> None:
    env = {**os.environ, **bao.env(), "NEW_OPENAI_KEY": "sk-rot-v2"}
    cmd = [sys.executable, "-m", "vaultctl", "rotate-provider-key", "--provider", "openai",
           "--from-env", "NEW_OPENAI_KEY", "--max-versions", "3", "--rotated-by", "ci-test"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "v1 → v2" in result.stdout and "sk-rot" not in result.stdout
    meta = root.secrets.kv.v2.read_secret_metadata(path="llm/providers/openai", mount_point="secret")["data"]
    assert meta["current_version"] == 2 and meta["max_versions"] == 3
    assert meta["custom_metadata"]["rotated_by"] == "ci-test"
    assert datetime.fromisoformat(meta["custom_metadata"]["rotated_at"]) <= datetime.now(UTC)
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert "no changes" in again.stdout


def test_concurrent_write_is_refused_by_cas(root: hvac.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    real = kv.current_key

    def stale(client: hvac.Client, mount: str, provider: str) -> tuple[int, str | None]:
        version, value = real(client, mount, provider)
        return version - 1, value

    monkeypatch.setattr(kv, "current_key", stale)
    with pytest.raises(VaultctlError, match="concurrently"):
        kv.write_key(root, "secret", "openai", "sk-rot-racer", "ci-test")


def test_rollback_restores_previous_value_as_new_version(root: hvac.Client) -> None:
    kv.write_key(root, "secret", "openai", "sk-rot-v3", "ci-test")
    before, value = kv.current_key(root, "secret", "openai")
    assert value == "sk-rot-v3"
    result = kv.rollback_key(root, "secret", "openai", "ci-test")
    assert result.changed and result.version == before + 1
    assert kv.current_key(root, "secret", "openai") == (before + 1, "sk-rot-v2")
    meta = root.secrets.kv.v2.read_secret_metadata(path="llm/providers/openai", mount_point="secret")["data"]
    assert meta["custom_metadata"]["restored_version"] == str(before - 1)


def test_max_versions_keeps_only_n(root: hvac.Client) -> None:
    for n in range(5):
        kv.write_key(root, "secret", "anthropic", f"sk-ant-{n}", "ci-test", max_versions=3)
    meta = root.secrets.kv.v2.read_secret_metadata(path="llm/providers/anthropic", mount_point="secret")["data"]
    assert len(meta["versions"]) == 3


def test_client_key_rotation_overlap(root: hvac.Client) -> None:
    old = clients.create_client(root, "secret", "svc-a", ["openai"])
    assert _accepts(clients.load_registry(root, "secret")[1], old.key, "openai")
    old_ids, new = clients.rotate_client(root, "secret", overlap_s=2, name="svc-a")
    assert old_ids == [old.key_id]
    registry = clients.load_registry(root, "secret")[1]
    assert _accepts(registry, old.key, "openai") and _accepts(registry, new.key, "openai")
    assert not _accepts(registry, new.key, "cohere")
    time.sleep(2.2)
    registry = clients.load_registry(root, "secret")[1]
    assert not _accepts(registry, old.key, "openai")
    assert _accepts(registry, new.key, "openai")
    assert registry[new.key_id]["name"] == "svc-a"


def test_client_key_disable_and_list(root: hvac.Client) -> None:
    new = clients.create_client(root, "secret", "svc-b", ["cohere"])
    assert clients.disable_client(root, "secret", key_id=new.key_id) == [new.key_id]
    assert not _accepts(clients.load_registry(root, "secret")[1], new.key, "cohere")
    rows = {row["key_id"]: row for row in clients.list_clients(root, "secret")}
    assert rows[new.key_id]["status"] == "disabled"
    assert all("hash" not in row for row in rows.values())
