"""The Messages relay's stream: a failure of the upstream is the upstream's error event, one of the gateway's own
is `api_error` "the gateway failed" (logged by type and place), never blamed on the provider."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, cast

import anthropic
import orjson
import pytest

from gateway.config import Settings
from gateway.messages import MessagesRelay
from gateway.providers import create_adapter


class Upstream:
    """Quacks like the SDK's AsyncStream: yields the events, then raises `error` if given."""

    def __init__(self, events: list[Any], error: Exception | None = None) -> None:
        self.events, self.error, self.closed = events, error, False

    async def __aiter__(self) -> AsyncIterator[Any]:
        for event in self.events:
            yield event
        if self.error is not None:
            raise self.error

    async def close(self) -> None:
        self.closed = True


def _event(kind: str, broken: bool = False) -> Any:
    def to_dict(mode: str) -> dict[str, Any]:
        if broken:
            raise KeyError("a bug of the gateway's rendering")
        return {"type": kind}

    return SimpleNamespace(type=kind, to_dict=to_dict)


async def _errors(upstream: Upstream) -> list[dict[str, Any]]:
    relay = MessagesRelay(create_adapter(Settings(provider="anthropic")))
    frames = [frame async for frame in relay._events(cast(anthropic.AsyncStream[Any], upstream))]  # the fake above
    assert upstream.closed
    events = [event for frame in frames for event in frame.split(b"\n\n") if event]  # a frame may hold several
    return [orjson.loads(e.split(b"data: ", 1)[1]) for e in events if e.startswith(b"event: error")]


async def test_a_fault_of_the_gateway_mid_stream_is_its_own(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="gateway"):
        errors = await _errors(Upstream([_event("ping"), _event("content_block_delta", broken=True)]))
    assert [e["error"]["type"] for e in errors] == ["api_error"]
    assert errors[0]["error"]["message"].startswith("the gateway failed to handle this request")
    assert [r.exc_info[0] for r in caplog.records if r.getMessage() == "unhandled error" and r.exc_info] == [KeyError]


async def test_what_the_upstream_raises_mid_stream_stays_the_upstreams() -> None:
    errors = await _errors(Upstream([_event("ping")], error=KeyError("choices")))
    assert [e["error"]["message"] for e in errors] == ["upstream call failed (KeyError)"]
