"""`POST /v1/chat/completions`: OpenAI-compatible, plain or streamed."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway import chat, context
from gateway.api.deps import ClientDep, RuntimeDep, admit, resolve_model
from gateway.api.direct import DirectRoute
from gateway.api.event_stream import ClientWatch, EventStreamResponse
from gateway.api.responses import JsonBytesResponse
from gateway.api.schemas import ChatCompletionRequest
from gateway.api.strict_json import StrictJsonRoute
from gateway.chat.params import check_output_cap, default_output_cap
from gateway.errors import InvalidRequestError
from gateway.limits import enforce

router = APIRouter(tags=["chat"], route_class=StrictJsonRoute)

_STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "completion or SSE stream"},
}


@router.post("/v1/chat/completions", summary="Create a chat completion (OpenAI-compatible)", responses=_STREAM_DOC)
async def create_chat_completion(req: ChatCompletionRequest, runtime: RuntimeDep, client: ClientDep,
                                 request: Request):
    ctx = context.require()  # its request id names the completion
    model_name = resolve_model(runtime, req.model)
    limit = runtime.settings.max_tokens_limit
    requested = output_cap(req, limit)
    model = runtime.adapter.chat_model(model_name, runtime.provider_key())
    check_output_cap(model, model_name, requested,
                     "max_tokens" if req.max_completion_tokens is None else "max_completion_tokens")
    if requested is None:  # else the SDK's own default applies (64,000 for some models), above the limit
        req = req.model_copy(update={"max_tokens": default_output_cap(model, limit)})
    completion_id = f"chatcmpl-{ctx.request_id}"
    ctx.route, ctx.audited, ctx.streamed = "chat", True, req.stream
    limiter = runtime.limiter
    reservation = await admit(runtime, client, [m.text for m in req.messages], requested)
    limit_headers = enforce.headers(reservation)
    if req.stream:
        watch = ClientWatch(request.receive)  # from here on, a client that leaves cancels the upstream call
        try:
            events = await watch.run(chat.stream(runtime.adapter, model, req, model_name, completion_id))
        except Exception:
            watch.close()
            await enforce.settle(limiter, reservation, 0)  # refused upstream: nothing was used
            raise
        if events is None:
            await enforce.settle(limiter, reservation, 0)
            return Response(status_code=499)  # nginx's "client closed request"; nobody reads it
        return EventStreamResponse(events, watch, limit_headers,
                                   on_close=lambda: enforce.settle_later(limiter, reservation, _used(ctx)))
    try:
        doc = await chat.complete(runtime.adapter, model, req, model_name, completion_id)
    except Exception:
        # A reply refused after it came (a failed stop reason, too many tool calls) was billed: its tokens count.
        await enforce.settle(limiter, reservation, _used(ctx) or 0)
        raise
    usage = doc.get("usage")
    await enforce.settle(limiter, reservation, usage["total_tokens"] if usage else None)
    return JsonBytesResponse(orjson.dumps(doc), limit_headers)


# GatewayMiddleware serves well-formed requests of this route directly (gateway/api/direct.py).
DIRECT = DirectRoute("/v1/chat/completions", ChatCompletionRequest, create_chat_completion)


def output_cap(req: ChatCompletionRequest, limit: int) -> int | None:
    """The completion's token cap the client asked for: `max_completion_tokens` or the older `max_tokens`.

    Both at once is OpenAI's 400 `invalid_parameter_combination` (the two may disagree: which was meant?);
    each is bounded by GATEWAY_MAX_TOKENS_LIMIT, the error naming the one given."""
    if req.max_tokens is not None and req.max_completion_tokens is not None:
        raise InvalidRequestError("Setting 'max_tokens' and 'max_completion_tokens' at the same time is not "
                                  "supported: send max_completion_tokens", param="max_tokens",
                                  code="invalid_parameter_combination")
    name, requested = (("max_tokens", req.max_tokens) if req.max_completion_tokens is None else
                       ("max_completion_tokens", req.max_completion_tokens))
    if requested is not None and requested > limit:
        raise InvalidRequestError(f"{name} must be at most {limit}", param=name)
    return requested


def _used(ctx: context.RequestContext | None) -> int | None:
    """Tokens a finished stream reported (None when it reported none: the estimate stays counted)."""
    if ctx is None or ctx.prompt_tokens is None:
        return None
    return ctx.prompt_tokens + (ctx.completion_tokens or 0)

