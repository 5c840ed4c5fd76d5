"""Usage audit: one JSON line per LLM request, on the provider's own volume, rotated by size.

Records carry who/what/how-much, never a credential and never message content.
"""

from __future__ import annotations

import logging
import time
from logging.handlers import RotatingFileHandler
from pathlib import Path

import orjson

from gateway.context import RequestContext


class AuditLog:
    """Append-only usage records for one provider service."""

    def __init__(self, provider: str, path: Path | None, max_bytes: int, backups: int) -> None:
        self.provider = provider
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

    def record(self, ctx: RequestContext, status: int, elapsed: float) -> None:
        """Append the usage record of a finished request."""
        if self._logger is None or not ctx.audited:
            return
        doc = {
            "id": ctx.audit_id,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "request_id": ctx.request_id,
            "client_id": ctx.client_id,
            "auth_method": ctx.auth_method,
            "provider": self.provider,
            "route": ctx.route,
            "model": ctx.model,
            "status": status,
            "latency_ms": round(elapsed * 1000, 1),
            "prompt_tokens": ctx.prompt_tokens,
            "completion_tokens": ctx.completion_tokens,
            "streamed": ctx.streamed,
            "error": ctx.error_code,
        }
        self._logger.info(orjson.dumps(doc).decode())

    def close(self) -> None:
        """Flush and close the file."""
        if self._logger is not None:
            for handler in self._logger.handlers:
                handler.close()
