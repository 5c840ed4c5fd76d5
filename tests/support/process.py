"""Run a real server process for a test: start, poll readiness while watching it, stop cleanly.

Readiness is polled against a deadline while `proc.poll()` is watched, so an early exit fails
at once with the process's own output; teardown is terminate → wait → kill.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest


def stop(proc: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    """Terminate, wait, then kill."""
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path, *, name: str, deadline_s: float = 30.0,
               verify: str | bool = True) -> None:
    """Poll `url` until it answers 200; fail with the log if the process exits or the deadline passes."""
    deadline = time.monotonic() + deadline_s
    while True:
        if proc.poll() is not None:
            pytest.fail(f"{name} exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1, verify=verify).status_code == 200:
                return
        if time.monotonic() > deadline:
            pytest.fail(f"{name} not ready after {deadline_s:.0f} s:\n{log.read_text(errors='replace')}")
        time.sleep(0.2)


@contextlib.contextmanager
def running(argv: list[str], ready_url: str, log: Path, *, name: str, env: Mapping[str, str] | None = None,
            deadline_s: float = 30.0) -> Iterator[subprocess.Popen[bytes]]:
    """Start `argv` with output to `log`, wait until `ready_url` answers 200, stop it afterwards."""
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=None if env is None else dict(env), stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_ready(proc, ready_url, log, name=name, deadline_s=deadline_s)
        yield proc
    finally:
        stop(proc)
