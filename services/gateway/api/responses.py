"""A JSON response whose body and headers the route already holds as bytes."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.responses import Response


class JsonBytesResponse(Response):
    """`200 application/json` from a rendered body and raw ASGI headers (lowercase names, latin-1 bytes).

    Starlette's Response takes headers as a str mapping and encodes every name and value again on each
    request (~25 µs of CPU for a response with rate-limit headers, #18); these are sent as given.
    """

    media_type = "application/json"

    def __init__(self, body: bytes, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
        self.status_code = 200
        self.background = None
        self.body = body
        self.raw_headers = [*headers, (b"content-length", b"%d" % len(body)), (b"content-type", b"application/json")]
