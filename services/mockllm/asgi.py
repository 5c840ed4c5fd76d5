"""Minimal raw-ASGI helpers (raw ASGI lets the mock abort a response half-way)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from mockllm import jsonio

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = dict[bytes, bytes]

JSON = b"application/json"
SSE = b"text/event-stream; charset=utf-8"


def headers_of(scope: Scope) -> Headers:
    """Request headers as a dict with lower-case byte names."""
    return {k.lower(): v for k, v in scope["headers"]}


def header(headers: Headers, name: bytes) -> str | None:
    """One header value decoded as latin-1, or None."""
    v = headers.get(name)
    return None if v is None else v.decode("latin-1")


async def read_body(receive: Receive) -> bytes:
    """Read the whole request body."""
    chunks: list[bytes] = []
    while True:
        msg = await receive()
        if msg["type"] != "http.request":
            break
        chunks.append(msg.get("body", b""))
        if not msg.get("more_body", False):
            break
    return b"".join(chunks)


async def start(
    send: Send,
    status: int,
    content_type: bytes,
    length: int | None = None,
    extra: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Send the response head."""
    hdrs = [(b"content-type", content_type), *extra]
    if length is not None:
        hdrs.append((b"content-length", str(length).encode()))
    await send({"type": "http.response.start", "status": status, "headers": hdrs})


async def chunk(send: Send, data: bytes, more: bool = True) -> None:
    """Send one body chunk."""
    await send({"type": "http.response.body", "body": data, "more_body": more})


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes = JSON,
    extra: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Send a complete response."""
    await start(send, status, content_type, len(body), extra)
    await chunk(send, body, more=False)


async def send_json(send: Send, status: int, obj: Any, extra: Iterable[tuple[bytes, bytes]] = ()) -> None:
    """Send ``obj`` as a JSON response."""
    await send_bytes(send, status, jsonio.dumps(obj), JSON, extra)


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def sleep_or_disconnect(receive: Receive, seconds: float) -> bool:
    """Sleep ``seconds`` unless the client goes away first; return True if it disconnected."""
    if seconds <= 0:
        return False
    watcher = asyncio.ensure_future(_wait_disconnect(receive))
    try:
        done, _ = await asyncio.wait({watcher}, timeout=seconds)
    finally:
        watcher.cancel()
    return watcher in done


def bearer(headers: Headers) -> str | None:
    """Token of an ``Authorization: Bearer <token>`` header, or None."""
    scheme, _, token = (header(headers, b"authorization") or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
