"""Start, watch and stop processes: the one way devstack, the benchmark and the test fixtures do it.

- `spawn` starts a command with its output in a log file (`launch`: a ProcessSpec, in its own
  session, logged to `<log_dir>/<name>.log` — what `make up` leaves running);
- `wait_until` polls a readiness probe against a deadline while watching `proc.poll()`, so an
  early exit fails at once with the process's own output (`wait_ready`: a ready URL);
- `terminate` stops a process we hold: a signal (SIGTERM), wait, then SIGKILL;
- `stop` does the same for a process recorded by an earlier command: a (pid, start time) pair
  identifies exactly the process we started, so `down` never signals one that reused the pid.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
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


def spawn(argv: list[str], log: Path, *, env: Mapping[str, str] | None = None, cwd: Path | None = None,
          new_session: bool = False, user: int | None = None, group: int | None = None) -> subprocess.Popen[bytes]:
    """Start `argv` with stdout and stderr appended to `log` (`env`: the whole environment; None inherits)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(argv, env=None if env is None else dict(env), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=cwd, start_new_session=new_session, user=user,
                                group=group)


def launch(spec: ProcessSpec, log_dir: Path) -> subprocess.Popen[bytes]:
    """Start the process in its own session with output to `<log_dir>/<name>.log`."""
    env = {k: v for k, v in os.environ.items() if k not in spec.env_remove}
    env.update(spec.env)
    # Its own session: it outlives the command that started it (`make up`) and is stopped as a group.
    return spawn(spec.argv, log_dir / f"{spec.name}.log", env=env, cwd=spec.cwd, new_session=True)


def wait_until(proc: subprocess.Popen[bytes], ready: Callable[[], bool], *, name: str, log: Path,
               deadline_s: float = 60.0, every_s: float = 0.1) -> float:
    """Poll `ready()` until true, failing fast if the process exits; return seconds waited."""
    started = time.monotonic()
    while True:
        code = proc.poll()
        if code is not None:
            raise StackError(f"{name} exited with status {code} during start-up\n{tail_of(log)}")
        if ready():
            return time.monotonic() - started
        if time.monotonic() - started > deadline_s:
            raise StackError(f"{name} not ready after {deadline_s:.0f} s\n{tail_of(log)}")
        time.sleep(every_s)


def url_answers(url: str, *, ca: Path | None = None, timeout_s: float = 2.0) -> bool:
    """True when GET `url` answers 200 (an https URL is verified against `ca`, else the system store)."""
    context = None
    if url.startswith("https"):
        import ssl

        context = ssl.create_default_context(cafile=str(ca) if ca else None)
    try:
        with urllib.request.urlopen(url, timeout=timeout_s, context=context) as resp:  # noqa: S310
            return resp.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def wait_ready(spec: ProcessSpec, proc: subprocess.Popen[bytes], log_dir: Path, deadline_s: float = 60.0) -> float:
    """Poll the spec's ready URL until 200, failing fast if the process exits; return seconds waited."""
    url = spec.ready_url
    return wait_until(proc, lambda: url is None or url_answers(url, ca=spec.ready_ssl_ca),
                      name=f"{spec.name} ({url})" if url else spec.name, log=log_dir / f"{spec.name}.log",
                      deadline_s=deadline_s)


def tail(log_dir: Path, name: str, lines: int = 30) -> str:
    """Return the last lines of a service's log, for error messages."""
    return tail_of(log_dir / f"{name}.log", lines)


def tail_of(path: Path, lines: int = 30) -> str:
    """Return the last lines of a log file, for error messages."""
    if not path.exists():
        return f"(no log at {path})"
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return f"--- last {len(text)} lines of {path} ---\n" + "\n".join(text)


def terminate(proc: subprocess.Popen[bytes], grace_s: float = 10.0, sig: int = signal.SIGTERM) -> None:
    """Stop a process we started: `sig` (to its group when it leads its own session), wait, then SIGKILL."""
    if proc.poll() is not None:
        return
    group = _leads_group(proc.pid)
    _signal(proc.pid, sig, group)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        _signal(proc.pid, signal.SIGKILL, group)
        proc.wait()


def _leads_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except ProcessLookupError:
        return False


def _signal(pid: int, sig: int, group: bool) -> None:
    try:
        os.killpg(pid, sig) if group else os.kill(pid, sig)
    except ProcessLookupError:
        pass


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
