"""Anthropic's `ping` events on the Messages relay: passed on as sent, and a silence they fill is not silence.

The upstream is a loopback HTTP server writing Anthropic's wire frames at set times; the gateway side is the
relay as it runs (its SDK client on the adapter's HTTP client, the idle bound of GATEWAY_STREAM_IDLE_TIMEOUT_S).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import pytest

from gateway.api.anthropic_schemas import MessagesRequest
from gateway.config import Settings
from gateway.messages import MessagesRelay
from gateway.providers import create_adapter

IDLE_S = 0.3
Client = Literal["aiohttp", "httpx"]  # GATEWAY_UPSTREAM_HTTP
TEXT = ["Hello", " there"]


def _frame(kind: str, **fields: object) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **fields})}\n\n".encode()


def _frames(pings: int, pause: float) -> list[tuple[float, bytes]]:
    """(pause before, frame): a reply whose text comes `pause` s after `pings` pings, each `pause` s after the last."""
    usage = {"input_tokens": 3, "output_tokens": 2}
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-6", "content": [],
               "stop_reason": None, "stop_sequence": None, "usage": usage}
    deltas = [_frame("content_block_delta", index=0, delta={"type": "text_delta", "text": t}) for t in TEXT]
    return [(0, _frame("message_start", message=message)),
            (0, _frame("content_block_start", index=0, content_block={"type": "text", "text": ""})),
            *[(pause, _frame("ping")) for _ in range(pings)],
            (pause, deltas[0]), (0, deltas[1]),
            (0, _frame("content_block_stop", index=0)),
            (0, _frame("message_delta", delta={"stop_reason": "end_turn", "stop_sequence": None}, usage=usage)),
            (0, _frame("message_stop"))]


@asynccontextmanager
async def _upstream(frames: list[tuple[float, bytes]]) -> AsyncIterator[str]:
    """Serve one SSE reply (`frames`, each after its pause) to every request, until the block exits."""
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                      if line.startswith(b"content-length:"))
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n")
        for pause, frame in frames:
            await asyncio.sleep(pause)
            writer.write(frame)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def _relay(frames: list[tuple[float, bytes]], upstream_http: Client = "aiohttp") -> bytes:
    """What the relay sends its client for one streamed request answered with `frames`."""
    async with _upstream(frames) as url:
        adapter = create_adapter(Settings(provider="anthropic", upstream_base_url=url, stream_idle_timeout_s=IDLE_S,
                                          max_retries=0, upstream_http=upstream_http))
        req = MessagesRequest.model_validate({"model": "claude-sonnet-4-6", "max_tokens": 10, "stream": True,
                                              "messages": [{"role": "user", "content": "hi"}]})
        try:
            return b"".join([part async for part in await MessagesRelay(adapter).stream(
                req, secrets.token_hex(16), "2023-06-01")])
        finally:
            await adapter.aclose()


def _events(sent: bytes) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in sent.decode().split("\n\n")[:-1]:
        kind, data = block.split("\n")
        events.append((kind.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return events


@pytest.mark.parametrize("upstream_http", ["aiohttp", "httpx"])
async def test_pings_are_relayed_in_place_and_keep_a_long_wait_alive(upstream_http: Client) -> None:
    # Four pings IDLE_S / 3 apart: 5/3 of the idle bound without content, never IDLE_S without an event.
    events = _events(await _relay(_frames(4, IDLE_S / 3), upstream_http))
    assert [kind for kind, _ in events] == ["message_start", "content_block_start", *["ping"] * 4,
                                            "content_block_delta", "content_block_delta", "content_block_stop",
                                            "message_delta", "message_stop"]
    assert all(data == {"type": "ping"} for kind, data in events if kind == "ping")
    assert [data["delta"]["text"] for kind, data in events if kind == "content_block_delta"] == TEXT


async def test_the_same_wait_without_pings_is_still_cut_at_the_idle_bound() -> None:
    events = _events(await _relay(_frames(0, IDLE_S * 5 / 3)))
    assert [kind for kind, _ in events] == ["message_start", "content_block_start", "error"]
    assert events[-1][1]["error"]["type"] == "timeout_error"
