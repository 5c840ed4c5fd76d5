"""The local stack's OpenBao: a real (non-dev) server with raft storage, initialised over the API.

Not `-dev`: a dev server prints its root token and unseal key in its banner (a secret in
a log) and loses everything on restart. Here `sys/init` answers the root token and the
single unseal key to us only; both go to 0600 files in the state directory, and a restart
is a real outage and recovery — data survives, the server is unsealed again.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

from devstack.procs import StackError


def config_text(vault_dir: Path, host: str, port: int, cluster_port: int) -> str:
    """Return the server configuration (raft storage, TCP listener, file audit device)."""
    data = vault_dir / "raft"
    data.mkdir(parents=True, exist_ok=True)
    return (
        "disable_mlock = true\n"
        'ui = false\n'
        f'api_addr = "http://{host}:{port}"\n'
        f'cluster_addr = "http://{host}:{cluster_port}"\n'
        # performance_multiplier = 1: single-node leader election in about a second.
        f'storage "raft" {{\n  path = "{data}"\n  node_id = "devstack"\n  performance_multiplier = 1\n}}\n'
        f'listener "tcp" {{\n  address = "{host}:{port}"\n  cluster_address = "{host}:{cluster_port}"\n'
        "  tls_disable = true\n}\n"
        f'audit "file" "file" {{\n  options {{\n    file_path = "{vault_dir / "audit.log"}"\n'
        '    mode = "0600"\n  }\n}\n'
    )


def _call(addr: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(addr + path, data=data, method=method)  # noqa: S310 — loopback URL we built
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def health(addr: str) -> int | None:
    """`/v1/sys/health` status: 200 active, 501 not initialised, 503 sealed, None unreachable."""
    try:
        return _call(addr, "GET", "/v1/sys/health")[0]
    except OSError:
        return None


def wait_health(addr: str, accept: set[int], deadline_s: float = 30.0) -> int:
    """Wait until health answers one of `accept`; return it."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        code = health(addr)
        if code in accept:
            return code
        time.sleep(0.1)
    raise StackError(f"OpenBao at {addr} did not reach {sorted(accept)} within {deadline_s:.0f} s")


def init_or_unseal(addr: str, vault_dir: Path) -> str:
    """Initialise on first start (1 key share) or unseal after a restart; return the root token."""
    secrets_file = vault_dir / "init.json"
    code = wait_health(addr, {200, 501, 503})
    if code == 501:
        status, answer = _call(addr, "PUT", "/v1/sys/init", {"secret_shares": 1, "secret_threshold": 1})
        if status != 200:
            raise StackError(f"OpenBao init failed with status {status}")
        secrets_file.write_text(json.dumps({"unseal_key": answer["keys"][0], "root_token": answer["root_token"]}))
        secrets_file.chmod(0o600)
    stored = json.loads(secrets_file.read_text())
    if health(addr) == 503:
        status, _ = _call(addr, "PUT", "/v1/sys/unseal", {"key": stored["unseal_key"]})
        if status != 200:
            raise StackError(f"OpenBao unseal failed with status {status}")
    wait_health(addr, {200})
    return stored["root_token"]
