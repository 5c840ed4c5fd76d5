"""`vaultctl refresh-secret-ids` against a real OpenBao: a restarted or revoked gateway can log in again.

secret_ids are single-use; the refresher replaces a consumed, unwrapped or expiring one, with a token
that holds only the `llm-secret-id-issuer` policy (minted by `bootstrap --issuer-token-file`).
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest
from hvac import exceptions as hvac_errors

import catalogue
from gateway.secrets.vault import VaultSecretsBackend
from tests.support.openbao import OpenBaoServer, wait_until
from vaultctl import BootstrapOptions, Reporter, approle, bootstrap, connect
from vaultctl.refresher import RefreshOptions, refresh_once

pytestmark = pytest.mark.integration
PROVIDERS = catalogue.names()


@pytest.fixture(scope="module")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoServer]:
    server = OpenBaoServer(tmp_path_factory.mktemp("bao-refresher"), audit=False).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def creds(bao: OpenBaoServer) -> Path:
    """Bootstrapped once: credentials under creds/<provider>/ and the issuer token in creds/issuer-token."""
    out = bao.workdir / "creds"
    opts = BootstrapOptions(keys={p: f"sk-refresh-{p}" for p in PROVIDERS}, out_dir=out,
                            issuer_token_file=out / "issuer-token")
    report = io.StringIO()
    bootstrap(connect(bao.addr, bao.root_token), opts, Reporter(report))
    assert "token        secret-id-issuer: minted" in report.getvalue()
    return out


@pytest.fixture(scope="module")
def issuer(bao: OpenBaoServer, creds: Path) -> hvac.Client:
    return hvac.Client(url=bao.addr, token=(creds / "issuer-token").read_text().strip())


def _login(bao: OpenBaoServer, creds: Path, provider: str) -> None:
    role_file, secret_file = approle.credential_paths(creds, provider)
    hvac.Client(url=bao.addr).auth.approle.login(role_id=role_file.read_text().strip(),
                                                 secret_id=secret_file.read_text().strip())


def test_issuer_token_is_periodic_and_holds_only_its_policy(bao: OpenBaoServer, creds: Path,
                                                              issuer: hvac.Client) -> None:
    info = issuer.auth.token.lookup_self()["data"]
    assert sorted(info["policies"]) == ["default", "llm-secret-id-issuer"]
    # Periodic through its token role (the period lives on the role, so lookup shows no `period`); an
    # orphan, so it outlives the admin token that minted it.
    assert info["role"] == "llm-secret-id-issuer" and info["renewable"] and info["orphan"]
    role = connect(bao.addr, bao.root_token).adapter.get("/v1/auth/token/roles/llm-secret-id-issuer")["data"]
    assert role["token_period"] > 0 and info["explicit_max_ttl"] == 0
    with pytest.raises(hvac_errors.Forbidden):
        issuer.secrets.kv.v2.read_secret_version(path="llm/providers/openai", mount_point="secret")
    with pytest.raises(hvac_errors.Forbidden):
        issuer.auth.approle.create_or_update_approle(role_name="llm-gateway-openai", token_policies=["root"])
    # A second bootstrap keeps the token that is still valid.
    report = io.StringIO()
    opts = BootstrapOptions(out_dir=creds, issuer_token_file=creds / "issuer-token")
    bootstrap(connect(bao.addr, bao.root_token), opts, Reporter(report))
    assert "secret-id-issuer: no changes (still valid)" in report.getvalue()


def test_only_a_consumed_secret_id_is_replaced(bao: OpenBaoServer, creds: Path, issuer: hvac.Client) -> None:
    opts = RefreshOptions(out_dir=creds, interval_s=1)
    assert refresh_once(issuer, opts, Reporter(io.StringIO())) == 0
    before = {p: approle.credential_paths(creds, p)[1].read_text() for p in PROVIDERS}
    _login(bao, creds, "openai")  # what a gateway does at start: the secret_id is now used up
    report = io.StringIO()
    assert refresh_once(issuer, opts, Reporter(report)) == 1
    assert "secret-id    openai: wrote" in report.getvalue()
    after = {p: approle.credential_paths(creds, p)[1].read_text() for p in PROVIDERS}
    assert after["openai"] != before["openai"]
    assert {p: after[p] for p in ("anthropic", "cohere")} == {p: before[p] for p in ("anthropic", "cohere")}
    assert oct(approle.credential_paths(creds, "openai")[1].stat().st_mode & 0o777) == "0o600"
    _login(bao, creds, "openai")  # the fresh one logs in; the next round replaces it in turn
    assert refresh_once(issuer, opts, Reporter(io.StringIO())) == 1


def test_wrapped_secret_ids_are_replaced_once_unwrapped_or_expiring(bao: OpenBaoServer, creds: Path,
                                                                   issuer: hvac.Client) -> None:
    opts = RefreshOptions(out_dir=creds, providers=("cohere",), interval_s=1, wrap_ttl=120, min_remaining_s=60)
    secret_file = approle.credential_paths(creds, "cohere")[1]
    secret_file.write_text("")  # nothing usable: a fresh wrapped one is written
    assert refresh_once(issuer, opts, Reporter(io.StringIO())) == 1
    wrapped = secret_file.read_text().strip()
    assert not approle.is_plain_secret_id(wrapped)
    assert refresh_once(issuer, opts, Reporter(io.StringIO())) == 0  # valid for 120 s > 60 s margin
    hvac.Client(url=bao.addr, token=wrapped).sys.unwrap()  # a gateway unwrapped it
    assert refresh_once(issuer, opts, Reporter(io.StringIO())) == 1
    expiring = RefreshOptions(out_dir=creds, providers=("cohere",), interval_s=1, wrap_ttl=120, min_remaining_s=180)
    assert refresh_once(issuer, expiring, Reporter(io.StringIO())) == 1  # 120 s left < 180 s margin


def test_cli_once_uses_the_issuer_token_file(bao: OpenBaoServer, creds: Path) -> None:
    _login(bao, creds, "anthropic")
    env = {**os.environ, "VAULT_ADDR": bao.addr}
    env.pop("VAULT_TOKEN", None)
    cmd = [sys.executable, "-m", "vaultctl", "refresh-secret-ids", "--token-file", str(creds / "issuer-token"),
           "--out-dir", str(creds), "--interval", "5s", "--once"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "secret-id    anthropic: wrote" in result.stdout
    rounds = result.stdout.split("\n", 1)[1]  # after the header line, which names every provider
    assert "openai" not in rounds and "cohere" not in rounds
    secret = approle.credential_paths(creds, "anthropic")[1].read_text().strip()
    assert secret not in result.stdout + result.stderr


async def test_a_gateway_whose_token_was_revoked_logs_in_again(bao: OpenBaoServer, creds: Path) -> None:
    """The compose failure mode: the bootstrap ran once, the gateway consumed its secret_id, its token dies."""
    root = hvac.Client(url=bao.addr, token=bao.root_token)
    role_file, secret_file = approle.credential_paths(creds, "openai")
    env = {**os.environ, "VAULT_ADDR": bao.addr}
    env.pop("VAULT_TOKEN", None)
    refresher = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "vaultctl", "refresh-secret-ids", "--token-file", str(creds / "issuer-token"),
        "--out-dir", str(creds), "--providers", "openai", "--interval", "1s", "--wrap-ttl", "60s",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    backend = VaultSecretsBackend("openai", bao.addr, role_file, secret_file, refresh_s=0.5)
    try:
        await backend.start()  # consumes the secret_id the bootstrap (or the last round) wrote
        assert backend.status().details["logins"] == 1
        # The refresher notices within a round and leaves a fresh, response-wrapped one.
        await wait_until(lambda: not approle.is_plain_secret_id(secret_file.read_text().strip()), within=10)
        for accessor in root.auth.token.list_accessors()["data"]["keys"]:
            if "llm-gateway-openai" in (root.auth.token.lookup_accessor(accessor)["data"].get("policies") or []):
                root.auth.token.revoke_accessor(accessor)
        await wait_until(lambda: backend.status().details["logins"] == 2, within=15)
        await wait_until(lambda: not backend.status().degraded, within=5)
        assert backend.provider_key() == "sk-refresh-openai"
    finally:
        await backend.stop()
        refresher.terminate()
        output = (await asyncio.wait_for(refresher.communicate(), timeout=10))[0].decode()
    assert "secret-id    openai: wrote" in output
    assert "Traceback" not in output
