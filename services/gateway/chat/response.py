"""LangChain AIMessage -> OpenAI `chat.completion` document."""

from __future__ import annotations

import time
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, ToolCall

from gateway import context, jsonbytes
from gateway.providers.base import ProviderAdapter


def usage_of(message: AIMessage | AIMessageChunk) -> dict[str, int] | None:
    """Return OpenAI-style usage from LangChain usage metadata, or None when not reported."""
    meta = message.usage_metadata
    if not meta:
        return None
    prompt, completion = int(meta.get("input_tokens", 0)), int(meta.get("output_tokens", 0))
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": int(meta.get("total_tokens", prompt + completion))}


def record_usage(usage: dict[str, int] | None) -> None:
    """Note the token counts on the request context (usage records, metrics)."""
    ctx = context.get()
    if ctx is not None and usage is not None:
        ctx.prompt_tokens = usage["prompt_tokens"]
        ctx.completion_tokens = usage["completion_tokens"]


def openai_tool_call(call: ToolCall) -> dict[str, Any]:
    """One `message.tool_calls` entry: id, type and the function with JSON-encoded arguments."""
    return {"id": call.get("id"), "type": "function",
            "function": {"name": call["name"], "arguments": jsonbytes.dumps(call["args"]).decode()}}


def completion_doc(adapter: ProviderAdapter, result: AIMessage, model_name: str,
                   completion_id: str) -> dict[str, Any]:
    """Build the OpenAI response document (every field the published schema requires)."""
    usage = usage_of(result)
    record_usage(usage)
    calls = [openai_tool_call(c) for c in result.tool_calls]
    message: dict[str, Any] = {"role": "assistant", "content": result.text or (None if calls else ""),
                               "refusal": None}
    if calls:
        message["tool_calls"] = calls
    finish = adapter.finish_reason(result.response_metadata) or ("tool_calls" if calls else "stop")
    doc: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": result.response_metadata.get("model_name") or model_name,
        "choices": [{"index": 0, "message": message, "logprobs": result.response_metadata.get("logprobs"),
                     "finish_reason": finish}],
    }
    if usage is not None:  # `usage` is optional in the schema, but not nullable
        doc["usage"] = usage
    return doc
