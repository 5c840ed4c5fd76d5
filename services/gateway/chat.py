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
from gateway.errors import GatewayError, sse_error
from gateway.providers.base import ProviderAdapter

_ROLE = {"system": SystemMessage, "developer": SystemMessage, "user": HumanMessage, "assistant": AIMessage}


def to_langchain(messages: Sequence[ChatMessage]) -> list[BaseMessage]:
    """Convert OpenAI-style messages into LangChain messages."""
    return [_ROLE[m.role](content=m.content) for m in messages]


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
    """Stream a completion as OpenAI `chat.completion.chunk` SSE events, ending with [DONE].

    Cancellation (client gone) propagates into `astream`, which closes the upstream call.
    """
    created = int(time.time())
    base = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model_name}

    def event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        doc = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return b"data: " + orjson.dumps(doc) + b"\n\n"

    include_usage = req.stream_options.include_usage if req.stream_options else False
    usage: dict[str, int] | None = None
    finish: str | None = None
    first = True
    try:
        async for chunk in model.astream(to_langchain(req.messages), **call_params(adapter, req)):
            assert isinstance(chunk, AIMessageChunk)
            usage = _add_usage(usage, usage_of(chunk))
            finish = adapter.finish_reason(chunk.response_metadata) or finish
            text = chunk.text
            if text or first:
                yield event({"role": "assistant", "content": text} if first else {"content": text})
                first = False
    except GatewayError as exc:
        yield sse_error(exc)
        _mark_error(exc)
        yield b"data: [DONE]\n\n"
        return
    except Exception as exc:  # noqa: BLE001 — headers are sent: report in-band, never a 500
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
