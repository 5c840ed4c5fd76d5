"""Call an ASGI app in-process, without an HTTP server: the cheapest possible driver for the floor bench."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import ASGIApp, Message


def scope_for(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """An HTTP/1.1 POST scope as uvicorn builds it (loopback client and server)."""
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
            "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
            "state": {}}


async def call(app: ASGIApp, scope: dict[str, Any], body: bytes) -> tuple[int, int]:
    """Send one request; return (status, response body bytes). The client 'leaves' once the body ended."""
    done = asyncio.Event()
    sent = False
    status = 0
    size = 0

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()  # like a server: a disconnect only once the response is complete
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status, size
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                done.set()

    await app({**scope, "headers": list(scope["headers"])}, receive, send)
    done.set()
    return status, size
