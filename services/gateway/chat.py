"""Chat completions through LangChain: OpenAI request in, OpenAI response or SSE chunks out."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage

from gateway import context
from gateway.api.schemas import ChatCompletionRequest, ChatMessage
from gateway.errors import GatewayError, UpstreamBadResponseError, sse_error
from gateway.providers.base import ProviderAdapter

_ROLE = {"system": SystemMessage, "developer": SystemMessage, "user": HumanMessage, "assistant": AIMessage}


def to_langchain(messages: Sequence[ChatMessage]) -> list[BaseMessage]:
    """Convert OpenAI-style messages into LangChain messages."""
    return [_ROLE[m.role](content=m.text) for m in messages]


def call_params(adapter: ProviderAdapter, req: ChatCompletionRequest) -> dict[str, Any]:
    """Collect the sampling parameters in the provider's vocabulary."""
    params = adapter.invoke_params({
        "temperature": req.temperature,
        "top_p": req.top_p,
        "max_tokens": req.max_completion_tokens or req.max_tokens,
    })
    if req.stop:
        params["stop"] = req.stop
    return params


def usage_of(message: AIMessage | AIMessageChunk) -> dict[str, int] | None:
    """Return OpenAI-style usage from LangChain usage metadata, or None when not reported."""
    meta = message.usage_metadata
    if not meta:
        return None
    prompt, completion = int(meta.get("input_tokens", 0)), int(meta.get("output_tokens", 0))
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": int(meta.get("total_tokens", prompt + completion))}


def _record_usage(usage: dict[str, int] | None) -> None:
    ctx = context.get()
    if ctx is not None and usage is not None:
        ctx.prompt_tokens = usage["prompt_tokens"]
        ctx.completion_tokens = usage["completion_tokens"]


async def complete(adapter: ProviderAdapter, model: BaseChatModel, req: ChatCompletionRequest,
                   model_name: str, completion_id: str) -> dict[str, Any]:
    """Run one non-streaming completion and return the OpenAI response document."""
    try:
        result = await model.ainvoke(to_langchain(req.messages), **call_params(adapter, req))
    except Exception as exc:
        raise adapter.map_error(exc) from exc
    assert isinstance(result, AIMessage)
    usage = usage_of(result)
    _record_usage(usage)
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": result.response_metadata.get("model_name") or model_name,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": result.text},
            "finish_reason": adapter.finish_reason(result.response_metadata) or "stop",
        }],
        "usage": usage,
    }


async def stream(adapter: ProviderAdapter, model: BaseChatModel, req: ChatCompletionRequest,
                 model_name: str, completion_id: str) -> AsyncIterator[bytes]:
    """Open the upstream stream and return its OpenAI `chat.completion.chunk` SSE events, ending with [DONE].

    The first upstream chunk is awaited here, before any byte goes to the client, so a failure
    to start (429, 5xx, timeout) is still answered with its HTTP status and `Retry-After`;
    later failures become an error event. Cancellation (client gone) propagates into `astream`,
    which closes the upstream call.
    """
    upstream = aiter(model.astream(to_langchain(req.messages), **call_params(adapter, req)))
    try:
        first: AIMessageChunk | None = await anext(upstream)
    except StopAsyncIteration:
        first = None
    except Exception as exc:
        raise adapter.map_error(exc) from exc
    return _events(adapter, upstream, first, req, model_name, completion_id)


async def _events(adapter: ProviderAdapter, upstream: AsyncIterator[Any], first: AIMessageChunk | None,
                  req: ChatCompletionRequest, model_name: str, completion_id: str) -> AsyncIterator[bytes]:
    created = int(time.time())
    base = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model_name}

    def event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        doc = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return b"data: " + orjson.dumps(doc) + b"\n\n"

    async def chunks() -> AsyncIterator[Any]:
        if first is not None:
            yield first
        async for chunk in upstream:
            yield chunk

    include_usage = req.stream_options.include_usage if req.stream_options else False
    usage: dict[str, int] | None = None
    finish: str | None = None
    opened = False
    try:
        async for chunk in chunks():
            assert isinstance(chunk, AIMessageChunk)
            usage = _add_usage(usage, usage_of(chunk))
            finish = adapter.finish_reason(chunk.response_metadata) or finish
            text = chunk.text
            if text or not opened:
                yield event({"role": "assistant", "content": text} if not opened else {"content": text})
                opened = True
        if finish is None:  # every provider closes a complete stream with a stop reason
            raise UpstreamBadResponseError("the upstream stream ended before completion", code="upstream_truncated")
    except Exception as exc:  # noqa: BLE001 - every upstream failure becomes one error event
        mapped = adapter.map_error(exc)
        _mark_error(mapped)
        yield sse_error(mapped)
        yield b"data: [DONE]\n\n"
        return
    _record_usage(usage)
    yield event({}, finish or "stop")
    if include_usage:
        doc = {**base, "choices": [], "usage": usage}
        yield b"data: " + orjson.dumps(doc) + b"\n\n"
    yield b"data: [DONE]\n\n"


def _add_usage(total: dict[str, int] | None, part: dict[str, int] | None) -> dict[str, int] | None:
    """Sum streamed usage: LangChain chunks carry additive usage (Anthropic splits input/output)."""
    if part is None:
        return total
    if total is None:
        return dict(part)
    return {k: total[k] + part[k] for k in total}


def _mark_error(exc: GatewayError) -> None:
    ctx = context.get()
    if ctx is not None:
        ctx.error_code = exc.code
