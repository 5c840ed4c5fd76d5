"""Log configuration: the SDKs' HTTP stacks do not log a line per upstream request."""

from __future__ import annotations

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
