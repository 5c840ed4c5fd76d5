"""Usage audit: one record per LLM request, written by a sink (JSON lines by default, or PostgreSQL).

Records carry who/what/how-much, never a credential and never message content. `record()` runs on the
request path and never does network I/O; sinks that talk to a database buffer and write in the background.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from gateway.context import RequestContext

log = logging.getLogger("gateway.audit")


def usage_record(ctx: RequestContext, provider: str, status: int, elapsed: float, when: str) -> dict[str, Any]:
    """The usage record of a finished request (the same fields in every sink; `when` is the sink's timestamp)."""
    return {
        "id": ctx.audit_id,  # server-generated, unique per request (the client's X-Request-ID may repeat)
        "time": when,
        "request_id": ctx.request_id,
        "client_id": ctx.client_id,
        "auth_method": ctx.auth_method,
        "provider": provider,
        "route": ctx.route,
        "model": ctx.model,
        "status": status,
        "latency_ms": round(elapsed * 1000, 1),
        "prompt_tokens": ctx.prompt_tokens,
        "completion_tokens": ctx.completion_tokens,
        "streamed": ctx.streamed,
        "error": ctx.error_code,
    }


class AuditSink(ABC):
    """Where usage records go."""

    name = "abstract"

    def __init__(self, provider: str) -> None:
        self.provider = provider

    def record(self, ctx: RequestContext, status: int, elapsed: float) -> None:
        """Hand over the usage record of a finished LLM request (no I/O on the request path)."""
        if ctx.audited:
            self.write(usage_record(ctx, self.provider, status, elapsed, self.timestamp()))

    def timestamp(self) -> str:
        """The record's `time`: UTC, ISO 8601 with microseconds and `Z`."""
        return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")

    @abstractmethod
    def write(self, doc: dict[str, Any]) -> None:
        """Store or buffer one record."""

    async def start(self) -> None:
        """Connect and prepare storage (never raises: problems are reported by `status`)."""
        return None

    async def close(self) -> None:
        """Flush what is buffered and release resources (called on SIGTERM)."""
        return None

    def status(self) -> dict[str, object]:
        """What /readyz reports about the sink."""
        return {"backend": self.name, "ok": True, "degraded": False}


class JsonLinesSink(AuditSink):
    """Append-only JSON lines on the provider's own volume, rotated by size (the embedded default)."""

    name = "jsonl"

    def __init__(self, provider: str, path: Path | None, max_bytes: int, backups: int,
                 on_drop: Callable[[], None] | None = None) -> None:
        super().__init__(provider)
        self.path = path
        self._file = RotatingLines(path, max_bytes, backups) if path is not None else None
        self._on_drop = on_drop
        self._error: str | None = None
        self.dropped = 0

    def timestamp(self) -> str:
        """Whole seconds: the file keeps the time format of earlier versions' readers."""
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def write(self, doc: dict[str, Any]) -> None:
        """Append one line."""
        if self._file is None:
            return
        try:
            self._file.write(orjson.dumps(doc) + b"\n")
        except OSError as exc:  # a full or read-only volume must not fail the request: count it, say it once
            self.dropped += 1
            if self._on_drop is not None:
                self._on_drop()
            if self._error is None:
                log.error("audit log write failed: usage records are dropped until it works again",
                          extra={"path": str(self.path), "error_type": type(exc).__name__})
            self._error = f"{type(exc).__name__}: {exc.strerror or exc}"
            return
        if self._error is not None:
            log.warning("audit log writable again", extra={"path": str(self.path), "dropped": self.dropped})
            self._error = None

    async def close(self) -> None:
        """Close the file."""
        if self._file is not None:
            self._file.close()

    def status(self) -> dict[str, object]:
        """Degraded while records cannot be written (counted in llm_gateway_usage_dropped_total)."""
        return {"backend": self.name, "ok": self._error is None, "degraded": self._error is not None,
                "reason": self._error, "dropped": self.dropped}


class RotatingLines:
    """Lines appended to a file rotated by size, named as logging's RotatingFileHandler names its backups.

    `path` holds the newest lines, `path.1` … `path.N` the older files. A line is never split across files.
    One unbuffered write per line (nothing waits in a buffer when the process dies) and the size kept in
    memory: RotatingFileHandler stats the file twice, seeks and formats each record twice per line (~20 µs,
    #18). One writing process per file: GATEWAY_WORKERS gives each worker its own.
    """

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self.path, self.max_bytes, self.backups = path, max_bytes, backups
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self._open()
        self._size = os.fstat(self._file.fileno()).st_size

    def _open(self) -> io.FileIO:
        return io.FileIO(self.path, "a")

    def write(self, line: bytes) -> None:
        """Append `line`, first rotating when it would take the file past `max_bytes`."""
        if self._size and self._size + len(line) > self.max_bytes:
            self._rotate()
        view = memoryview(line)
        while view:  # a regular file takes it whole; a short write (a signal, a full disk) is retried
            written = self._file.write(view)
            if not written:
                raise OSError(errno.ENOSPC, "no byte written", str(self.path))
            view = view[written:]
        self._size += len(line)

    def _rotate(self) -> None:
        self._file.close()
        for n in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{n}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{n + 1}"))
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        self._file = self._open()
        self._size = 0

    def close(self) -> None:
        """Close the file (writes after this raise ValueError)."""
        self._file.close()
