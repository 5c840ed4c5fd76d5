"""Vault outage: a persistent OpenBao is stopped and restarted under a running VaultSecretsBackend.

The server uses raft storage (not dev mode), so the gateway's token, the AppRoles and the
keys survive the restart: this is a real outage and recovery, not a fresh server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest

from gateway.secrets.vault import VaultSecretsBackend
from tests.support.openbao import OpenBaoServer, bootstrap_server, issue_credentials, wait_until
from vaultctl import kv

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoServer]:
    server = OpenBaoServer(tmp_path_factory.mktemp("bao-outage"), persistent=True).start()
    bootstrap_server(server, server.workdir / "creds", keys={"anthropic": "sk-out-v1-5cc1"},
                     clients=[("demo", ["anthropic"])])
    yield server
    server.stop()


async def test_outage_keeps_cached_key_degrades_and_recovers(bao: OpenBaoServer, tmp_path: Path) -> None:
    root = hvac.Client(url=bao.addr, token=bao.root_token)
    backend = VaultSecretsBackend("anthropic", bao.addr, *issue_credentials(root, "anthropic", tmp_path), refresh_s=0.5,
                                  timeout_s=1.0)
    await backend.start()
    try:
        assert backend.provider_key() == "sk-out-v1-5cc1"
        bao.stop()
        await wait_until(lambda: backend.status().degraded, within=3)
        status = backend.status()
        assert status.ok and "unreachable" in (status.reason or "")
        assert backend.provider_key() == "sk-out-v1-5cc1" and len(backend.client_keys()) == 1
        assert status.as_dict()["seconds_since_refresh"] is not None

        bao.start()
        await wait_until(lambda: not backend.status().degraded, within=5)
        assert backend.status().details["logins"] == 1  # the same token survived the outage
        kv.write_key(hvac.Client(url=bao.addr, token=bao.root_token), "secret", "anthropic", "sk-out-v2-0b7e",
                     "ci-test")
        await wait_until(lambda: backend.provider_key() == "sk-out-v2-0b7e", within=3)
        assert backend.status().key_version == 2
    finally:
        await backend.stop()
    assert "sk-out-v" not in bao.audit_log_path.read_text()


async def test_stale_client_registry_fails_closed_and_says_so(bao: OpenBaoServer, tmp_path: Path) -> None:
    """Security review finding 8: during a long outage a disabled key must not keep working forever."""
    from gateway.errors import ServiceUnavailableError
    from gateway.metrics import BackendState, Metrics

    root = hvac.Client(url=bao.addr, token=bao.root_token)
    backend = VaultSecretsBackend("anthropic", bao.addr, *issue_credentials(root, "anthropic", tmp_path), refresh_s=0.5,
                                  timeout_s=1.0, registry_max_stale_s=2.0)
    await backend.start()
    try:
        assert len(backend.client_keys()) >= 1 and backend.serving()
        bao.stop()
        await wait_until(lambda: not backend.serving(), within=6)
        with pytest.raises(ServiceUnavailableError) as refused:
            backend.client_keys()
        assert refused.value.status == 503 and refused.value.code == "client_registry_stale"
        status = backend.status()
        assert not status.ok and "failing closed" in (status.reason or "")
        assert status.details["client_registry_stale"] is True
        metrics = Metrics("anthropic")
        metrics.watch(lambda: BackendState(backend="vault", ready=False, backend_up=False,
                                           registry_stale=not backend.serving()))
        assert 'llm_gateway_client_registry_stale{provider="anthropic"} 1.0' in metrics.render().decode()
        bao.start()
        await wait_until(backend.serving, within=8)
        assert len(backend.client_keys()) >= 1
    finally:
        await backend.stop()
