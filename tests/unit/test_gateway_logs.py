"""Log configuration: the SDKs' HTTP stacks do not log a line per upstream request."""

from __future__ import annotations

import json
import logging

from gateway import logs


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


def test_the_timestamp_follows_the_clock_across_seconds() -> None:
    formatter = logs.JsonFormatter()
    stamps = [json.loads(formatter.format(_record(t)))["ts"] for t in
              (1796400000.999, 1796400001.0, 1796400001.5, 1796400000.5, 1796486400.001)]
    assert stamps == ["2026-12-04T16:00:00.999Z", "2026-12-04T16:00:01.000Z", "2026-12-04T16:00:01.500Z",
                      "2026-12-04T16:00:00.500Z", "2026-12-05T16:00:00.001Z"]
