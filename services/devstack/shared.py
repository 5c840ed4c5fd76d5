"""The shared engines of a replicated local stack: a loopback redis-server for the gateways' limits."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from devstack.config import StackConfig
from devstack.procs import ProcessSpec, StackError


def redis_spec(cfg: StackConfig, data_dir: Path) -> ProcessSpec:
    """redis-server on loopback, no persistence (limit windows are at most a month; a restart resets them)."""
    binary = cfg.which(cfg.redis_bin)
    if binary is None:
        raise StackError(f"{cfg.redis_bin} not found; run `make limits-tools` (installs Debian's redis-server)")
    data_dir.mkdir(parents=True, exist_ok=True)
    return ProcessSpec("redis", [binary, "--bind", cfg.host, "--port", str(cfg.redis_port), "--save", "",
                                 "--appendonly", "no", "--dir", str(data_dir), "--daemonize", "no"],
                       port=cfg.redis_port)


def wait_redis(host: str, port: int, deadline_s: float = 20.0) -> None:
    """Poll PING (RESP inline) until redis answers PONG."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise StackError(f"redis-server not answering on {host}:{port} after {deadline_s:.0f} s")


def redis_url(cfg: StackConfig) -> str:
    """The URL the gateways use."""
    return f"redis://{cfg.host}:{cfg.redis_port}/0"


def limits_env(cfg: StackConfig) -> dict[str, str]:
    """Gateway settings for the configured limits backend."""
    if cfg.shared != "redis":
        return {"GATEWAY_LIMITS_BACKEND": "memory"}
    return {"GATEWAY_LIMITS_BACKEND": "redis", "GATEWAY_REDIS_URL": redis_url(cfg),
            "GATEWAY_LIMITS_REPLICAS": str(cfg.replicas)}
