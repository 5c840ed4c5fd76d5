"""Ports: refuse to start on a busy one, find free ones — the only `free_port` of devstack, bench and tests."""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

from devstack.procs import StackError


def ensure_free(host: str, ports: dict[str, int]) -> None:
    """Raise StackError naming every port that something already listens on."""
    busy = []
    for name, port in ports.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError:
                busy.append(f"{port} ({name})")
    if busy:
        raise StackError(f"port already in use: {', '.join(busy)}; stop what uses it or set another port")


# Ports handed out by this process: never twice, even after the socket that probed one is closed.
_HANDED_OUT: set[int] = set()
_RANDOM = random.SystemRandom()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


# "I/N": this process (and its children) pick only from the I-th (0-based) of N equal slices of the
# range, so N processes that allocate ports at the same time (pytest-xdist workers: tests/conftest.py)
# never probe the same free port before one of them binds it.
PORT_SHARE_ENV = "DEVSTACK_PORT_SHARE"


def _share(every: range, share: str) -> range:
    if not share:
        return every
    try:
        index, count = (int(part) for part in share.split("/"))
        if not 0 <= index < count or len(every) // count < 100:
            raise ValueError
    except ValueError:
        raise StackError(f"{PORT_SHARE_ENV}={share!r}: expected I/N with 0 <= I < N and at least 100 ports "
                         f"per share of {every.start}-{every.stop - 1}") from None
    size = len(every) // count
    return range(every.start + index * size, every.start + (index + 1) * size)


def _candidates() -> range:
    """Ports outside the kernel's ephemeral range.

    A port the kernel picked for bind(0) lies in the range it also takes the local port of every
    outgoing connection from: between probing it and a server binding it, a client socket (a gateway
    calling Vault, say) could get it — "address already in use" at start-up. Outside that range only
    another listener can take it.
    """
    low, high = _ephemeral_range()
    every = range(10000, low) if low - 10000 >= 5000 else range(high + 1, 65536)
    return _share(every, os.environ.get(PORT_SHARE_ENV, ""))


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Return `count` distinct ports, outside the ephemeral range, that were free a moment ago."""
    candidates = _candidates()
    ports: list[int] = []
    for _ in range(50 * count + 100):
        if len(ports) == count:
            return ports
        port = _RANDOM.choice(candidates)
        if port in _HANDED_OUT:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
            try:
                sock.bind((host, port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        ports.append(port)
    if len(ports) == count:
        return ports
    raise StackError(f"found only {len(ports)} of {count} free ports in {candidates.start}-{candidates.stop - 1}")


def free_port(host: str = "127.0.0.1") -> int:
    """Return one port that was free a moment ago."""
    return free_ports(1, host)[0]


def answers(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on the port (a server must not start there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0
