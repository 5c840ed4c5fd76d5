"""Start, watch and stop the stack's processes; each is recorded by pid and start time.

A recorded (pid, start time) pair identifies exactly the process we started, so
`down` never signals an unrelated process that reused the pid.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class StackError(RuntimeError):
    """Something prevented the stack from starting or stopping; the message says what."""


@dataclass
class ProcessSpec:
    """How to run one service and how to tell that it is ready."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    env_remove: tuple[str, ...] = ()
    port: int | None = None
    ready_url: str | None = None
    ready_ssl_ca: Path | None = None
    cwd: Path | None = None


def start_time(pid: int) -> str | None:
    """Return the kernel's start time of `pid` (clock ticks since boot), or None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def alive(record: dict[str, Any]) -> bool:
    """True when the recorded process still runs (same pid and same start time)."""
    return start_time(int(record["pid"])) == record["start"]


def launch(spec: ProcessSpec, log_dir: Path) -> subprocess.Popen[bytes]:
    """Start the process in its own session with output to `<log_dir>/<name>.log`."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = (log_dir / f"{spec.name}.log").open("ab")
    env = {k: v for k, v in os.environ.items() if k not in spec.env_remove}
    env.update(spec.env)
    try:
        return subprocess.Popen(spec.argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=spec.cwd, start_new_session=True)
    finally:
        log.close()


def wait_ready(spec: ProcessSpec, proc: subprocess.Popen[bytes], log_dir: Path, deadline_s: float = 60.0) -> float:
    """Poll the ready URL until 200, failing fast if the process exits; return seconds waited."""
    started = time.monotonic()
    context = None
    if spec.ready_url and spec.ready_url.startswith("https"):
        import ssl

        context = ssl.create_default_context(cafile=str(spec.ready_ssl_ca) if spec.ready_ssl_ca else None)
    while True:
        code = proc.poll()
        if code is not None:
            raise StackError(f"{spec.name} exited with status {code} during start-up\n{tail(log_dir, spec.name)}")
        if spec.ready_url is None:
            return time.monotonic() - started
        try:
            with urllib.request.urlopen(spec.ready_url, timeout=2, context=context) as resp:  # noqa: S310
                if resp.status == 200:
                    return time.monotonic() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        if time.monotonic() - started > deadline_s:
            raise StackError(f"{spec.name} not ready after {deadline_s:.0f} s at {spec.ready_url}\n"
                             f"{tail(log_dir, spec.name)}")
        time.sleep(0.1)


def tail(log_dir: Path, name: str, lines: int = 30) -> str:
    """Return the last lines of a service's log, for error messages."""
    path = log_dir / f"{name}.log"
    if not path.exists():
        return f"(no log at {path})"
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return f"--- last {len(text)} lines of {path} ---\n" + "\n".join(text)


def stop(record: dict[str, Any], grace_s: float = 10.0) -> bool:
    """Terminate the recorded process group, wait, then kill; True if it was running."""
    if not alive(record):
        return False
    pid = int(record["pid"])
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not alive(record):
            break
        _reap(pid)
        time.sleep(0.05)
    else:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _reap(pid)
    return True


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
