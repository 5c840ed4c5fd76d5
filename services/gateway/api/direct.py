"""Direct dispatch of the hot routes (POST /v1/chat/completions) past FastAPI's per-request machinery.

FastAPI spends ~125 µs CPU per request matching routes, solving dependencies and parsing the body
(measured for #18: more than the gateway's auth, limits, audit and metrics together). For a request
with an `application/json` body that parses and validates, `serve` calls the same endpoint function
with what FastAPI would have resolved for it: the validated body, the runtime, the authenticated
client, the request. Every other request — another route or method, another content type, a body
that is not JSON, holds a number orjson would round, or fails validation — goes to FastAPI unchanged,
its body replayed, so each error keeps FastAPI's exact answer; the route and its OpenAPI document stay
FastAPI's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pydantic
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.deps import require_client

Endpoint = Callable[..., Awaitable[Response]]
# orjson reads an integer beyond 64 bits as a float; FastAPI's reader (json.loads) keeps it exact (a bound in a
# tool's schema, a seed). Every such integer has 20 digits or more: a body holding such a run (in a string too,
# a cheap over-approximation) takes FastAPI's path. Found as a run of "0"s in the body with every digit mapped to
# "0" and every other byte to " " (~0.4 us for a 400-byte body; a regular expression takes ~3 us).
_DIGITS_AS_ZEROS = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_RUN = b"0" * 20


def _has_long_number(body: bytes | bytearray) -> bool:
    return _LONG_RUN in body.translate(_DIGITS_AS_ZEROS)


@dataclass(frozen=True)
class DirectRoute:
    """A POST route whose endpoint takes `req` (the body model), `runtime`, `client` and `request`."""

    path: str
    body: type[pydantic.BaseModel]
    endpoint: Endpoint


def table(*routes: DirectRoute) -> dict[str, DirectRoute]:
    """Routes by path, for GatewayMiddleware."""
    return {route.path: route for route in routes}


async def serve(route: DirectRoute, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> Response | None:
    """Answer one request for `route` directly, or hand it to `app` (FastAPI) as it came.

    The endpoint's response is returned, not sent: the caller sends it (`response(scope, receive, send)`), so a
    stream's every chunk does not resume this coroutine's frame too (#18). None: the request was answered here.
    """
    received: list[Message] = []
    body = bytearray()
    try:
        while True:  # the body, as Starlette reads it
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
    except Exception as exc:  # noqa: BLE001 - e.g. a body past the size limit (413); unhandled ones re-raise
        await _answer_error(Request(scope, receive), exc, scope, receive, send)
        return None
    replayed = _replay(received, receive)
    if received[-1]["type"] != "http.request" or not _is_json(scope) or _has_long_number(body):
        await app(scope, replayed, send)
        return None
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        await app(scope, replayed, send)
        return None
    try:
        req = route.body.model_validate(document)
    except pydantic.ValidationError:  # FastAPI checks the credential first, then answers the validation error
        await app(scope, replayed, send)
        return None
    request = Request(scope, replayed)
    try:
        client = await require_client(request)
        await request.body()  # the replayed body: later `request.receive()` calls are the client's own
        response = await route.endpoint(req=req, runtime=scope["app"].state.runtime, client=client,
                                        request=request)
    except Exception as exc:  # noqa: BLE001 - answered by FastAPI's handler for it, or re-raised
        await _answer_error(request, exc, scope, receive, send)
        return None
    return response


async def _answer_error(request: Request, exc: Exception, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer as FastAPI would: the handler its ExceptionMiddleware picks or, for any other exception, the
    app's `Exception` handler, which its ServerErrorMiddleware calls before re-raising for the server's log."""
    app = scope["app"]
    handler = _handler(app, exc)
    if handler is not None:
        await (await handler(request, exc))(scope, receive, send)
        return
    fallback = app.exception_handlers.get(500) or app.exception_handlers.get(Exception)
    if fallback is not None:
        await (await fallback(request, exc))(scope, receive, send)
    raise exc


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.partition(b";")[0].strip().lower() == b"application/json"
    return False


def _replay(received: list[Message], receive: Receive) -> Receive:
    """A receive that returns the messages already read, then the client's own."""
    pending = list(received)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


def _handler(app: Any, exc: Exception) -> Callable[[Request, Exception], Awaitable[Response]] | None:
    """The exception handler FastAPI's ExceptionMiddleware would pick (the catch-all `Exception` is not one)."""
    handlers = app.exception_handlers
    for cls in type(exc).__mro__:
        if cls is Exception:
            return None
        if cls in handlers:
            return handlers[cls]
    return None
