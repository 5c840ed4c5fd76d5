"""Run a real server process for a test with devstack's process helper (`devstack.procs`).

Readiness is polled against a deadline while `proc.poll()` is watched, so an early exit fails
at once with the process's own output; teardown is terminate → wait → kill.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx

from devstack.procs import spawn, terminate, wait_until


def http_ok(url: str, verify: str | bool = True) -> bool:
    """True when GET `url` answers 200 (any transport error: not yet)."""
    try:
        return httpx.get(url, timeout=1, verify=verify).status_code == 200
    except httpx.HTTPError:
        return False


def wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path, *, name: str, deadline_s: float = 30.0,
               verify: str | bool = True) -> None:
    """Poll `url` until it answers 200; fail with the log if the process exits or the deadline passes."""
    wait_until(proc, lambda: http_ok(url, verify), name=name, log=log, deadline_s=deadline_s, every_s=0.2)


@contextlib.contextmanager
def running(argv: list[str], ready_url: str, log: Path, *, name: str, env: Mapping[str, str] | None = None,
            deadline_s: float = 30.0) -> Iterator[subprocess.Popen[bytes]]:
    """Start `argv` with output to `log`, wait until `ready_url` answers 200, stop it afterwards."""
    proc = spawn(argv, log, env=env)
    try:
        wait_ready(proc, ready_url, log, name=name, deadline_s=deadline_s)
        yield proc
    finally:
        terminate(proc)
