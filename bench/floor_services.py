"""Redis and PostgreSQL for the floor bench's `+redis` / `+postgres` variants (Debian's binaries, loopback)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from devstack.config import StackConfig
from devstack.ports import free_ports
from devstack.procs import StackError, launch
from devstack.procs import start_time as proc_start
from devstack.shared import redis_spec, redis_url, wait_redis
from devstack.usage_db import dsn, postgres_spec, remove_cluster, wait_postgres


def backing_services(stack: contextlib.AsyncExitStack, state: Path, records: list[dict],
                     notes: list[str], postgres: bool = True) -> dict[str, str]:
    """Start what is installed; return {"redis": url, "postgres": dsn}; a missing one is noted, not fatal."""
    ports = free_ports(2)
    cfg = StackConfig(state_dir=state / "services", redis_port=ports[0], postgres_port=ports[1])
    out: dict[str, str] = {}
    try:
        spec = redis_spec(cfg, state / "services" / "redis")
        proc = launch(spec, state / "logs")
        records.append({"name": "redis", "pid": proc.pid, "start": proc_start(proc.pid)})
        wait_redis(cfg.host, cfg.redis_port)
        out["redis"] = redis_url(cfg)
    except StackError as exc:
        notes.append(f"Redis limiter not measured: {str(exc).splitlines()[0]}")
    if not postgres:
        return out
    try:
        (state / "services").mkdir(parents=True, exist_ok=True)
        spec = postgres_spec(cfg, state / "services")
        proc = launch(spec, state / "logs")
        records.append({"name": "postgres", "pid": proc.pid, "start": proc_start(proc.pid)})
        stack.callback(remove_cluster, state / "services")  # runs after the process records are stopped
        wait_postgres(cfg.host, cfg.postgres_port)
        out["postgres"] = dsn(cfg)
    except StackError as exc:
        notes.append(f"PostgreSQL sink not measured: {str(exc).splitlines()[0]}")
    return out
