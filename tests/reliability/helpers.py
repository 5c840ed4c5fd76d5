"""Process signals, readiness polls and /proc measurements for the reliability suite (local stack only).

Tests kill a service by pid with the signal the scenario calls for (`signal_and_reap`) and bring it
back with devstack's own `Stack.restart_service(name)` (same spec; a gateway gets a fresh secret_id).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx

from devstack.procs import start_time
from tests.support.stack import RunningStack

T = TypeVar("T")

# Loopback load from one IP and one key per provider: the edge's abuse limits would answer 429
# and hide what these tests look for, so the reliability stacks lift them.
EDGE_UNLIMITED = {"NGINX_RATE_IP": "100000r/s", "NGINX_BURST_IP": "100000", "NGINX_CONN_PER_IP": "10000"}


def record(stack: RunningStack, name: str) -> dict:
    """The newest pid record of a service (a restarted service has several)."""
    assert stack.stack is not None
    recs = [r for r in stack.stack.records() if r["name"] == name]
    assert recs, f"no process named {name} in {stack.stack.pids_file}"
    return recs[-1]


def pid_of(stack: RunningStack, name: str) -> int:
    """The pid of the service's current process."""
    return int(record(stack, name)["pid"])


def signal_and_reap(pid: int, sig: signal.Signals, within: float = 15.0) -> float:
    """Send `sig` to one process, wait until it is gone (reaping it); return the seconds it took."""
    started = time.monotonic()
    before = start_time(pid)
    os.kill(pid, sig)
    while time.monotonic() - started < within:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # reaped already (by subprocess' own cleanup)
            done = pid
        if done == pid or start_time(pid) != before:
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError(f"pid {pid} still running {within} s after {sig.name}")


def vaultctl(stack: RunningStack, *args: str, env: dict[str, str] | None = None) -> str:
    """Run `python -m vaultctl ARGS --addr … --token-file …` with the stack's root token."""
    assert stack.vault_addr
    argv = [sys.executable, "-m", "vaultctl", *args, "--addr", stack.vault_addr, "--token-file",
            str(root_token_file(stack))]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False,
                            env={**os.environ, **(env or {})})
    assert result.returncode == 0, f"vaultctl {args[0]} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def root_token_file(stack: RunningStack) -> Path:
    return stack.state_dir / "vault" / "root-token"


def readyz(url: str) -> tuple[int, dict]:
    """GET /readyz of a gateway: (status, body); (0, {}) when it does not answer."""
    try:
        resp = httpx.get(f"{url}/readyz", timeout=3)
    except httpx.HTTPError:
        return 0, {}
    try:
        return resp.status_code, resp.json()
    except json.JSONDecodeError:
        return resp.status_code, {}


def wait_for(predicate: Callable[[], T], within: float, every: float = 0.05, what: str = "condition") -> float:
    """Poll until predicate() is truthy; return the seconds it took."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > within:
            raise AssertionError(f"{what} not reached within {within} s")
        time.sleep(every)
    return time.monotonic() - started


def mock_stats(stack: RunningStack) -> dict:
    """The mock's per-provider counters and last key seen."""
    return httpx.get(f"{stack.mock_url}/_mock/stats", timeout=3).json()


# -- /proc measurements -------------------------------------------------------------------
def fds(pid: int) -> int:
    """Open file descriptors of a process."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def sockets(pid: int) -> int:
    """Open sockets (TCP connections, listeners, socketpairs) of a process."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            continue
    return count


def rss_mb(pid: int) -> float:
    """Resident set size in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise AssertionError(f"no VmRSS for pid {pid}")


def usage(pid: int) -> dict[str, float]:
    """fds, sockets and RSS of a process, for reports."""
    return {"fds": fds(pid), "sockets": sockets(pid), "rss_mb": rss_mb(pid)}
