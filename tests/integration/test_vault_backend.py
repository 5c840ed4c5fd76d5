"""VaultSecretsBackend against a real OpenBao: wrapped login, refresh, renewal, re-login, audit."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest

from gateway.secrets.base import SecretsError
from gateway.secrets.vault import VaultSecretsBackend
from tests.support.openbao import OpenBaoServer, bootstrap_server, issue_credentials, wait_until
from vaultctl import approle, clients, kv

pytestmark = pytest.mark.integration
SEEN: list[str] = []  # every secret this module generates; none may reach the audit log


@pytest.fixture(scope="module")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoServer]:
    server = OpenBaoServer(tmp_path_factory.mktemp("bao-backend")).start()
    keys = {"openai": "sk-be-openai-v1-4f2a", "cohere": "co-be-cohere-v1-9e1d"}
    SEEN.extend(keys.values())
    bootstrap_server(server, server.workdir / "creds", keys=keys, clients=[("demo", ["openai"])])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def root(bao: OpenBaoServer) -> hvac.Client:
    return hvac.Client(url=bao.addr, token=bao.root_token)


def issue(root: hvac.Client, provider: str, directory: Path, wrap_ttl: int | None = 60) -> tuple[Path, Path]:
    """Write fresh credential files and remember the secret_id for the audit check."""
    role_file, secret_file = issue_credentials(root, provider, directory, wrap_ttl)
    SEEN.append(secret_file.read_text().strip())
    return role_file, secret_file


async def test_wrapped_secret_id_login_loads_key_and_clients(bao: OpenBaoServer, root: hvac.Client,
                                                             tmp_path: Path) -> None:
    role_file, secret_file = issue(root, "openai", tmp_path)
    backend = VaultSecretsBackend("openai", bao.addr, role_file, secret_file, refresh_s=0.5)
    await backend.start()
    try:
        assert backend.provider_key() == "sk-be-openai-v1-4f2a"
        assert [r.name for r in backend.client_keys().values()] == ["demo"]
        status = backend.status()
        assert (status.ok, status.degraded, status.key_version) == (True, False, 1)
        assert "sk-be" not in str(status.as_dict())
    finally:
        await backend.stop()
    again = VaultSecretsBackend("openai", bao.addr, role_file, secret_file, refresh_s=0.5)
    try:
        with pytest.raises(SecretsError, match="unwrapped already"):
            await again.start()
    finally:
        await again.stop()


async def test_failed_first_login_is_retried_until_a_fresh_secret_id_arrives(
    bao: OpenBaoServer, root: hvac.Client, tmp_path: Path
) -> None:
    """A gateway restarted before the refresher replaced its consumed secret_id serves once it has."""
    role_file, secret_file = issue(root, "openai", tmp_path)
    first = VaultSecretsBackend("openai", bao.addr, role_file, secret_file, refresh_s=0.5)
    await first.start()
    await first.stop()  # the restart: the wrapped secret_id in the file is consumed
    backend = VaultSecretsBackend("openai", bao.addr, role_file, secret_file, refresh_s=0.5)
    try:
        with pytest.raises(SecretsError, match="unwrapped already"):
            await backend.start()
        status = backend.status()
        assert not status.ok and "login failed" in (status.reason or "")
        assert backend.provider_key() is None
        issue(root, "openai", tmp_path)  # the refresher's next round
        await wait_until(lambda: backend.status().ok, within=5)
        status = backend.status()
        assert (status.degraded, status.details["logins"]) == (False, 1)
        assert backend.provider_key() == "sk-be-openai-v1-4f2a" and backend.client_keys()
    finally:
        await backend.stop()


async def test_rotated_key_is_used_within_the_refresh_interval(bao: OpenBaoServer, root: hvac.Client,
                                                               tmp_path: Path) -> None:
    backend = VaultSecretsBackend("openai", bao.addr, *issue(root, "openai", tmp_path, None), refresh_s=0.5)
    await backend.start()
    try:
        SEEN.append("sk-be-openai-v2-77c0")
        written = kv.write_key(root, "secret", "openai", "sk-be-openai-v2-77c0", "ci-test")
        took = await wait_until(lambda: backend.provider_key() == "sk-be-openai-v2-77c0", within=5)
        # one refresh interval (0.5 s) plus scheduling slack on a loaded 2-core machine
        assert took <= 0.5 + 2.0
        assert backend.status().key_version == written.version
        new = clients.create_client(root, "secret", "late", ["openai"])
        SEEN.append(new.key)
        await wait_until(lambda: new.key_id in backend.client_keys(), within=3)
    finally:
        await backend.stop()


async def test_token_is_renewed_before_expiry_then_relogin_needs_a_fresh_secret_id(
    bao: OpenBaoServer, root: hvac.Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    approle.ensure_role(root, "cohere", approle.RoleSettings(token_ttl=3, token_max_ttl=6))
    role_file, secret_file = issue(root, "cohere", tmp_path)
    backend = VaultSecretsBackend("cohere", bao.addr, role_file, secret_file, refresh_s=0.5)
    await backend.start()
    try:
        # renewal at 2/3 of the 3 s TTL, before the token expires
        await wait_until(lambda: backend.status().details["token_renewals"] >= 1, within=2.8)
        assert backend.status().details["logins"] == 1 and not backend.status().degraded
        # token_max_ttl caps renewals; the consumed secret_id cannot log in again → degraded, key cached
        await wait_until(lambda: backend.status().degraded, within=6)
        status = backend.status()
        assert "awaiting a fresh one" in (status.reason or "")
        assert status.ok and backend.provider_key() == "co-be-cohere-v1-9e1d"
        # the orchestrator writes a fresh secret_id; the backend logs in again by itself
        issue(root, "cohere", tmp_path)
        await wait_until(lambda: backend.status().details["logins"] == 2 and not backend.status().degraded, 6)
    finally:
        await backend.stop()
    assert "re-login failed" in caplog.text
    assert not [secret for secret in SEEN if secret in caplog.text]


async def test_revoked_token_triggers_relogin(bao: OpenBaoServer, root: hvac.Client, tmp_path: Path) -> None:
    role_file, secret_file = issue(root, "openai", tmp_path)
    backend = VaultSecretsBackend("openai", bao.addr, role_file, secret_file, refresh_s=0.5)
    await backend.start()
    try:
        issue(root, "openai", tmp_path)  # the orchestrator keeps a fresh secret_id ready
        accessors = root.auth.token.list_accessors()["data"]["keys"]
        for accessor in accessors:
            info = root.auth.token.lookup_accessor(accessor)["data"]
            if "llm-gateway-openai" in (info.get("policies") or []):
                root.auth.token.revoke_accessor(accessor)
        await wait_until(lambda: backend.status().details["logins"] == 2, within=5)
        await wait_until(lambda: not backend.status().degraded, within=3)
    finally:
        await backend.stop()


def test_refresh_interval_is_bounded(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="refresh_s"):
        VaultSecretsBackend("openai", "http://127.0.0.1:1", tmp_path / "r", tmp_path / "s", refresh_s=60)


def test_audit_log_has_entries_but_no_generated_secret(bao: OpenBaoServer) -> None:
    text = bao.audit_log_path.read_text()
    assert '"type":"response"' in text and "auth/approle/login" in text
    assert SEEN
    for secret in SEEN:
        assert secret not in text


async def test_missing_credentials_file_is_reported_as_such(bao: OpenBaoServer, tmp_path: Path) -> None:
    backend = VaultSecretsBackend("openai", bao.addr, tmp_path / "role_id", tmp_path / "secret_id")
    try:
        with pytest.raises(SecretsError, match=r"cannot read .*role_id"):
            await backend.start()
    finally:
        await backend.stop()
