"""The module's stack credentials outlive their TTLs: its bootstrap and refresher argv against a real OpenBao.

The Dagger stack (ci/src/llm_stack/stack.py) runs consts.BOOTSTRAP_CMD, then a refresher service with
consts.REFRESHER_CMD writing into each gateway's AppRole volume. Here the same argv run as processes
(paths moved under a temp dir, TTLs shortened so the test passes them in seconds), and a gateway-like
client logs in again each time its token dies: after the token max TTL and after the secret_id TTL.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest
from hvac import exceptions as hvac_errors

from tests.containers.conftest import REPO
from tests.support.openbao import OpenBaoServer

sys.path.insert(0, str(REPO / "ci" / "src"))

from llm_stack import consts

pytestmark = pytest.mark.integration
TOKEN_MAX_TTL_S = 3
SECRET_ID_TTL_S = 5
SESSION_S = 14  # longer than both TTLs, twice over the token's
REFUSED = (hvac_errors.InvalidRequest, hvac_errors.Forbidden)  # a consumed or expired secret_id


def moved(argv: list[str], root: Path) -> list[str]:
    """The module's argv with its container paths under root and the refresher's interval at 1s."""
    out = [a.replace("/run/stack", str(root / "run")).replace(consts.REFRESHER_DIR, str(root / "approle"))
           for a in argv]  # fmt: skip
    if "--interval" in out:
        out[out.index("--interval") + 1] = "1s"
    return out


@pytest.fixture
def bao(tmp_path: Path) -> Iterator[OpenBaoServer]:
    server = OpenBaoServer(tmp_path / "bao", audit=False).start()
    yield server
    server.stop()


def bootstrap(bao: OpenBaoServer, root: Path) -> dict[str, str]:
    """Run the module's bootstrap argv with short TTLs; return the environment the refresher runs in."""
    env = {**os.environ, "VAULT_ADDR": bao.addr, "PYTHONPATH": str(REPO / "services")}
    argv = [*moved(consts.BOOTSTRAP_CMD, root), "--token-ttl", "2s", "--token-max-ttl", f"{TOKEN_MAX_TTL_S}s",
            "--secret-id-ttl", f"{SECRET_ID_TTL_S}s"]  # fmt: skip
    argv[0] = sys.executable
    done = subprocess.run(argv, env={**env, "VAULT_TOKEN": bao.root_token}, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert bao.root_token not in done.stdout + done.stderr
    # What the refresher service mounts (the issuer token) and what its seed step copies (AppRole files).
    shutil.copy(root / "run" / "bootstrap" / "issuer-token", root / "run" / "issuer-token")
    for provider in consts.PROVIDERS:
        (root / "approle" / provider).mkdir(parents=True)
        for name in ("role_id", "secret_id"):
            shutil.copy(root / "run" / "bootstrap" / provider / name, root / "approle" / provider / name)
    return env


def login(bao: OpenBaoServer, folder: Path) -> hvac.Client:
    """Log in as a gateway does: the role_id and secret_id files as they are now."""
    client = hvac.Client(url=bao.addr)
    client.auth.approle.login(role_id=(folder / "role_id").read_text().strip(),
                              secret_id=(folder / "secret_id").read_text().strip())  # fmt: skip
    return client


def session(bao: OpenBaoServer, folder: Path) -> int:
    """Stay logged in for SESSION_S, logging in again whenever the token has died; count the logins."""
    client, logins, deadline = login(bao, folder), 1, time.monotonic() + SESSION_S
    while time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            client.auth.token.lookup_self()
        except hvac_errors.Forbidden:
            retry_until = time.monotonic() + 5  # the refresher replaces a consumed secret_id within ~1s
            while True:
                try:
                    client = login(bao, folder)
                    break
                except REFUSED:
                    if time.monotonic() > retry_until:
                        raise
                    time.sleep(0.3)
            logins += 1
    return logins


def test_gateways_log_in_again_past_every_ttl_with_the_refresher(bao: OpenBaoServer, tmp_path: Path) -> None:
    env = bootstrap(bao, tmp_path)
    argv = moved(consts.REFRESHER_CMD, tmp_path)
    argv[0] = sys.executable
    refresher = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        logins = session(bao, tmp_path / "approle" / "openai")
        assert refresher.poll() is None, "the refresher exited"
    except Exception:
        refresher.terminate()
        print(refresher.communicate(timeout=20)[0])
        raise
    refresher.terminate()
    log = refresher.communicate(timeout=20)[0]
    assert logins >= SESSION_S // TOKEN_MAX_TTL_S, log
    assert bao.root_token not in log


def test_without_the_refresher_the_gateway_is_locked_out(bao: OpenBaoServer, tmp_path: Path) -> None:
    """What the stack did before: a single-use secret_id, so the first token's end is the gateway's end."""
    bootstrap(bao, tmp_path)
    with pytest.raises(REFUSED):
        session(bao, tmp_path / "approle" / "openai")
