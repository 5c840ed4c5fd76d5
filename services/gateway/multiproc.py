"""Prometheus multiprocess mode for GATEWAY_WORKERS > 1: one metrics directory shared by the workers.

prometheus_client picks its value storage when it is imported, from PROMETHEUS_MULTIPROC_DIR: the
supervisor sets it (a fresh directory unless the operator chose one) before uvicorn spawns the workers.
Stale files from an earlier run would be added to the new totals, so the directory is emptied first.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"
_at_exit: list[Callable[[], None]] = []  # this worker's publishers of live gauges (gateway.metrics)


def enabled() -> bool:
    """Whether this process records metrics into the shared directory."""
    return bool(os.environ.get(ENV))


def prepare() -> Path:
    """Create (or empty) the metrics directory and export it to the workers about to be spawned."""
    chosen = os.environ.get(ENV)
    path = Path(chosen) if chosen else Path(tempfile.mkdtemp(prefix="llm-gateway-metrics-"))
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    os.environ[ENV] = str(path)
    return path


def at_exit(stop: Callable[[], None]) -> None:
    """Have `worker_exit` call `stop` first: nothing writes this worker's live gauges after they are dropped."""
    _at_exit.append(stop)


def worker_exit() -> None:
    """Drop this worker's live gauges (in-flight requests, readiness) from the totals when it stops."""
    while _at_exit:
        _at_exit.pop()()
    if enabled():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())
