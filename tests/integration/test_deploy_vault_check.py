"""deploy.sh's Vault check (deploy-steps.sh `vault_unsealed`) against a real server-mode OpenBao.

deploy.sh starts the compose Vault, then reads `bao status` inside it (`compose exec -T vault bao status`).
Here `compose` is a bash function that runs the same `bao status -format=json` against a real OpenBao on
loopback and counts the calls: an uninitialised or Shamir-sealed Vault is refused at its first answer
(only an operator can unseal it), an unsealed one passes, and the wait lasts only while Vault does not
answer. The one case not made with a real server is an auto-unseal Vault still sealed (it needs a second
Vault or a KMS): there a stand-in `bao` prints OpenBao's own JSON with another seal type.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme
import yaml

from devstack.ports import free_ports
from devstack.procs import spawn, terminate
from devstack.vault import _call, config_text, wait_health
from tests.support.openbao import find_bao

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
STEPS = REPO / "deploy" / "deploy-steps.sh"
CHECK = f"""
set -euo pipefail
source {STEPS}
dry_run=0 project=llmgw-test vault_wait="$VAULT_WAIT"
run() {{ "$@"; }}
compose() {{  # compose up -d vault | compose exec -T vault bao status -format=json
    [[ "$1" == up ]] && return 0
    echo "$*" >>"$CALLS"
    shift 3
    "$@"
}}
vault_unsealed
"""
AUTO_UNSEAL_BAO = """#!/usr/bin/env bash
echo '{"type": "transit", "initialized": true, "sealed": true, "t": 1, "n": 1, "progress": 0,
 "version": "2.7.2", "recovery_seal": true, "storage_type": "raft", "ha_enabled": true}'
exit 2
"""


def check(tmp_path: Path, addr: str, wait_s: int = 10, bao_dir: Path | None = None) -> tuple[int, str, list[str]]:
    """Run vault_unsealed; return its exit status, stderr and the `bao status` calls it made."""
    calls = tmp_path / "calls"
    calls.write_text("")
    bin_dir = bao_dir or Path(find_bao()).parent
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "BAO_ADDR": addr, "CALLS": str(calls),
           "VAULT_WAIT": str(wait_s)}
    done = subprocess.run(["bash", "-c", CHECK], capture_output=True, text=True, env=env, timeout=120, check=False)
    return done.returncode, done.stderr, calls.read_text().splitlines()


@pytest.fixture(scope="module")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server-mode OpenBao (raft), started uninitialised."""
    work = tmp_path_factory.mktemp("bao")
    port, cluster = free_ports(2)
    config = work / "config.hcl"
    config.write_text(config_text(work, "127.0.0.1", port, cluster))
    proc = spawn([find_bao(), "server", f"-config={config}"], log=work / "bao.log", env=dict(os.environ))
    addr = f"http://127.0.0.1:{port}"
    try:
        wait_health(addr, {501})
        yield addr
    finally:
        terminate(proc)


def test_an_uninitialised_then_sealed_vault_is_refused_at_once_and_an_unsealed_one_passes(
        tmp_path: Path, bao: str) -> None:
    rc, err, calls = check(tmp_path, bao)
    assert rc == 1 and calls == ["exec -T vault bao status -format=json"], (rc, calls, err)
    assert "Vault is sealed or not initialised (initialized: false, sealed: true, seal: shamir)" in err
    assert "vaultctl init" in err

    status, answer = _call(bao, "PUT", "/v1/sys/init", {"secret_shares": 1, "secret_threshold": 1})
    assert status == 200
    wait_health(bao, {503})
    rc, err, calls = check(tmp_path, bao)
    assert rc == 1 and len(calls) == 1, (rc, calls, err)
    assert "(initialized: true, sealed: true, seal: shamir)" in err

    assert _call(bao, "PUT", "/v1/sys/unseal", {"key": answer["keys"][0]})[0] == 200
    wait_health(bao, {200, 429})
    rc, err, calls = check(tmp_path, bao)
    assert (rc, err, len(calls)) == (0, "", 1)


def test_a_vault_that_does_not_answer_is_waited_for_then_reported(tmp_path: Path) -> None:
    nobody = f"http://127.0.0.1:{free_ports(1)[0]}"
    rc, err, calls = check(tmp_path, nobody, wait_s=4)
    assert rc == 1 and len(calls) == 2, (rc, calls, err)  # one `bao status` every 2 s for 4 s
    assert "Vault did not report unsealed within 4 s (last `bao status` exit 1)" in err
    assert "docker logs" in err and "sealed or not initialised" not in err


def test_an_auto_unseal_vault_still_sealed_is_waited_for(tmp_path: Path) -> None:
    stand_in = tmp_path / "bin"
    stand_in.mkdir()
    (stand_in / "bao").write_text(AUTO_UNSEAL_BAO)
    (stand_in / "bao").chmod(0o755)
    rc, err, calls = check(tmp_path, "http://127.0.0.1:1", wait_s=4, bao_dir=stand_in)
    assert rc == 1 and len(calls) == 2, (rc, calls, err)
    assert "Vault did not report unsealed within 4 s (last `bao status` exit 2, seal: transit)" in err


def test_deploy_sh_refuses_a_bad_vault_wait(tmp_path: Path) -> None:
    env_file = tmp_path / "deploy.env"
    env_file.write_text("LLMGW_STATE_DIR=/tmp/x\nLLMGW_PUBLIC_URL=https://127.0.0.1:8443\nVAULT_ADMIN_TOKEN=t-1\n"
                        "LLMGW_TLS_CERT=/c\nLLMGW_TLS_KEY=/k\nLLMGW_UPSTREAM=mock\nLLMGW_VAULT_WAIT_S=soon\n")
    done = subprocess.run(["bash", str(REPO / "deploy" / "deploy.sh"), "--env", "staging", "--env-file", str(env_file),
                           "--dry-run"], capture_output=True, text=True, timeout=60, check=False,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, cwd=tmp_path)
    assert done.returncode != 0
    assert "LLMGW_VAULT_WAIT_S must be a positive number of seconds" in done.stderr, done.stdout + done.stderr


def test_the_compose_vaults_own_status_check_passes_with_the_documented_certificate(tmp_path: Path) -> None:
    # .env.production.example asks for a Vault certificate naming `vault` (what the gateways dial); the compose
    # health check and deploy.sh run `bao status` inside the container against 127.0.0.1, with the service's env.
    ca = trustme.CA()
    cert = ca.issue_cert("vault")
    pems = {"ca.pem": ca.cert_pem, "cert.pem": cert.cert_chain_pems[0], "key.pem": cert.private_key_pem}
    for name, blob in pems.items():
        blob.write_to_path(str(tmp_path / name))
    port, cluster = free_ports(2)
    config = tmp_path / "config.hcl"
    config.write_text(config_text(tmp_path, "127.0.0.1", port, cluster).replace(
        "  tls_disable = true\n", f'  tls_cert_file = "{tmp_path / "cert.pem"}"\n'
                                  f'  tls_key_file = "{tmp_path / "key.pem"}"\n'))
    proc = spawn([find_bao(), "server", f"-config={config}"], log=tmp_path / "bao.log", env=dict(os.environ))
    try:
        service = yaml.safe_load((REPO / "deploy" / "docker-compose.yml").read_text())["services"]["vault"]
        env = {**service["environment"], "BAO_ADDR": f"https://127.0.0.1:{port}",
               "BAO_CACERT": str(tmp_path / "ca.pem"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
        deadline, rc = time.monotonic() + 30, None
        while rc != 2 and time.monotonic() < deadline:  # 2: it answered (not initialised); 1: no answer, or TLS
            rc = subprocess.run([find_bao(), "status"], env=env, capture_output=True, timeout=30,
                                check=False).returncode
            time.sleep(0.3)
        assert rc == 2, (tmp_path / "bao.log").read_text()[-2000:]
        without = {k: v for k, v in env.items() if k != "BAO_TLS_SERVER_NAME"}
        refused = subprocess.run([find_bao(), "status"], env=without, capture_output=True, text=True, timeout=30,
                                 check=False)
        assert refused.returncode == 1 and "127.0.0.1" in refused.stderr  # the name the check dials is not in it
    finally:
        terminate(proc)


LASTS = f"""
set -euo pipefail
source {STEPS}
dry_run=0
compose() {{ shift 3; "$@"; }}  # compose exec -T vault CMD...: CMD here, against the OpenBao on loopback
admin_token_lasts
"""


def test_an_admin_token_that_would_expire_during_the_release_is_refused_before_compose_stops_anything(
        tmp_path: Path) -> None:
    port = free_ports(1)[0]
    addr = f"http://127.0.0.1:{port}"
    proc = spawn([find_bao(), "server", "-dev", "-dev-root-token-id=root", f"-dev-listen-address=127.0.0.1:{port}"],
                 log=tmp_path / "bao.log", env=dict(os.environ))
    try:
        wait_health(addr, {200})

        def mint(ttl: str) -> str:
            return _call_token(addr, {"ttl": ttl, "explicit_max_ttl": ttl, "policies": ["default"]})

        def lasts(token: str) -> subprocess.CompletedProcess[str]:
            env = {"PATH": f"{Path(find_bao()).parent}:/usr/bin:/bin", "HOME": str(tmp_path), "BAO_ADDR": addr,
                   "VAULT_ADMIN_TOKEN": token}
            return subprocess.run(["bash", "-c", LASTS], capture_output=True, text=True, env=env, timeout=60,
                                  check=False)

        assert lasts(mint("1h")).returncode == 0
        short = lasts(mint("2m"))
        assert short.returncode == 1 and "VAULT_ADMIN_TOKEN expires in 1" in short.stderr, short.stderr
        assert "Nothing was stopped" in short.stderr
        gone = lasts("s.not-a-token-" + os.urandom(6).hex())
        assert gone.returncode == 1 and "Vault refuses VAULT_ADMIN_TOKEN" in gone.stderr, gone.stderr
        assert "not-a-token" not in gone.stderr + gone.stdout  # the token is never printed
    finally:
        terminate(proc)


def _call_token(addr: str, body: dict) -> str:
    answer = httpx.post(f"{addr}/v1/auth/token/create", json=body, headers={"X-Vault-Token": "root"}, timeout=10)
    return answer.raise_for_status().json()["auth"]["client_token"]
