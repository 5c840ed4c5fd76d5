"""The app factory: `create_app(settings)` wires runtime, routes, middleware and error handling."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway import context, gc_tuning, logs, multiproc
from gateway.api import direct
from gateway.api.chat_request import NOT_SERVED, NOT_SERVED_PARTS
from gateway.api.embeddings_schemas import TOKEN_FORMS
from gateway.api.routes import agent, chat, embeddings, health, models
from gateway.api.schemas import ErrorBody
from gateway.asgi import GatewayMiddleware
from gateway.auth.jwt import REFRESH_ERRORS
from gateway.chat.params import document_refusals, output_maximum
from gateway.config import ConfigError, Settings, exit_on_config_error, load_settings
from gateway.errors import (
    NOT_SERVED_ERROR,
    GatewayError,
    InvalidRequestError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    ValidationFailedError,
    error_field,
    error_response,
    fault,
    invalid_json,
    telling_error,
)
from gateway.limits import enforce
from gateway.providers.base import ProviderAdapter
from gateway.runtime import Runtime, build_runtime
from gateway.secrets.base import SecretsBackend, SecretsError

log = logging.getLogger("gateway")

_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody, "description": desc} for code, desc in {
    400: "invalid request", 401: "missing or invalid credentials", 403: "credential not allowed here",
    404: "unknown model or route", 413: "body too large", 422: "request failed validation",
    429: "rate limited (Retry-After)", 502: "upstream error", 503: "unavailable", 504: "upstream timeout",
}.items()}


class GatewayApp(FastAPI):
    """FastAPI with GatewayMiddleware in front of FastAPI's own middleware, not inside it.

    Every answer passes through GatewayMiddleware, FastAPI's 500s included (their x-request-id, the status
    the metrics and the usage record see), and a request it serves directly (gateway/api/direct.py) skips
    FastAPI's whole stack: the telemetry, error, body-limit and exception layers wrap each response message.
    """

    gateway: GatewayMiddleware | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.gateway is None:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self  # as Starlette sets it: direct routes read the runtime and handlers from it
        await self.gateway(scope, receive, send)

    async def fastapi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """FastAPI's own handling of a request: what GatewayMiddleware wraps."""
        await super().__call__(scope, receive, send)


def create_app(settings: Settings, backend: SecretsBackend | None = None) -> GatewayApp:
    """Build a gateway application for one provider."""
    runtime = build_runtime(settings, backend)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await _start(runtime)
        gc_tuning.tune(settings.gc_gen0_threshold)  # last: everything built at start-up gets frozen
        jwks_task = asyncio.create_task(_refresh_jwks(runtime)) if runtime.jwt and runtime.jwt.jwks_url else None
        try:
            yield
        finally:
            runtime.draining = True
            if jwks_task:
                jwks_task.cancel()
            await runtime.backend.stop()
            await runtime.limiter.close()
            await runtime.audit.close()  # the PostgreSQL sink flushes its buffer here (SIGTERM)
            await runtime.adapter.aclose()
            if settings.gc_gen0_threshold:
                gc_tuning.untune()
            multiproc.worker_exit()

    # FastAPI's native OpenTelemetry checks on every request whether a tracer, meter or logger provider has
    # been configured (~15 µs); the images carry only opentelemetry-api, no SDK, so none ever can be.
    app = GatewayApp(title=f"LLM gateway ({settings.provider})", version="0.1.0", lifespan=lifespan,
                  responses=_ERRORS, docs_url=None, redoc_url=None,
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.runtime = runtime
    # The provider's native routes come first: its `GET /v1/models` for its own SDK precedes the OpenAI one.
    for router in (health.router, *_native_routers(runtime), models.router, chat.router, agent.router):
        app.include_router(router)
    app.include_router(embeddings.build_router(runtime.adapter))  # a 404 where the provider has none
    _install_error_handlers(app)
    _document_limits(app, settings, runtime.adapter)
    app.gateway = GatewayMiddleware(app.fastapi, runtime=runtime, direct_routes=direct.table(chat.DIRECT)
                                    if settings.direct_routes else None)
    return app


def app_from_env() -> GatewayApp:
    """The uvicorn factory of each worker process (GATEWAY_WORKERS > 1): settings and logs from the environment."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        exit_on_config_error(exc)
        raise
    logs.configure(settings.log_level)
    return create_app(settings)


def _native_routers(runtime: Runtime) -> list[APIRouter]:
    """Where declared, the Anthropic Messages API and Anthropic's model records for its SDK."""
    if not runtime.adapter.messages_api:
        return []
    from gateway.api.routes import messages  # imported here: it needs the anthropic SDK, absent from other images

    return [messages.build_router(runtime.adapter)]


async def _start(runtime: Runtime) -> None:
    await runtime.limiter.start()
    await runtime.audit.start()
    try:
        await runtime.backend.start()
    except SecretsError as exc:  # keep running: /readyz reports it and the backend retries
        log.error("secrets backend not ready", extra={"reason": str(exc)})
    if runtime.jwt is not None:
        try:
            await runtime.jwt.refresh()
        except REFRESH_ERRORS as exc:  # start anyway: JWTs are refused until the refresh loop gets the keys
            log.warning("JWKS fetch at start-up failed", extra={"error_type": type(exc).__name__})
    log.info("gateway started", extra={"provider": runtime.settings.provider,
                                       "models": list(runtime.adapter.models),
                                       "secrets_backend": runtime.backend.name})


async def _refresh_jwks(runtime: Runtime, every_s: float = 300.0) -> None:
    assert runtime.jwt is not None
    while True:
        # The period, or at once when a token named a kid we do not hold (verify() asks for it).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(every_s if runtime.jwt.key_count else 10.0):
                await runtime.jwt.refresh_wanted.wait()
        runtime.jwt.refresh_wanted.clear()
        try:
            await runtime.jwt.refresh()
        except Exception as exc:  # noqa: BLE001 — keep the last good key set, retry later
            log.warning("JWKS refresh failed", extra={"error_type": type(exc).__name__})


def _document_output_maxima(request: dict[str, Any], settings: Settings, adapter: ProviderAdapter) -> None:
    """Bound the output caps of each model that writes less than GATEWAY_MAX_TOKENS_LIMIT (the server's 400,
    check_output_cap), the default model's also when `model` is absent or null."""
    for i, name in enumerate(adapter.models):
        # Only its LangChain profile is read: the key is never used.
        most = output_maximum(adapter.build_model(name, "schema-only"))
        if most is None or most >= settings.max_tokens_limit:
            continue
        # `properties` holds when the field is absent: the default model's condition, another's needs `required`.
        named: dict[str, Any] = ({"properties": {"model": {"const": name}}, "required": ["model"]} if i else
                                 {"properties": {"model": {"anyOf": [{"const": name}, {"type": "null"}]}}})
        capped = {"anyOf": [{"type": "integer", "maximum": most}, {"type": "null"}]}
        request.setdefault("allOf", []).append({
            "if": named,
            "then": {"properties": {"max_tokens": capped, "max_completion_tokens": capped}}})


def _document_limits(app: FastAPI, settings: Settings, adapter: ProviderAdapter) -> None:
    """Put the limits and the refused parameters into the OpenAPI schema, so it is as strict as the server.

    `dimensions` is bounded by what the default embeddings model accepts (absent: not on this provider).
    """
    default_embedder = adapter.embedding_models[0] if adapter.embedding_models else ""
    dimensions = adapter.embedding_dimensions.get(default_embedder)
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            props = schema["components"]["schemas"]["ChatCompletionRequest"]["properties"]
            for name in ("max_tokens", "max_completion_tokens"):
                for variant in props[name].get("anyOf", [props[name]]):
                    if variant.get("type") == "integer":
                        variant["maximum"] = settings.max_tokens_limit
            document_refusals(schema["components"]["schemas"], adapter)
            _document_output_maxima(schema["components"]["schemas"]["ChatCompletionRequest"], settings, adapter)
            if "EmbeddingRequest" in schema["components"]["schemas"]:
                embed = schema["components"]["schemas"]["EmbeddingRequest"]["properties"]
                if not adapter.embeds_token_ids:  # text only: the token-id forms are a 400 here
                    embed["input"]["anyOf"] = [form for form in embed["input"]["anyOf"]
                                               if form.get("title") not in TOKEN_FORMS]
                if not adapter.embeds_user:  # no end-user id here: a 400 naming it
                    del embed["user"]
                if not adapter.embed_input_types:  # Cohere's extension: a 400 naming it elsewhere
                    del embed["input_type"]
                if dimensions is None:
                    del embed["dimensions"]
                else:
                    embed["dimensions"]["anyOf"][0]["maximum"] = dimensions
            if "MessagesRequest" in schema["components"]["schemas"]:
                schema["components"]["schemas"]["MessagesRequest"]["properties"]["max_tokens"]["maximum"] = \
                    settings.max_tokens_limit
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi


def _unserved_part(error: Mapping[str, Any]) -> str | None:
    """The content part type OpenAI's API has and this gateway does not serve that the error is about, if any."""
    ctx = error.get("ctx")
    tag = ctx.get("tag") if error.get("type") == "union_tag_invalid" and isinstance(ctx, Mapping) else None
    return tag if isinstance(tag, str) and tag in NOT_SERVED_PARTS else None


def _install_error_handlers(app: FastAPI) -> None:
    def note(exc: GatewayError) -> None:
        ctx = context.get()
        if ctx is not None:
            ctx.error_code = exc.code

    @app.exception_handler(GatewayError)
    async def gateway_error(_: Request, exc: GatewayError) -> Response:
        note(exc)
        return error_response(exc, enforce.refusal_headers(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        ctype = request.headers.get("content-type", "")
        if request.method == "POST" and "json" not in ctype:
            err: GatewayError = InvalidRequestError("Content-Type must be application/json",
                                                    code="unsupported_content_type")
        elif undecodable := [e for e in errors if e.get("type") == "json_invalid"]:
            err = invalid_json(undecodable[0])
        else:
            # An unknown field is refused with 400 naming it (OpenAI's answer); a bad value is a 422.
            unknown = [e for e in errors if e.get("type") == "extra_forbidden"]
            # Of a union's members, the one the input got furthest into says what is wrong (a content part
            # of an unsupported type, not "should be a valid string").
            first = unknown[0] if unknown else telling_error(errors)
            field = error_field(first)
            part = _unserved_part(first) if request.url.path.endswith("/chat/completions") else None
            if first.get("type") == NOT_SERVED_ERROR:
                err = InvalidRequestError(f"{field}: {first['msg']}", code="unsupported_parameter", param=field)
            elif part is not None:
                err = InvalidRequestError(f"{field}.type: '{part}' parts are not supported by this gateway "
                                          f"({NOT_SERVED_PARTS[part]})", code="unsupported_parameter",
                                          param=f"{field}.type")
            elif unknown:
                served = NOT_SERVED.get(field) if request.url.path.endswith("/chat/completions") else None
                why = f"not supported by this gateway ({served})" if served else "unrecognized parameter"
                err = InvalidRequestError(f"{field}: {why}", code="unsupported_parameter", param=field)
            else:
                err = ValidationFailedError(f"{field}: {first['msg']}", param=field)
        note(err)
        return error_response(err)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        err: GatewayError
        if isinstance(exc.__cause__, PayloadTooLargeError):  # a chunked body passed the limit while read
            err = exc.__cause__
        elif exc.status_code == 404:
            err = NotFoundError("no such route")
        elif exc.status_code == 405:
            err = MethodNotAllowedError()
        else:
            err = InvalidRequestError(str(exc.detail))
        note(err)
        return error_response(err, dict(exc.headers or {}) if isinstance(err, MethodNotAllowedError) else None)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> Response:
        # Upstream calls map their own failures (adapter.map_error at each call site): what reaches here
        # is a fault of the gateway. ServerErrorMiddleware re-raises it after this answer.
        err = fault(exc)
        note(err)
        return error_response(err)
