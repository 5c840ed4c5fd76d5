"""The local stack's PostgreSQL for usage records (STACK_USAGE=postgres): a throwaway cluster.

PostgreSQL refuses to run as root; as root the cluster lives in a fresh /tmp directory owned by
`nobody` (a state directory under /root could not be entered) and postgres runs through `runuser`.
`<state>/postgres-cluster` records where it is, so `make down` removes it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from devstack.config import StackConfig
from devstack.procs import ProcessSpec, StackError


def _binary(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)),
                                       None)
    if found is None:
        raise StackError(f"{name} not found; run `make limits-tools` (installs Debian's postgresql)")
    return found


def _as_user() -> list[str]:
    return ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []


def postgres_spec(cfg: StackConfig, state: Path) -> ProcessSpec:
    """initdb a new cluster (trust auth, loopback only) and return how to run postgres on it."""
    root = Path(tempfile.mkdtemp(prefix="llmgw-stack-pg-")) if os.geteuid() == 0 else state / "postgres"
    root.mkdir(parents=True, exist_ok=True)
    (state / "postgres-cluster").write_text(str(root))
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        root.chmod(0o755)
        os.chown(root, nobody.pw_uid, nobody.pw_gid)
    data = root / "data"
    result = subprocess.run([*_as_user(), _binary("initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                             "-E", "UTF8", "--no-sync"], capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise StackError(f"initdb failed:\n{result.stdout}\n{result.stderr}")
    return ProcessSpec("postgres", [*_as_user(), _binary("postgres"), "-D", str(data), "-h", cfg.host,
                                    "-p", str(cfg.postgres_port), "-k", str(root)], port=cfg.postgres_port)


def wait_postgres(host: str, port: int, deadline_s: float = 30.0) -> None:
    """Wait until postgres accepts TCP connections (the gateways' sink retries until it can log in)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise StackError(f"postgres not listening on {host}:{port} after {deadline_s:.0f} s")


def dsn(cfg: StackConfig) -> str:
    """The DSN the gateways use (trust auth on loopback: no password in the local stack)."""
    return f"postgresql://postgres@{cfg.host}:{cfg.postgres_port}/postgres"


def usage_env(cfg: StackConfig) -> dict[str, str]:
    """Gateway settings for the configured usage sink."""
    if cfg.usage != "postgres":
        return {}
    return {"GATEWAY_USAGE_BACKEND": "postgres", "GATEWAY_POSTGRES_DSN": dsn(cfg)}


def remove_cluster(state: Path) -> None:
    """Delete the cluster directory recorded under `state` (after postgres stopped)."""
    marker = state / "postgres-cluster"
    if marker.exists():
        shutil.rmtree(marker.read_text().strip(), ignore_errors=True)
