"""`POST /v1/messages` (+ `/count_tokens`): the Anthropic Messages API, for Anthropic's own clients.

Same auth (`x-api-key` or `Authorization: Bearer` with a gateway client key), usage, audit and metrics as
chat; errors on these routes are Anthropic-shaped (`{"type": "error", "error": {...}}`) because that is
what the anthropic SDK and tools built on it parse. Imported only by gateways whose adapter declares
`messages_api` (it needs the anthropic SDK).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Scope

from gateway import context, jsonbytes
from gateway.api.anthropic_blocks import NOT_SERVED_TAGS
from gateway.api.anthropic_schemas import (
    NOT_SERVED,
    AnthropicBeta,
    AnthropicErrorBody,
    AnthropicVersion,
    CountTokensRequest,
    CountTokensResponse,
    MessageResponse,
    MessagesRequest,
    non_empty_turns,
)
from gateway.api.anthropic_tools import NOT_SERVED_FIELDS as NOT_SERVED_TOOL_FIELDS
from gateway.api.anthropic_tools import not_served as not_served_tool
from gateway.api.deps import ClientDep, RuntimeDep, admit, resolve_model, unknown_model
from gateway.api.event_stream import ClientWatch, EventStreamResponse
from gateway.api.responses import JsonBytesResponse
from gateway.api.routes.models import note_route
from gateway.api.strict_json import StrictJsonRoute
from gateway.chat.params import check_output_cap
from gateway.errors import (
    GatewayError,
    InvalidRequestError,
    error_field,
    fault,
    invalid_json,
    retry_headers,
    telling_error,
)
from gateway.limits import enforce
from gateway.messages import MessagesRelay, error_body
from gateway.providers.base import ProviderAdapter

_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": AnthropicErrorBody, "description": desc} for code, desc in {
    400: "invalid request (also failed validation)", 401: "missing or invalid credentials",
    403: "credential not allowed here", 404: "unknown model", 413: "body too large", 422: "not used: see 400",
    429: "rate limited (Retry-After)", 502: "upstream error", 503: "unavailable", 504: "upstream timeout",
}.items()}
VersionDep = Annotated[AnthropicVersion, Header(alias="anthropic-version",
                                                description="Messages API version, forwarded upstream")]
BetaDep = Annotated[AnthropicBeta | None, Header(alias="anthropic-beta",
                                                 description="beta features, forwarded upstream as sent")]


class AnthropicRoute(StrictJsonRoute):
    """An APIRoute whose errors, validation included, are rendered in Anthropic's error shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except GatewayError as exc:
                return anthropic_error(exc)
            except RequestValidationError as exc:
                return anthropic_error(_invalid(exc, request))
            except StarletteHTTPException as exc:
                if isinstance(exc.__cause__, GatewayError):  # the body passed the size limit while read
                    return anthropic_error(exc.__cause__)
                raise
            except Exception as exc:  # noqa: BLE001 - a fault of the gateway (upstream calls map their own), logged
                return anthropic_error(fault(exc))

        return handle


class AnthropicClientRoute(AnthropicRoute):
    """An Anthropic-shaped route taken only by requests carrying `anthropic-version` (the anthropic SDK's).

    `GET /v1/models` serves OpenAI's clients and Anthropic's on one path: without the header the request
    goes on to the OpenAI-shaped route registered after this one.
    """

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if not any(name == b"anthropic-version" for name, _ in scope.get("headers", ())):
            return Match.NONE, {}
        return super().matches(scope)


def anthropic_error(exc: GatewayError) -> Response:
    """Render a gateway error as Anthropic does, noting its code for logs, metrics and audit."""
    ctx = context.get()
    if ctx is not None:
        ctx.error_code = exc.code
    headers = {**enforce.refusal_headers(exc, anthropic=True), **retry_headers(exc)}
    return Response(orjson.dumps(error_body(exc, ctx.request_id if ctx is not None else None)),
                    status_code=exc.status, media_type="application/json", headers=headers)


def _invalid(exc: RequestValidationError, request: Request) -> GatewayError:
    errors = exc.errors()
    if "json" not in request.headers.get("content-type", ""):
        return InvalidRequestError("Content-Type must be application/json", code="unsupported_content_type")
    if undecodable := [e for e in errors if e.get("type") == "json_invalid"]:
        return invalid_json(undecodable[0])
    first = telling_error(errors)
    field = error_field(first)
    kind, ctx = first.get("type"), first.get("ctx") or {}
    if kind == "extra_forbidden" and (why := _unserved_field(field)):
        return InvalidRequestError(f"{field}: not supported by this gateway ({why})",
                                   code="unsupported_parameter", param=field)
    if kind == "union_tag_invalid":  # a block, source or tool `type` the gateway does not take
        tag, param = str(ctx.get("tag")), f"{field}.type"
        if why := NOT_SERVED_TAGS.get(tag) or (not_served_tool(tag) if field.startswith("tools.") else None):
            return InvalidRequestError(f"{param}: '{tag}' is not supported by this gateway ({why})",
                                       code="unsupported_parameter", param=param)
        return InvalidRequestError(f"{param}: unknown type '{tag}' (expected one of {ctx.get('expected_tags')})",
                                   code="invalid_field", param=param)
    return InvalidRequestError(f"{field}: {first['msg']}", code="invalid_field", param=field)


def _unserved_field(field: str) -> str | None:
    """Why a field the request model does not declare is one the API has and the gateway does not serve."""
    if "." not in field:
        return NOT_SERVED.get(field)
    return NOT_SERVED_TOOL_FIELDS.get(field.rsplit(".", 1)[1]) if field.startswith("tools.") else None


# Headers of the anthropic SDK that choose whose account a request runs under. Behind the gateway that is
# the provider key's (its workspace, its organisation): refused by name rather than dropped.
ACCOUNT_HEADERS = {
    "anthropic-workspace-id": "the gateway's provider key decides the workspace",
    "anthropic-user-profile-id": "requests run as the gateway's own organisation",
}


def refuse_account_headers(request: Request) -> None:
    """A 400 naming the first account-selecting header the request carries."""
    for name, why in ACCOUNT_HEADERS.items():
        if name in request.headers:
            raise InvalidRequestError(f"{name}: not supported by this gateway ({why})",
                                      code="unsupported_parameter", param=name)


def build_router(adapter: ProviderAdapter) -> APIRouter:
    """The Messages API routes of this gateway."""
    router = APIRouter(tags=["anthropic messages"], route_class=AnthropicRoute, responses=_ERRORS)
    relay = MessagesRelay(adapter)

    @router.post("/v1/messages", summary="Create a message (Anthropic Messages API)", response_model=MessageResponse,
                 responses={200: {"content": {"text/event-stream": {}}, "description": "message or SSE stream"}})
    async def create_message(req: MessagesRequest, runtime: RuntimeDep, client: ClientDep, request: Request,
                             version: VersionDep, beta: BetaDep = None) -> Response:
        ctx = context.get()
        if ctx is not None:
            ctx.route, ctx.audited, ctx.streamed = "messages", True, req.stream
        refuse_account_headers(request)
        non_empty_turns(req.messages)
        model_name = resolve_model(runtime, req.model)
        limit = runtime.settings.max_tokens_limit
        if req.max_tokens > limit:
            raise InvalidRequestError(f"max_tokens must be at most {limit}", param="max_tokens")
        check_output_cap(runtime.adapter.chat_model(model_name, runtime.provider_key()), model_name, req.max_tokens,
                         "max_tokens")
        # The same client limits as chat: the serialised conversation and max_tokens are reserved, then
        # settled with the usage Anthropic reports (also for a stream, when it ends or is cut).
        conversation = [jsonbytes.dumps(req.model_dump(include={"system", "messages", "tools"})).decode()]
        reservation = await admit(runtime, client, conversation, req.max_tokens)
        headers = enforce.headers(reservation) + enforce.anthropic_headers(reservation)
        watch = ClientWatch(request.receive) if req.stream else None  # a client that leaves cancels the call
        try:
            if watch is not None:
                events = await watch.run(relay.stream(req, runtime.provider_key(), version, beta))
                if events is None:
                    await enforce.settle(runtime.limiter, reservation, 0)
                    return Response(status_code=499)  # nginx's "client closed request"; nobody reads it
                return EventStreamResponse(events, watch, headers, on_close=lambda: (
                    enforce.settle_later(runtime.limiter, reservation, _used(ctx))))
            doc = await relay.create(req, runtime.provider_key(), version, beta)
        except Exception:
            if watch is not None:
                watch.close()
            await enforce.settle(runtime.limiter, reservation, 0)  # refused or failed upstream: nothing used
            raise
        await enforce.settle(runtime.limiter, reservation, _used(ctx))
        return JsonBytesResponse(jsonbytes.dumps(doc), headers)

    @router.post("/v1/messages/count_tokens", summary="Count the input tokens of a message (Anthropic)",
                 response_model=CountTokensResponse)
    async def count_tokens(req: CountTokensRequest, runtime: RuntimeDep, _client: ClientDep, request: Request,
                           version: VersionDep, beta: BetaDep = None) -> Response:
        ctx = context.get()
        if ctx is not None:
            ctx.route, ctx.audited = "count_tokens", True
        refuse_account_headers(request)
        non_empty_turns(req.messages)
        resolve_model(runtime, req.model)
        doc = await relay.count_tokens(req, runtime.provider_key(), version, beta)
        return Response(orjson.dumps(doc), media_type="application/json")

    # The anthropic SDK's `models.list()` / `models.retrieve()`: Anthropic's own model records, for the
    # models this gateway allows. Not in the OpenAPI document, which describes the OpenAI-shaped twins.
    async def list_models(runtime: RuntimeDep, _client: ClientDep, version: VersionDep,
                          limit: Annotated[int, Query(ge=1, le=1000)] = 20, after_id: str | None = None,
                          before_id: str | None = None) -> Response:
        note_route()
        allowed = set(runtime.adapter.models)
        models = [m for m in await relay.models(runtime.provider_key(), version) if m.get("id") in allowed]
        return Response(orjson.dumps(page(models, limit, after_id, before_id)), media_type="application/json")

    async def retrieve_model(model: str, runtime: RuntimeDep, _client: ClientDep, version: VersionDep) -> Response:
        note_route()
        if model not in runtime.adapter.models:
            raise unknown_model(runtime, model)
        doc = await relay.model(model, runtime.provider_key(), version)
        return Response(orjson.dumps(doc), media_type="application/json")

    for path, endpoint in (("/v1/models", list_models), ("/v1/models/{model:path}", retrieve_model)):
        router.add_api_route(path, endpoint, methods=["GET"], include_in_schema=False,
                             route_class_override=AnthropicClientRoute)
    return router


def page(models: list[dict[str, Any]], limit: int, after_id: str | None, before_id: str | None) -> dict[str, Any]:
    """Anthropic's list page: `limit` records after `after_id` or before `before_id` (else from the start)."""
    if after_id is not None and before_id is not None:
        raise InvalidRequestError("give after_id or before_id, not both", param="before_id")
    ids = [m.get("id") for m in models]
    for name, cursor in (("after_id", after_id), ("before_id", before_id)):
        if cursor is not None and cursor not in ids:
            raise InvalidRequestError(f"{name}: '{cursor}' is not a model of this list", param=name)
    if before_id is not None:
        end = ids.index(before_id)
        start = max(0, end - limit)
        more = start > 0
    else:
        start = ids.index(after_id) + 1 if after_id is not None else 0
        end = min(len(models), start + limit)
        more = end < len(models)
    chosen = models[start:end]
    return {"data": chosen, "has_more": more, "first_id": chosen[0].get("id") if chosen else None,
            "last_id": chosen[-1].get("id") if chosen else None}


def _used(ctx: context.RequestContext | None) -> int | None:
    """Tokens the upstream reported for this request (None: not reported, the estimate stays counted)."""
    if ctx is None or ctx.prompt_tokens is None:
        return None
    return ctx.prompt_tokens + (ctx.completion_tokens or 0)
