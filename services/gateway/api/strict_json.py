"""Request bodies as JSON text that can be passed on: a string holding a lone UTF-16 surrogate is refused.

JSON lets a string escape half of a surrogate pair (`"\\ud800"`); Python's `json` decodes it into a `str`
that no UTF-8 encoder takes, so such a body failed later, in the provider SDK or the limiter's serialiser,
as a fault of the gateway or the upstream. Refused at decoding, it is the client's 400 `invalid_json`
naming the position. Every other body decodes exactly as FastAPI decodes it (`json.loads`: integers of any
size stay exact). The routes use this through FastAPI's documented custom-Request pattern.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

# A high half not followed by a low half, or a low half not preceded by a high half.
_LONE = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
                   rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}")


def loads(body: bytes) -> Any:
    """`json.loads`, raising `json.JSONDecodeError` for a string (or key) with a lone surrogate."""
    document = json.loads(body)
    if b"\\ud" not in body and b"\\uD" not in body:  # no escape of \uD000-\uDFFF: no surrogate (fast path)
        return document
    try:
        json.dumps(document, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        lone = _LONE.search(body)
        text = body.decode()
        pos = len(body[:lone.start()].decode()) if lone else 0
        raise json.JSONDecodeError("lone UTF-16 surrogate escape in a string (not Unicode text)", text, pos) from None
    return document


class StrictJsonRequest(Request):
    """A request whose `json()` is `loads` above."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json


class StrictJsonRoute(APIRoute):
    """An APIRoute that decodes its JSON body with `loads`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return handle
