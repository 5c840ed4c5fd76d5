"""Request bodies as JSON text that can be passed on: lone UTF-16 surrogates and non-finite numbers are refused.

JSON lets a string escape half of a surrogate pair (`"\\ud800"`); Python's `json` decodes it into a `str`
that no UTF-8 encoder takes, so such a body failed later, in the provider SDK or the limiter's serialiser,
as a fault of the gateway or the upstream. Python's `json` also reads `NaN`, `Infinity` and `-Infinity`,
which are JavaScript, not JSON (RFC 8259 section 6), and turns `1e400` into an infinity: a bounded field then
said "should be less than or equal to 2" of a NaN, and one in a tool's schema reached the provider SDK, whose
encoder refuses it (a 502 blamed on the upstream). Refused at decoding, each is the client's 400
`invalid_json` naming the position. Every other body decodes exactly as FastAPI decodes it (`json.loads`:
integers of any size stay exact). The routes use this through FastAPI's documented custom-Request pattern.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

# A high half not followed by a low half, or a low half not preceded by a high half.
_LONE = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
                   rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}")


class NotJsonNumber(ValueError):
    """A value no JSON number is: NaN, Infinity or -Infinity, or a float literal beyond a double's range."""

    def __init__(self, literal: str, reason: str) -> None:
        super().__init__(f"{literal} {reason}")
        self.literal = literal

    def position(self, text: str) -> int:
        """Where the literal first stands outside a string (and not inside a longer number) in `text`."""
        pattern = re.compile(r'"(?:[^"\\]|\\.)*"|(?<![0-9.eE+-])(' + re.escape(self.literal) + r')(?![0-9.eE+-])',
                             re.DOTALL)
        return next((m.start(1) for m in pattern.finditer(text) if m.group(1)), 0)


def refuse_constant(name: str) -> Any:
    """`parse_constant` for `json`: every value it would be asked for (NaN, Infinity, -Infinity) is not JSON."""
    raise NotJsonNumber(name, "is not a JSON value")


def finite_float(literal: str) -> float:
    """`parse_float` for `json`: a literal that overflows a double (`1e400`) is refused, as orjson refuses it,
    instead of becoming an infinity that no encoder on the way to the provider would write."""
    value = float(literal)
    if math.isinf(value):
        raise NotJsonNumber(literal, "is too large for a double-precision number")
    return value


_DECODER = json.JSONDecoder(parse_constant=refuse_constant, parse_float=finite_float)


def loads(body: bytes) -> Any:
    """`json.loads`, raising `json.JSONDecodeError` for a string (or key) with a lone surrogate, for NaN,
    Infinity or -Infinity, and for a number beyond a double's range."""
    text = body.decode(json.detect_encoding(body), "surrogatepass")  # as `json.loads` decodes bytes
    try:
        document = _DECODER.decode(text)
    except NotJsonNumber as exc:
        raise json.JSONDecodeError(str(exc), text, exc.position(text)) from None
    if b"\\ud" not in body and b"\\uD" not in body:  # no escape of \uD000-\uDFFF: no surrogate (fast path)
        return document
    try:
        json.dumps(document, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        lone = _LONE.search(body)
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
