"""Log configuration: the SDKs' HTTP stacks do not log a line per upstream request."""

from __future__ import annotations

import io
import json
import logging
import sys
import time
from collections.abc import Iterator
from typing import NoReturn

import pytest

from gateway import context, logs


def test_http_client_loggers_stay_at_warning_under_info() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.configure("info")
        for name in ("httpx", "httpcore", "httpx2", "httpcore2", "aiohttp"):
            assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
        assert logging.getLogger("gateway").isEnabledFor(logging.INFO)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def _record(created: float, **extra: object) -> logging.LogRecord:
    record = logging.getLogger("gateway.access").makeRecord("gateway.access", logging.INFO, "(unknown file)", 0,
                                                            "request %s", ("sent",), None, extra=extra)
    record.created, record.msecs = created, round((created - int(created)) * 1000, 3)
    return record


def test_a_line_carries_the_extras_and_none_of_the_record_internals() -> None:
    line = json.loads(logs.JsonFormatter().format(_record(1796400000.25, status=200, client_id="c1", error=None)))
    assert line == {"ts": "2026-12-04T16:00:00.250Z", "level": "info", "logger": "gateway.access",
                    "msg": "request sent", "status": 200, "client_id": "c1", "error": None}


def test_attributes_set_after_the_extras_are_still_filtered() -> None:
    record = _record(1796400000.0, model="m")
    record.message, record.asctime, record._private = "x", "y", "z"  # what other formatters and filters add
    record.added_by_a_filter = 1
    record.__dict__[""] = "odd but kept"  # `extra` may carry any key
    line = json.loads(logs.JsonFormatter().format(record))
    assert {k: line[k] for k in ("model", "added_by_a_filter", "")} == {"model": "m", "added_by_a_filter": 1,
                                                                         "": "odd but kept"}
    assert not {"message", "asctime", "_private", "args", "levelno", "created"} & set(line)


def _fails() -> NoReturn:
    raise KeyError("sk-a-secret-in-the-message")


def test_an_exception_is_logged_by_type_and_place_never_by_message() -> None:
    try:
        _fails()
    except KeyError:
        record = logging.getLogger("gateway").makeRecord("gateway", logging.ERROR, "(unknown file)", 0,
                                                         "unhandled error", (), sys.exc_info())
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["error_type"] == "KeyError"
    assert line["error_at"] == f"{__name__}:{_fails.__code__.co_firstlineno + 1} in _fails"  # the innermost frame
    assert "sk-a-secret" not in json.dumps(line)


def test_the_timestamp_follows_the_clock_across_seconds() -> None:
    formatter = logs.JsonFormatter()
    stamps = [json.loads(formatter.format(_record(t)))["ts"] for t in
              (1796400000.999, 1796400001.0, 1796400001.5, 1796400000.5, 1796486400.001)]
    assert stamps == ["2026-12-04T16:00:00.999Z", "2026-12-04T16:00:01.000Z", "2026-12-04T16:00:01.500Z",
                      "2026-12-04T16:00:00.500Z", "2026-12-05T16:00:00.001Z"]


@pytest.fixture
def stdout_lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """`logs.configure` as the gateway runs it, its handler writing to a buffer; the clock fixed."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stdout", buffer)
    monkeypatch.setattr(time, "time", lambda: 1796400000.25)
    try:
        logs.configure("info")
        yield buffer
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def only_the_gateways_handler() -> None:
    """Take out the capture handlers pytest adds to the root logger around each test's call."""
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if isinstance(h, logs.JsonLineHandler)]


FIELDS = {"method": "POST", "path": "/v1/chat/completions", "status": 200, "latency_ms": 1.25,
          "client_id": "c1", "model": None, "streamed": False, "error": None}


def test_a_hot_line_is_the_line_the_logging_module_writes(
        stdout_lines: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    only_the_gateways_handler()
    logger = logging.getLogger("gateway.access")
    token = context.current.set(context.RequestContext(request_id="rid-1", method="POST", path="/"))
    try:
        with monkeypatch.context() as m:
            m.setattr(logger, "makeRecord", None)  # the hot path builds no record
            logs.HotLogger(logger).info("request", dict(FIELDS))
        logger.info("request", extra=dict(FIELDS))
    finally:
        context.current.reset(token)
    hot, slow = stdout_lines.getvalue().splitlines()
    assert hot == slow
    assert json.loads(hot) == {"ts": "2026-12-04T16:00:00.250Z", "level": "info", "logger": "gateway.access",
                               "msg": "request", "request_id": "rid-1", **FIELDS}


class Capture(logging.Handler):
    """A handler that keeps every record it is handed."""

    def __init__(self, seen: list[logging.LogRecord]) -> None:
        super().__init__()
        self.seen = seen

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(record)


def test_a_handler_or_filter_on_the_way_gets_the_logging_modules_own_path(stdout_lines: io.StringIO) -> None:
    only_the_gateways_handler()
    logger = logging.getLogger("gateway.access")
    seen: list[logging.LogRecord] = []
    capture = Capture(seen)
    logger.addHandler(capture)
    try:
        logs.HotLogger(logger).info("request", dict(FIELDS))
    finally:
        logger.removeHandler(capture)
    # `status`, passed as `extra=`, is an attribute of the record that LogRecord's type does not declare.
    assert [(r.getMessage(), r.status) for r in seen] == [  # pyright: ignore[reportAttributeAccessIssue]
        ("request", 200)]
    assert len(stdout_lines.getvalue().splitlines()) == 1  # and, propagated, the root's line once

    refuse_all = logging.Filter("elsewhere")
    logging.getLogger("gateway").addFilter(refuse_all)  # alone, it would not apply to a propagated record
    logger.addFilter(refuse_all)
    try:
        logs.HotLogger(logger).info("request", dict(FIELDS))
    finally:
        logger.removeFilter(refuse_all)
        logging.getLogger("gateway").removeFilter(refuse_all)
    assert len(stdout_lines.getvalue().splitlines()) == 1


def test_a_level_above_info_or_a_disabled_logger_writes_nothing(stdout_lines: io.StringIO) -> None:
    only_the_gateways_handler()
    logger = logging.getLogger("gateway.access")
    logging.getLogger().setLevel(logging.WARNING)
    logs.HotLogger(logger).info("request", dict(FIELDS))
    logging.getLogger().setLevel(logging.INFO)
    logger.disabled = True
    try:
        logs.HotLogger(logger).info("request", dict(FIELDS))
    finally:
        logger.disabled = False
    assert stdout_lines.getvalue() == ""


def test_a_broken_stream_is_reported_as_the_logging_module_reports_it(
        stdout_lines: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    only_the_gateways_handler()
    reported: list[logging.LogRecord] = []
    handler = logging.getLogger().handlers[0]
    monkeypatch.setattr(handler, "handleError", reported.append)
    stdout_lines.close()  # writing raises ValueError
    logs.HotLogger(logging.getLogger("gateway.access")).info("request", dict(FIELDS))
    # `status`, passed as `extra=`, is an attribute of the record that LogRecord's type does not declare.
    assert [(r.getMessage(), r.status) for r in reported] == [  # pyright: ignore[reportAttributeAccessIssue]
        ("request", 200)]


def test_a_parent_logger_created_later_is_on_the_way(stdout_lines: io.StringIO) -> None:
    only_the_gateways_handler()
    hot = logs.HotLogger(logging.getLogger("hotlogger_test.access"))  # its parent does not exist yet
    seen: list[logging.LogRecord] = []
    capture = Capture(seen)
    parent = logging.getLogger("hotlogger_test")
    parent.addHandler(capture)
    try:
        hot.info("request", dict(FIELDS))
    finally:
        parent.removeHandler(capture)
    assert [r.getMessage() for r in seen] == ["request"]
    assert len(stdout_lines.getvalue().splitlines()) == 1
