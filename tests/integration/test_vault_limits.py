"""`vaultctl client-key create|update --rpm --tpm --daily-tokens --monthly-tokens` on a real OpenBao."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import hvac
import pytest

from gateway.limits import Limits
from gateway.secrets.base import ClientKeyRecord
from tests.support.openbao import OpenBaoServer, bootstrap_server
from vaultctl import clients

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoServer]:
    server = OpenBaoServer(tmp_path_factory.mktemp("bao-limits")).start()
    bootstrap_server(server, server.workdir / "creds", keys={"openai": "sk-limits-v1"})
    yield server
    server.stop()


def vaultctl(bao: OpenBaoServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vaultctl", "client-key", *args], env={**os.environ, **bao.env()},
                          capture_output=True, text=True, timeout=60, check=False)


def record(bao: OpenBaoServer, key_id: str) -> ClientKeyRecord:
    root = hvac.Client(url=bao.addr, token=bao.root_token)
    return ClientKeyRecord.from_dict(key_id, clients.load_registry(root, "secret")[1][key_id])


def test_limits_are_stored_with_the_key_updated_and_kept_on_rotation(bao: OpenBaoServer) -> None:
    created = vaultctl(bao, "create", "--name", "team-x", "--providers", "openai", "--rpm", "50",
                       "--daily-tokens", "5000")
    assert created.returncode == 0, created.stderr
    key_id = created.stdout.split("key_id=")[1].split()[0]
    assert record(bao, key_id).limits == Limits(rpm=50, daily_tokens=5000)

    updated = vaultctl(bao, "update", "--name", "team-x", "--rpm", "0", "--tpm", "2000", "--monthly-tokens", "90000")
    assert updated.returncode == 0 and key_id in updated.stdout, updated.stderr
    assert record(bao, key_id).limits == Limits(tpm=2000, daily_tokens=5000, monthly_tokens=90000)

    rotated = vaultctl(bao, "rotate", "--name", "team-x", "--overlap", "60")
    assert rotated.returncode == 0, rotated.stderr
    new_id = rotated.stdout.split("key_id=")[1].split()[0]
    assert record(bao, new_id).limits == record(bao, key_id).limits  # the client's limits, not the key's

    listed = json.loads(vaultctl(bao, "list", "--json").stdout)
    assert {r["key_id"]: r["limits"] for r in listed}[new_id] == {"tpm": 2000, "daily_tokens": 5000,
                                                                  "monthly_tokens": 90000}
    table = vaultctl(bao, "list").stdout
    assert "tpm=2000" in table and "hash" not in table


@pytest.mark.parametrize("args,message", [
    (["update", "--name", "nobody", "--rpm", "5"], "no usable key for client 'nobody'"),
    (["update", "--name", "team-x"], "nothing to update"),
    (["create", "--name", "y", "--providers", "openai", "--rpm", "-3"], "--rpm"),
    (["create", "--name", "y", "--providers", "openai", "--tpm", "lots"], "--tpm"),
])
def test_bad_limit_commands_are_refused_by_name(bao: OpenBaoServer, args: list[str], message: str) -> None:
    vaultctl(bao, "create", "--name", "team-x", "--providers", "openai")
    result = vaultctl(bao, *args)
    assert result.returncode != 0 and message in result.stderr, result.stderr
