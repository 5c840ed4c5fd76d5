"""JsonBytesResponse: the same status, headers and body as Starlette's Response for a rendered JSON body."""

from __future__ import annotations

import orjson
import pytest
from starlette.responses import Response
from starlette.types import Message

from gateway.api.responses import JsonBytesResponse
from gateway.limits import enforce
from gateway.limits.base import Limits, Reservation, Windows


async def _sent(response: Response) -> list[Message]:
    messages: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        messages.append(message)

    await response({"type": "http", "method": "POST", "path": "/"}, receive, send)
    return messages


@pytest.mark.parametrize("limits", [None, Limits(rpm=60), Limits(rpm=60, tpm=1000), Limits(daily_tokens=5)])
async def test_it_sends_what_starlettes_response_sends(limits: Limits | None) -> None:
    body = orjson.dumps({"id": "chatcmpl-1", "choices": [{"message": {"content": "h\u00e9llo"}}]})
    res = None if limits is None else Reservation("c", limits, 10, 1_800_000_030.0, Windows.at(1_800_000_030.0))
    raw = enforce.headers(res)
    expected = Response(body, media_type="application/json",
                        headers={name.decode(): value.decode() for name, value in raw})
    assert await _sent(JsonBytesResponse(body, raw)) == await _sent(expected)


def test_its_headers_read_like_starlettes() -> None:
    response = JsonBytesResponse(b"{}", [(b"x-ratelimit-limit-requests", b"60")])
    assert response.headers["content-length"] == "2" and response.headers["content-type"] == "application/json"
    assert response.headers["x-ratelimit-limit-requests"] == "60"
