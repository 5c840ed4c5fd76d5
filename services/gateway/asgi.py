"""Outermost ASGI middleware: request id, body-size limit, access log, metrics, audit.

Written as plain ASGI (not BaseHTTPMiddleware) so streaming responses pass through
untouched and the per-request cost stays a few microseconds.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import context, logs
from gateway.api import direct
from gateway.api.deps import authenticate
from gateway.context import RequestContext
from gateway.errors import GatewayError, PayloadTooLargeError, error_response

if TYPE_CHECKING:
    from gateway.runtime import Runtime

log = logs.HotLogger(logging.getLogger("gateway.access"))
VERIFY_PATH = "/v1/auth/verify"
_VALID_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")


class GatewayMiddleware:
    """Wraps every HTTP request with the cross-cutting concerns listed above."""

    def __init__(self, app: ASGIApp, runtime: Runtime,
                 direct_routes: dict[str, direct.DirectRoute] | None = None) -> None:
        self.app = app
        self.runtime = runtime
        self.max_body = runtime.settings.max_body_bytes
        self.direct = direct_routes or {}  # served past FastAPI's routing (gateway/api/direct.py)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw_id = headers.get(b"x-request-id", b"")
        request_id = raw_id.decode() if _VALID_ID.match(raw_id) else secrets.token_hex(16)  # 128 random bits
        # The route label comes from the path, so a failure before the handler runs (authentication, a missing
        # provider key) is counted under the route the client called, not "other".
        ctx = RequestContext(request_id=request_id, method=scope["method"], path=scope["path"],
                             route=context.route_of(scope["path"]))
        token = context.current.set(ctx)
        status = 500
        started = False
        id_header = (b"x-request-id", request_id.encode())
        # Anthropic's clients (anthropic-version on every call) read the id from `request-id`: the SDK's
        # `message._request_id` and `APIStatusError.request_id`. The edge adds it by the same rule.
        id_headers = [id_header, (b"request-id", id_header[1])] if b"anthropic-version" in headers else [id_header]
        # A scrape or a probe is not work in flight: counting it would keep the gauge at 1 or more when idle.
        in_flight = ctx.route not in context.PROBE_ROUTES
        if in_flight:
            self.runtime.metrics.started()
        try:
            declared = headers.get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_body:
                response = error_response(PayloadTooLargeError(f"request body exceeds {self.max_body} bytes"),
                                          {k.decode(): v.decode() for k, v in id_headers})
                status = 413
                await response(scope, receive, send)
                return

            if scope["path"] == VERIFY_PATH:
                status = await self._verify(ctx, scope, receive, send, id_header)
                return

            async def send_last(message: Message) -> None:
                self._finish(ctx, status)  # the audit record and the metrics exist before the client has it all
                await send(message)
                self._log(ctx)  # the access log after: the client does not wait for a log write

            # Not a coroutine function: it returns the server's own `send(message)` to await, so a streamed
            # chunk passes through without one more coroutine per chunk (#18).
            def send_wrapper(message: Message) -> Awaitable[None]:
                nonlocal status, started
                if message["type"] == "http.response.start":
                    status, started = message["status"], True
                    message["headers"] = [*message.get("headers", []), *id_headers]
                elif message["type"] == "http.response.body" and not message.get("more_body", False):
                    return send_last(message)
                return send(message)

            route = self.direct.get(scope["path"]) if scope["method"] == "POST" else None
            if route is not None:
                limited = self._limited(receive)
                response = await direct.serve(route, self.app, scope, limited, send_wrapper)
                if response is not None:
                    await response(scope, limited, send_wrapper)
            else:
                await self.app(scope, self._limited(receive), send_wrapper)
        finally:
            if in_flight:
                self.runtime.metrics.ended()
            if not ctx.finished:  # cut short: 499 when the client left mid-response (nginx's convention)
                self._finish(ctx, 499 if started else status)
            self._log(ctx)
            context.current.reset(token)

    async def _verify(self, ctx: RequestContext, scope: Scope, receive: Receive, send: Send,
                      id_header: tuple[bytes, bytes]) -> int:
        """Answer nginx's auth_request directly: it runs once per edge request, so it skips FastAPI."""
        ctx.route = "verify"
        try:
            principal = authenticate(self.runtime, scope["headers"])
        except GatewayError as exc:
            ctx.error_code = exc.code
            # auth_request drops the body: the code travels in a header so the edge can pass it on.
            response = error_response(exc, {"X-Error-Code": exc.code, "x-request-id": ctx.request_id})
            await response(scope, receive, send)
            self._finish(ctx, exc.status)
            return exc.status
        await send({"type": "http.response.start", "status": 204, "headers": [
            (b"x-client-id", principal.client_id.encode()), (b"x-auth-method", principal.method.encode()),
            id_header]})
        await send({"type": "http.response.body", "body": b""})
        self._finish(ctx, 204)
        return 204

    def _limited(self, receive: Receive) -> Receive:
        seen = 0

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise PayloadTooLargeError(f"request body exceeds {self.max_body} bytes")
            return message

        return wrapped

    def _finish(self, ctx: RequestContext, status: int) -> None:
        """The request's metrics and audit record, once; its status and latency are kept for the access log."""
        if ctx.finished:
            return
        ctx.finished = True
        if ctx.failed_status and status == 200:  # its 200 went out, then an error event: the outcome is the error's
            status = ctx.failed_status
        ctx.status, ctx.elapsed = status, time.perf_counter() - ctx.started
        rt = self.runtime
        rt.metrics.observe(ctx, status, ctx.elapsed)
        rt.audit.record(ctx, status, ctx.elapsed)

    def _log(self, ctx: RequestContext) -> None:
        """The access log line of a finished request, once."""
        if ctx.logged or not ctx.finished:
            return
        ctx.logged = True
        status = ctx.status
        quiet = ctx.route in ("healthz", "metrics") or (ctx.route == "verify" and status < 400)
        if not quiet:  # a passed verify is logged with the request it guards
            log.info("request", {
                "method": ctx.method, "path": ctx.path, "status": status,
                "latency_ms": round(ctx.elapsed * 1000, 2), "client_id": ctx.client_id,
                "auth_method": ctx.auth_method, "model": ctx.model, "streamed": ctx.streamed,
                "prompt_tokens": ctx.prompt_tokens, "completion_tokens": ctx.completion_tokens,
                "error": ctx.error_code,
                **({"status_sent": 200} if ctx.failed_status and status == ctx.failed_status else {}),
            })
