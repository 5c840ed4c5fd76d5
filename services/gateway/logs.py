"""JSON logs on stdout: one object per line, request id included, never message content."""

from __future__ import annotations

import itertools
import logging
import sys
import time
from types import TracebackType
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

    def timestamp(self, created: float, msecs: float) -> str:
        second, text = self._stamp
        if second != int(created):  # strftime once a second, not once a line
            second = int(created)
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._stamp = (second, text)
        return f"{text}.{int(msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": self.timestamp(record.created, record.msecs),
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
            # The type and where it was raised, never the message: messages and locals may hold secrets.
            doc["error_type"] = record.exc_info[0].__name__
            if record.exc_info[2] is not None:
                doc["error_at"] = raised_at(record.exc_info[2])
        return orjson.dumps(doc, default=str).decode()


def raised_at(tb: TracebackType) -> str:
    """`module:line in function` of the innermost frame of a traceback."""
    while tb.tb_next is not None:
        tb = tb.tb_next
    frame = tb.tb_frame
    return f"{frame.f_globals.get('__name__', '?')}:{tb.tb_lineno} in {frame.f_code.co_name}"


class JsonLineHandler(logging.StreamHandler):
    """The stream handler `configure` installs: what lets `HotLogger` know where the lines go."""


class HotLogger:
    """A logger's INFO lines on the request path (the access log: one line a request).

    While its records would reach nothing but the JSON handler `configure` installed (no other handler,
    no filter on the way), `info` writes that handler the line `logger.info(msg, extra=fields)` gives it,
    byte for byte, without building a LogRecord and passing it down the chain (#18: ~70k of the access
    log's ~90k instructions a request). Any other arrangement — a handler a test or an embedding app
    added, a filter, a level — gets the logging module's own path.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def _handler(self) -> tuple[JsonLineHandler, JsonFormatter] | None:
        """The one handler every record of the logger reaches and its formatter, if both are ours and nothing
        filters on the way."""
        # Walked on each call: a logger created later (say "gateway") becomes the parent of this one.
        node = self.logger
        while node.parent is not None:
            if node.handlers or node.filters or not node.propagate:
                return None
            node = node.parent
        handlers = node.handlers
        if len(handlers) != 1 or node.filters:
            return None
        handler = handlers[0]
        formatter = handler.formatter
        if (type(handler) is not JsonLineHandler or handler.filters or handler.level > logging.INFO
                or type(formatter) is not JsonFormatter):
            return None
        return handler, formatter

    def info(self, msg: str, fields: dict[str, Any]) -> None:
        logger = self.logger
        if not logger.isEnabledFor(logging.INFO):
            return
        ours = self._handler()
        if ours is None:
            logger.info(msg, extra=fields)
            return
        handler, formatter = ours
        created = time.time()  # as LogRecord takes it
        doc: dict[str, Any] = {"ts": formatter.timestamp(created, (created - int(created)) * 1000),
                               "level": "info", "logger": logger.name, "msg": msg}
        ctx = context.get()
        if ctx is not None:
            doc["request_id"] = ctx.request_id
        doc.update(fields)
        line = orjson.dumps(doc, default=str).decode() + handler.terminator
        handler.acquire()
        try:
            handler.stream.write(line)
            handler.flush()
        except Exception:  # noqa: BLE001 — a broken stream: reported as StreamHandler.emit reports it
            handler.handleError(logger.makeRecord(logger.name, logging.INFO, "(unknown file)", 0, msg, (), None,
                                                  extra=fields))
        finally:
            handler.release()


def configure(level: str) -> None:
    """Send all logs (ours, uvicorn's, libraries') through the JSON formatter."""
    # The JSON lines carry none of the record's caller, thread or process fields: skip collecting them
    # (the logging module's documented optimisations; the caller lookup walks the stack on every record).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = JsonLineHandler(sys.stdout)
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
