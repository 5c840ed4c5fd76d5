"""The one process helper (devstack.procs, devstack.ports) on real processes: start, wait, stop, ports."""

from __future__ import annotations

import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from devstack import ports
from devstack.ports import answers, free_port, free_ports
from devstack.procs import StackError, spawn, terminate, wait_until

pytestmark = pytest.mark.integration

SLEEPER = [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"]
# Ignores SIGTERM, so only the SIGKILL after the grace period stops it.
STUBBORN = [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('up', flush=True); time.sleep(60)"]


def _logged(log: Path, text: str) -> bool:
    return log.exists() and text in log.read_text()


def test_spawn_logs_and_terminate_stops_with_sigterm(tmp_path: Path) -> None:
    log = tmp_path / "sleeper.log"
    proc = spawn(SLEEPER, log)
    wait_until(proc, lambda: _logged(log, "up"), name="sleeper", log=log, deadline_s=20)
    terminate(proc)
    assert proc.returncode == -signal.SIGTERM


def test_terminate_kills_what_ignores_sigterm_after_the_grace(tmp_path: Path) -> None:
    log = tmp_path / "stubborn.log"
    proc = spawn(STUBBORN, log, new_session=True)
    wait_until(proc, lambda: _logged(log, "up"), name="stubborn", log=log, deadline_s=20)
    started = time.monotonic()
    terminate(proc, grace_s=0.5)
    assert proc.returncode == -signal.SIGKILL
    assert time.monotonic() - started >= 0.5


def test_wait_until_fails_at_once_with_the_log_when_the_process_exits(tmp_path: Path) -> None:
    log = tmp_path / "crash.log"
    proc = spawn([sys.executable, "-c", "import sys; print('bad setting X'); sys.exit(3)"], log)
    started = time.monotonic()
    with pytest.raises(StackError, match="exited with status 3") as info:
        wait_until(proc, lambda: False, name="crash", log=log, deadline_s=30)
    assert "bad setting X" in str(info.value)
    assert time.monotonic() - started < 10  # not the deadline


def test_wait_until_gives_up_at_the_deadline(tmp_path: Path) -> None:
    log = tmp_path / "sleeper.log"
    proc = spawn(SLEEPER, log)
    try:
        with pytest.raises(StackError, match="not ready after"):
            wait_until(proc, lambda: False, name="sleeper", log=log, deadline_s=0.5)
    finally:
        terminate(proc)


def test_free_ports_are_distinct_and_answers_tells_a_listening_one() -> None:
    ports = free_ports(5)
    assert len(set(ports)) == 5
    port = free_port()
    assert not answers(port)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        assert answers(port)


def test_free_ports_avoid_the_ephemeral_range_and_never_repeat() -> None:
    """Outgoing connections take local ports from the ephemeral range: a server port must not lie there."""
    low, high = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    first, second = free_ports(40), free_ports(40)
    assert not set(first) & set(second)
    assert all(not low <= p <= high and p >= 1024 for p in first + second), (low, high, first + second)


def test_a_port_share_keeps_to_its_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    """Concurrent pytest-xdist workers each pick from their own slice (DEVSTACK_PORT_SHARE=I/N)."""
    monkeypatch.delenv(ports.PORT_SHARE_ENV, raising=False)
    every = ports._candidates()
    monkeypatch.setenv(ports.PORT_SHARE_ENV, "1/4")
    second = ports._candidates()
    quarter = len(every) // 4
    assert second == range(every.start + quarter, every.start + 2 * quarter)
    assert all(p in second for p in free_ports(30))
    for bad in ("4/4", "x", "1/2/3", "0/100000"):
        monkeypatch.setenv(ports.PORT_SHARE_ENV, bad)
        with pytest.raises(StackError, match="DEVSTACK_PORT_SHARE"):
            free_ports(1)


def test_a_listening_port_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as busy, socket.socket() as probe:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        probe.bind(("127.0.0.1", 0))
        taken, free = busy.getsockname()[1], probe.getsockname()[1]
        probe.close()
        draws = iter([taken, taken, free])
        monkeypatch.setattr(ports, "_RANDOM", type("Draws", (), {"choice": lambda _self, _range: next(draws)})())
        assert free_ports(1) == [free]
