"""JSON logs on stdout: one object per line, request id included, never message content."""

from __future__ import annotations

import itertools
import logging
import sys
import time
from typing import Any

import orjson

import catalogue
from gateway import context

_STD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
# A record's own attributes come first in its __dict__ (LogRecord.__init__ sets them), the logger's
# `extra` after them: the formatter looks only past these (every request logs a line, #18).
_OWN_ATTRS = len(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    """Format records as single-line JSON with the extras passed to the logger."""

    def __init__(self) -> None:
        super().__init__()
        self._stamp: tuple[int, str] = (-1, "")  # (second, its text): one object, so never half updated

    def _timestamp(self, created: float, msecs: float) -> str:
        second, text = self._stamp
        if second != int(created):  # strftime once a second, not once a line
            second = int(created)
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._stamp = (second, text)
        return f"{text}.{int(msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": self._timestamp(record.created, record.msecs),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        ctx = context.get()
        if ctx is not None:
            doc["request_id"] = ctx.request_id
        for key, value in itertools.islice(vars(record).items(), _OWN_ATTRS, None):
            if key not in _STD_ATTRS and not key.startswith("_"):
                doc[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            doc["error_type"] = record.exc_info[0].__name__  # the type only: tracebacks may hold secrets
        return orjson.dumps(doc, default=str).decode()


def configure(level: str) -> None:
    """Send all logs (ours, uvicorn's, libraries') through the JSON formatter."""
    # The JSON lines carry none of the record's caller, thread or process fields: skip collecting them
    # (the logging module's documented optimisations; the caller lookup walks the stack on every record).
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # our middleware logs each request once
    sdk_loggers = {name for p in catalogue.providers() for name in p.loggers}
    # httpx2/httpcore2: the OpenAI and Anthropic SDKs' HTTP stack; at INFO they log every upstream request.
    for noisy in ("httpx", "httpcore", "httpx2", "httpcore2", "aiohttp", "hvac", "urllib3", *sorted(sdk_loggers)):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
