"""`POST /v1/chat/completions`: OpenAI-compatible, plain or streamed."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from gateway import chat, context
from gateway.api.deps import ClientDep, RuntimeDep, admit, resolve_model
from gateway.api.direct import DirectRoute
from gateway.api.schemas import ChatCompletionRequest
from gateway.errors import InvalidRequestError
from gateway.limits import enforce

router = APIRouter(tags=["chat"])

_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


_STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "completion or SSE stream"},
}


@router.post("/v1/chat/completions", summary="Create a chat completion (OpenAI-compatible)", responses=_STREAM_DOC)
async def create_chat_completion(req: ChatCompletionRequest, runtime: RuntimeDep, client: ClientDep,
                                 request: Request):
    ctx = context.require()  # its request id names the completion
    model_name = resolve_model(runtime, req.model)
    limit = runtime.settings.max_tokens_limit
    requested = req.max_completion_tokens or req.max_tokens
    if requested is not None and requested > limit:
        raise InvalidRequestError(f"max_tokens must be at most {limit}", param="max_tokens")
    if requested is None:  # else the SDK's own default applies (64,000 for some models), above the limit
        req = req.model_copy(update={"max_tokens": limit})
    model = runtime.adapter.chat_model(model_name, runtime.provider_key())
    completion_id = f"chatcmpl-{ctx.request_id}"
    ctx.route, ctx.audited, ctx.streamed = "chat", True, req.stream
    limiter = runtime.limiter
    reservation = await admit(runtime, client, [m.text for m in req.messages], requested)
    limit_headers = enforce.headers(reservation)
    if req.stream:
        opening = asyncio.ensure_future(chat.stream(runtime.adapter, model, req, model_name, completion_id))
        if await _client_left_first(opening, request):
            await enforce.settle(limiter, reservation, 0)
            return Response(status_code=499)  # nginx's "client closed request"; nobody reads it
        if opening.exception() is not None:
            await enforce.settle(limiter, reservation, 0)  # refused upstream: nothing was used
        events = enforce.settled_stream(opening.result(), limiter, reservation, lambda: _used(ctx))
        return StreamingResponse(events, media_type="text/event-stream", headers={**_SSE_HEADERS, **limit_headers})
    try:
        doc = await chat.complete(runtime.adapter, model, req, model_name, completion_id)
    except Exception:
        await enforce.settle(limiter, reservation, 0)
        raise
    usage = doc.get("usage")
    await enforce.settle(limiter, reservation, usage["total_tokens"] if usage else None)
    return Response(orjson.dumps(doc), media_type="application/json", headers=limit_headers)


# GatewayMiddleware serves well-formed requests of this route directly (gateway/api/direct.py).
DIRECT = DirectRoute("/v1/chat/completions", ChatCompletionRequest, create_chat_completion)


def _used(ctx: context.RequestContext | None) -> int | None:
    """Tokens a finished stream reported (None when it reported none: the estimate stays counted)."""
    if ctx is None or ctx.prompt_tokens is None:
        return None
    return ctx.prompt_tokens + (ctx.completion_tokens or 0)


async def _client_left_first(opening: asyncio.Future[Any], request: Request) -> bool:
    """Wait for the upstream stream to open; cancel it and return True if the client disconnects first."""

    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(disconnected())
    try:
        await asyncio.wait({opening, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not opening.done():
            opening.cancel()
    return opening.cancelled()
