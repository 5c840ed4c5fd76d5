"""Usage audit: one record per LLM request, written by a sink (JSON lines by default, or PostgreSQL).

Records carry who/what/how-much, never a credential and never message content. `record()` runs on the
request path and never does network I/O; sinks that talk to a database buffer and write in the background.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

import orjson

from gateway.context import RequestContext


def usage_record(ctx: RequestContext, provider: str, status: int, elapsed: float) -> dict[str, Any]:
    """The usage record of a finished request (the same fields in every sink)."""
    return {
        "id": ctx.audit_id,  # server-generated, unique per request (the client's X-Request-ID may repeat)
        "time": datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
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
            self.write(usage_record(ctx, self.provider, status, elapsed))

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

    def __init__(self, provider: str, path: Path | None, max_bytes: int, backups: int) -> None:
        super().__init__(provider)
        self.path = path
        self._logger: logging.Logger | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(message)s"))
            logger = logging.getLogger(f"gateway.audit.{provider}.{id(self)}")
            logger.handlers[:] = [handler]
            logger.propagate = False
            logger.setLevel(logging.INFO)
            self._logger = logger

    def write(self, doc: dict[str, Any]) -> None:
        """Append one line (the file keeps the whole-second time format of earlier versions' readers)."""
        if self._logger is not None:
            line = {**doc, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            self._logger.info(orjson.dumps(line).decode())

    async def close(self) -> None:
        """Flush and close the file."""
        if self._logger is not None:
            for handler in self._logger.handlers:
                handler.close()
