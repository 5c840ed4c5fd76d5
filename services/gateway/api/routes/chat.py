"""`POST /v1/chat/completions`: OpenAI-compatible, plain or streamed."""

from __future__ import annotations

import orjson
from fastapi import APIRouter
from fastapi.responses import Response, StreamingResponse
from gateway import chat, context
from gateway.api.deps import ClientDep, RuntimeDep, resolve_model
from gateway.api.schemas import ChatCompletionRequest
from gateway.errors import InvalidRequestError

router = APIRouter(tags=["chat"])

_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@router.post("/v1/chat/completions", summary="Create a chat completion (OpenAI-compatible)",
             responses={200: {"content": {"text/event-stream": {}}, "description": "completion or SSE stream"}})
async def create_chat_completion(req: ChatCompletionRequest, runtime: RuntimeDep, _client: ClientDep):
    ctx = context.get()
    model_name = resolve_model(runtime, req.model)
    limit = runtime.settings.max_tokens_limit
    requested = req.max_completion_tokens or req.max_tokens
    if requested is not None and requested > limit:
        raise InvalidRequestError(f"max_tokens must be at most {limit}", param="max_tokens")
    model = runtime.adapter.chat_model(model_name, runtime.provider_key())
    completion_id = f"chatcmpl-{ctx.request_id if ctx else 'x'}"
    if ctx is not None:
        ctx.route, ctx.audited, ctx.streamed = "chat", True, req.stream
    if req.stream:
        body = chat.stream(runtime.adapter, model, req, model_name, completion_id)
        return StreamingResponse(body, media_type="text/event-stream", headers=_SSE_HEADERS)
    doc = await chat.complete(runtime.adapter, model, req, model_name, completion_id)
    return Response(orjson.dumps(doc), media_type="application/json")
