"""Per-request facts shared by the route, the logs, the metrics and the audit record."""

from __future__ import annotations

import secrets
import time
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass(slots=True)
class RequestContext:
    """What is known about the request in flight; filled in as it progresses."""

    request_id: str  # correlation id: the edge's, which may come from the client's X-Request-ID
    method: str
    path: str
    # The audit record's own id: always generated here, so a client cannot choose or collide it.
    # 128 random bits as 32 hex digits, like a uuid4 hex without building a UUID object (on every request).
    audit_id: str = field(default_factory=lambda: secrets.token_hex(16))
    started: float = field(default_factory=time.perf_counter)
    route: str = "other"
    client_id: str | None = None
    auth_method: str | None = None
    model: str | None = None
    streamed: bool = False
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error_code: str | None = None
    # A stream that failed after its 200 went out (an error event ended it): the status its error has unstreamed,
    # which the metrics, audit record and access log give as the request's outcome (0: none).
    failed_status: int = 0
    # Refused by the gateway's own client limits (a 429): not the provider's throttling, which the metrics count
    limited: bool = False
    audited: bool = False
    finished: bool = False  # metrics and audit record written (GatewayMiddleware._finish)
    status: int = 0  # the status they recorded
    elapsed: float = 0.0  # seconds from the request's start to that point
    logged: bool = False  # access log line written (after the response's last byte)


# The route label of each path, set before anything can fail (a 503 raised during authentication is still "chat");
# the handlers set the same names. Anything else is "other".
_ROUTES = {
    "/v1/chat/completions": "chat", "/v1/agent": "agent", "/v1/messages": "messages",
    "/v1/messages/count_tokens": "count_tokens", "/v1/embeddings": "embeddings", "/v1/models": "models",
    "/v1/auth/verify": "verify", "/healthz": "healthz", "/readyz": "readyz", "/readyz/public": "readyz",
    "/metrics": "metrics",
}
# Routes that are the platform looking at the gateway, not work it does (left out of the in-flight gauge).
PROBE_ROUTES = frozenset({"healthz", "readyz", "metrics"})


def route_of(path: str) -> str:
    """The `route` label of a request path: the route that serves it, or "other"."""
    route = _ROUTES.get(path)
    if route is None and path.startswith("/v1/models/"):
        return "models"
    return route or "other"


current: ContextVar[RequestContext | None] = ContextVar("gateway_request", default=None)


def get() -> RequestContext | None:
    """Return the context of the request being handled, if any."""
    return current.get()


def require() -> RequestContext:
    """Return the context of the request being handled; the middleware always sets one for a route."""
    ctx = current.get()
    if ctx is None:
        raise RuntimeError("no request context: the route ran outside GatewayMiddleware")
    return ctx


def stream_failed(code: str, status: int) -> None:
    """Note that the stream being served ended in an error event: its code, and the status that error has when it
    is answered before the stream starts (a 5xx counts as one in the error-rate alert, not as a 200)."""
    ctx = current.get()
    if ctx is not None:
        ctx.error_code, ctx.failed_status = code, status
