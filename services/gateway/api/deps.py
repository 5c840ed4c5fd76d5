"""FastAPI dependencies as `Annotated` aliases."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from fastapi import Depends, Request

from gateway import context
from gateway.auth.authenticator import Principal, credential_headers
from gateway.errors import (
    AuthenticationError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitedError,
    UnknownModelError,
)
from gateway.limits import Reservation, enforce
from gateway.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    """Return the process runtime stored on the app."""
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


# Dependencies are `async def` on purpose: FastAPI runs plain `def` dependencies in a worker
# thread, two thread hops per request for work that never blocks.
# The credential headers are read from the request, not declared as `Header` parameters: they stay out of
# the OpenAPI document either way, and FastAPI validates declared parameters one by one on every request.
async def require_client(request: Request) -> Principal:
    """Authenticate the caller for this provider (401/403), recording who it is."""
    return authenticate(request.app.state.runtime, request.scope["headers"])


def authenticate(runtime: Runtime, raw_headers: Iterable[tuple[bytes, bytes]]) -> Principal:
    """Check the request's credential, count failures by reason, and record the client on the request context."""
    try:
        principal = runtime.authenticator.authenticate(*credential_headers(raw_headers))
    except (AuthenticationError, PermissionDeniedError) as exc:
        # Only a refused credential, by its code (invalid_api_key, provider_not_allowed, insufficient_scope...);
        # a 503 of the backend (a stale client registry) is an outage, not a credential failure.
        runtime.metrics.auth_failures.labels(runtime.settings.provider, exc.code).inc()
        raise
    ctx = context.get()
    if ctx is not None:
        ctx.client_id, ctx.auth_method = principal.client_id, principal.method
    return principal


ClientDep = Annotated[Principal, Depends(require_client)]


def resolve_model(runtime: Runtime, requested: str | None) -> str:
    """Return the model to use, defaulting to the first allowed one; 404 when not allowed."""
    allowed = runtime.adapter.models
    model = requested or allowed[0]
    if model not in allowed:
        raise unknown_model(runtime, model)
    ctx = context.get()
    if ctx is not None:
        ctx.model = model
    return model


def unknown_model(runtime: Runtime, model: str) -> UnknownModelError:
    """The 404 for a model outside this gateway's allowlist, naming the allowed ones."""
    allowed = ", ".join(runtime.adapter.models)
    return UnknownModelError(f"model '{model}' is not available on this gateway; allowed: {allowed}", param="model")


async def admit(runtime: Runtime, client: Principal, texts: list[str], max_tokens: int | None, *,
                prompt_tokens: int | None = None) -> Reservation | None:
    """Reserve this request under the client's limits (429 when refused, counted by limit): the prompt's tokens
    estimated from `texts`, plus `prompt_tokens` counted already (an input of token ids)."""
    default_completion = runtime.settings.limits_default_completion_tokens
    estimate = enforce.estimate_tokens(texts, max_tokens, default_completion) + (prompt_tokens or 0)
    try:
        return await enforce.admit(runtime.limiter, client.client_id, client.limits, estimate)
    except (RateLimitedError, QuotaExceededError) as exc:
        runtime.metrics.limited.labels(runtime.settings.provider, exc.code).inc()
        raise
