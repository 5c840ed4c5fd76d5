"""LangChain AIMessageChunks -> OpenAI `chat.completion.chunk` SSE events, tool calls included."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from langchain_core.messages import AIMessageChunk

from gateway import context
from gateway.chat.response import record_usage, usage_of
from gateway.errors import GatewayError, UpstreamBadResponseError, sse_error
from gateway.providers.base import ProviderAdapter


class ToolCallDeltas:
    """Renders LangChain `tool_call_chunks` the way OpenAI streams `delta.tool_calls`.

    The first delta of a call carries its OpenAI index, id, type and name (arguments ""), the
    following ones only index and an arguments fragment. Upstream indexes (Anthropic counts
    content blocks, text included) are renumbered 0, 1, … in order of appearance.
    """

    def __init__(self) -> None:
        self._index: dict[Any, int] = {}
        self._last: Any = None

    @property
    def count(self) -> int:
        """How many tool calls were streamed."""
        return len(self._index)

    def deltas(self, chunk: AIMessageChunk) -> list[dict[str, Any]]:
        """The `delta.tool_calls` entries for one chunk."""
        out: list[dict[str, Any]] = []
        for part in chunk.tool_call_chunks:
            key = part.get("index")
            if key is None:  # langchain-cohere's async stream sends whole calls without an index
                key = part.get("id") or self._last
            args = part.get("args") or ""
            if key not in self._index:
                self._index[key] = len(self._index)
                # OpenAI opens a call with its id, type, name and empty arguments.
                out.append({"index": self._index[key], "id": part.get("id"), "type": "function",
                            "function": {"name": part.get("name"), "arguments": ""}})
            self._last = key
            if args:
                out.append({"index": self._index[key], "function": {"arguments": args}})
        return out


async def events(adapter: ProviderAdapter, upstream: AsyncIterator[Any], include_usage: bool,
                 model_name: str, completion_id: str) -> AsyncIterator[bytes]:
    """Yield the SSE events of one completion, ending with `data: [DONE]` (errors become an error event)."""
    base = {"id": completion_id, "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model_name}

    def event(delta: dict[str, Any], finish: str | None = None, logprobs: Any = None) -> bytes:
        doc = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish}]}
        return b"data: " + orjson.dumps(doc) + b"\n\n"

    calls = ToolCallDeltas()
    usage: dict[str, int] | None = None
    finish: str | None = None
    opened = False
    try:
        async for chunk in upstream:
            assert isinstance(chunk, AIMessageChunk)
            usage = _add_usage(usage, usage_of(chunk))
            finish = adapter.finish_reason(chunk.response_metadata) or finish
            delta: dict[str, Any] = {}
            if not opened:
                delta["role"] = "assistant"
            if chunk.text or not opened:
                delta["content"] = chunk.text
            if delta:  # OpenAI's per-token logprobs ride on the content chunk they describe
                yield event(delta, logprobs=chunk.response_metadata.get("logprobs"))
                opened = True
            for tool_delta in calls.deltas(chunk):  # one event per delta, as OpenAI sends them
                yield event({"tool_calls": [tool_delta]})
        if finish is None:  # every provider closes a complete stream with a stop reason
            raise UpstreamBadResponseError("the upstream stream ended before completion", code="upstream_truncated")
    except Exception as exc:  # noqa: BLE001 - every upstream failure becomes one error event
        mapped = adapter.map_error(exc)
        _mark_error(mapped)
        yield sse_error(mapped)
        yield b"data: [DONE]\n\n"
        return
    record_usage(usage)
    yield event({}, finish)
    if include_usage:
        yield b"data: " + orjson.dumps({**base, "choices": [], "usage": usage}) + b"\n\n"
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
