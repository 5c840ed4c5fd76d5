"""Ports: refuse to start on a busy one, find free ones — the only `free_port` of devstack, bench and tests."""

from __future__ import annotations

import socket

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


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Return `count` distinct ports that were free a moment ago."""
    socks, ports = [], []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            socks.append(sock)
            ports.append(sock.getsockname()[1])
    finally:
        for sock in socks:
            sock.close()
    return ports


def free_port(host: str = "127.0.0.1") -> int:
    """Return one port that was free a moment ago."""
    return free_ports(1, host)[0]


def answers(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on the port (a server must not start there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0
