"""Security review findings 4 and 8 against a real OpenBao: a redeploy cannot undo a rotation, a rotated
client key keeps its expiry, AppRole logins are bound to the configured CIDRs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest
from hvac import exceptions as hvac_errors

from tests.support.openbao import OpenBaoServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoServer]:
    server = OpenBaoServer(tmp_path_factory.mktemp("bao-seed")).start()
    yield server
    server.stop()


def _vaultctl(bao: OpenBaoServer, *args: str) -> str:
    env = {**os.environ, **bao.env()}
    result = subprocess.run([sys.executable, "-m", "vaultctl", *args], env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _stored(bao: OpenBaoServer, provider: str) -> str:
    answer = hvac.Client(url=bao.addr, token=bao.root_token).secrets.kv.v2.read_secret_version(
        path=f"llm/providers/{provider}", mount_point="secret", raise_on_deleted_version=True)
    return answer["data"]["data"]["api_key"]


def test_redeploy_does_not_undo_a_rotation(bao: OpenBaoServer, tmp_path: Path) -> None:
    host_file = tmp_path / "keys.json"
    host_file.write_text(json.dumps({"openai": "sk-leaked-old-7781"}))
    _vaultctl(bao, "bootstrap", "--providers", "openai", "--keys-file", str(host_file))
    (tmp_path / "new").write_text("sk-rotated-new-7782\n")
    _vaultctl(bao, "rotate-provider-key", "--provider", "openai", "--key-file", str(tmp_path / "new"))

    redeploy = _vaultctl(bao, "bootstrap", "--providers", "openai", "--keys-file", str(host_file))
    assert "a key exists (--force to overwrite)" in redeploy
    assert _stored(bao, "openai") == "sk-rotated-new-7782"

    forced = _vaultctl(bao, "bootstrap", "--providers", "openai", "--keys-file", str(host_file), "--force")
    assert "provider-key openai: written" in forced
    assert _stored(bao, "openai") == "sk-leaked-old-7781"


def test_rotated_client_key_keeps_the_expiry(bao: OpenBaoServer, tmp_path: Path) -> None:
    _vaultctl(bao, "client-key", "create", "--name", "temp-svc", "--providers", "openai", "--expires-in", "2d",
              "--key-out", str(tmp_path / "k1"))
    before = {r["key_id"]: r for r in json.loads(_vaultctl(bao, "client-key", "list", "--json"))
              if r["name"] == "temp-svc"}
    [expiry] = [r["expires_at"] for r in before.values()]
    _vaultctl(bao, "client-key", "rotate", "--name", "temp-svc", "--overlap", "60s", "--key-out", str(tmp_path / "k2"))
    after = [r for r in json.loads(_vaultctl(bao, "client-key", "list", "--json"))
             if r["name"] == "temp-svc" and r["key_id"] not in before]
    assert [r["expires_at"] for r in after] == [expiry]


def test_approle_logins_are_bound_to_the_configured_cidrs(bao: OpenBaoServer, tmp_path: Path) -> None:
    out = tmp_path / "approle"
    _vaultctl(bao, "bootstrap", "--providers", "cohere", "--bound-cidrs", "10.77.0.0/16", "--out-dir", str(out))
    role = hvac.Client(url=bao.addr, token=bao.root_token).auth.approle.read_role(role_name="llm-gateway-cohere")
    assert role["data"]["secret_id_bound_cidrs"] == ["10.77.0.0/16"]
    assert role["data"]["token_bound_cidrs"] == ["10.77.0.0/16"]
    creds = {n: (out / "cohere" / n).read_text().strip() for n in ("role_id", "secret_id")}
    with pytest.raises((hvac_errors.InvalidRequest, hvac_errors.Forbidden)):  # we log in from 127.0.0.1
        hvac.Client(url=bao.addr).auth.approle.login(role_id=creds["role_id"], secret_id=creds["secret_id"])
    # Unbinding again (loopback allowed) makes a fresh login work; a rerun with the same CIDRs changes nothing.
    _vaultctl(bao, "bootstrap", "--providers", "cohere", "--bound-cidrs", "127.0.0.0/8", "--out-dir", str(out))
    rerun = _vaultctl(bao, "bootstrap", "--providers", "cohere", "--bound-cidrs", "127.0.0.0/8")
    assert "approle      llm-gateway-cohere: no changes" in rerun
    _vaultctl(bao, "issue-secret-id", "--provider", "cohere", "--out-dir", str(out))
    secret_id = (out / "cohere" / "secret_id").read_text().strip()
    hvac.Client(url=bao.addr).auth.approle.login(role_id=creds["role_id"], secret_id=secret_id)
