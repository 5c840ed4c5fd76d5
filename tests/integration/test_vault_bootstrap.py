"""`python -m vaultctl bootstrap` against a real OpenBao: idempotent, private files, OpenBao audit rule."""

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

import catalogue
from tests.support.openbao import OpenBaoServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoServer]:
    # No audit stanza: bootstrap must detect that OpenBao refuses API-enabled audit devices.
    server = OpenBaoServer(tmp_path_factory.mktemp("bao-boot"), audit=False).start()
    yield server
    server.stop()


def _vaultctl(bao: OpenBaoServer, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **bao.env(), **env}
    return subprocess.run([sys.executable, "-m", "vaultctl", *args], env=full_env, capture_output=True,
                          text=True, timeout=60, check=False)


def _bootstrap(bao: OpenBaoServer, out: Path) -> subprocess.CompletedProcess[str]:
    keys_file = out.parent / "keys.json"
    keys_file.write_text(json.dumps({"cohere": "co-boot-3391"}))
    return _vaultctl(
        bao, "bootstrap", "--out-dir", str(out), "--wrap-ttl", "120s", "--keys-file", str(keys_file),
        "--client", "demo:openai+anthropic", "--client-keys-file", str(out.parent / "client-keys.json"),
        "--audit-file", str(out.parent / "audit.log"),
        OPENAI_API_KEY="sk-boot-openai-5512", ANTHROPIC_API_KEY="sk-boot-anthropic-0417",
        # The rows after the first three get theirs from their own key variables too.
        **{p.key_env: f"boot-{p.name}-7731" for p in catalogue.providers()[3:]},
    )


def test_bootstrap_twice_changes_nothing_the_second_time(bao: OpenBaoServer, tmp_path: Path) -> None:
    out = tmp_path / "creds"
    first = _bootstrap(bao, out)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert any(line.startswith("provider-key") and "written v1" in line for line in lines)
    assert "skipped" in next(line for line in lines if line.startswith("audit"))
    assert "sk-boot" not in first.stdout and "lgw_" not in first.stdout
    client_keys = json.loads((tmp_path / "client-keys.json").read_text())
    assert client_keys["demo"].startswith("lgw_")
    assert stat.S_IMODE((tmp_path / "client-keys.json").stat().st_mode) == 0o600

    second = _bootstrap(bao, out)
    assert second.returncode == 0, second.stderr
    steps = [line for line in second.stdout.splitlines() if not line.startswith(("audit", "bootstrap"))]
    n = len(catalogue.names())
    assert len(steps) == 6 + 4 * n  # mount, auth, client, rotator/issuer/admin policies; per provider a
    # policy, a role, a key and credentials
    assert all(": no changes" in line for line in steps), second.stdout
    assert second.stdout.rstrip().endswith("done: no changes")


def test_bootstrap_writes_private_wrapped_credentials(bao: OpenBaoServer, tmp_path: Path) -> None:
    out = tmp_path / "creds"
    assert _bootstrap(bao, out).returncode == 0
    for provider in catalogue.names():
        for name in ("role_id", "secret_id"):
            path = out / provider / name
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
        wrapping_token = (out / provider / "secret_id").read_text().strip()
        unwrapped = hvac.Client(url=bao.addr, token=wrapping_token).sys.unwrap()["data"]
        assert set(unwrapped) >= {"secret_id", "secret_id_accessor"}


def test_consumed_secret_id_is_replaced_on_rerun(bao: OpenBaoServer, tmp_path: Path) -> None:
    out = tmp_path / "creds"
    assert _bootstrap(bao, out).returncode == 0
    hvac.Client(url=bao.addr, token=(out / "openai" / "secret_id").read_text().strip()).sys.unwrap()
    rerun = _bootstrap(bao, out)
    credential_lines = [line for line in rerun.stdout.splitlines() if line.startswith("credentials")]
    assert [("wrote" in line) for line in credential_lines] == [True] + [False] * (len(catalogue.names()) - 1), (
        rerun.stdout)


def test_issue_secret_id_writes_a_fresh_wrapped_secret_id(bao: OpenBaoServer, tmp_path: Path) -> None:
    out = tmp_path / "creds"
    assert _bootstrap(bao, out).returncode == 0
    before = (out / "openai" / "secret_id").read_text()
    result = _vaultctl(bao, "issue-secret-id", "--provider", "openai", "--wrap-ttl", "60s", "--out-dir", str(out))
    assert result.returncode == 0, result.stderr
    after = (out / "openai" / "secret_id").read_text()
    assert after != before and not after.strip().count("-") == 4


def test_bad_token_is_a_clear_error(bao: OpenBaoServer) -> None:
    result = _vaultctl(bao, "client-key", "list", VAULT_TOKEN="not-a-token")
    assert result.returncode == 1
    assert "token is not valid" in result.stderr and "Traceback" not in result.stderr
