"""LangChain AIMessage -> OpenAI `chat.completion` document."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, InvalidToolCall, ToolCall

from gateway import context, jsonbytes
from gateway.providers.base import ProviderAdapter

# LangChain's token details -> OpenAI's names (`usage.prompt_tokens_details`, `completion_tokens_details`).
# Anthropic's cache writes come as one count, or split by cache lifetime (then the one count is 0).
_PROMPT_DETAILS = {"cache_read": "cached_tokens", "cache_creation": "cache_write_tokens",
                   "ephemeral_5m_input_tokens": "cache_write_tokens", "ephemeral_1h_input_tokens": "cache_write_tokens",
                   "audio": "audio_tokens"}
_COMPLETION_DETAILS = {"reasoning": "reasoning_tokens", "audio": "audio_tokens"}


def usage_of(message: AIMessage | AIMessageChunk) -> dict[str, Any] | None:
    """Return OpenAI-style usage from LangChain usage metadata, or None when not reported.

    The details the provider reported (tokens read from its prompt cache, spent reasoning, of audio) are
    OpenAI's `prompt_tokens_details` / `completion_tokens_details`; none is invented where it reported none.
    """
    meta = message.usage_metadata
    if not meta:
        return None
    prompt, completion = int(meta.get("input_tokens", 0)), int(meta.get("output_tokens", 0))
    usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                             "total_tokens": int(meta.get("total_tokens", prompt + completion))}
    if details := _details(meta.get("input_token_details"), _PROMPT_DETAILS):
        usage["prompt_tokens_details"] = details
    if details := _details(meta.get("output_token_details"), _COMPLETION_DETAILS):
        usage["completion_tokens_details"] = details
    return usage


def _details(reported: Mapping[str, Any] | None, names: Mapping[str, str]) -> dict[str, int] | None:
    if not reported:
        return None
    details: dict[str, int] = {}
    for theirs, value in reported.items():
        # Under OpenAI's flex or priority tier, langchain-openai names the counts after it (`flex_cache_read`,
        # `priority_reasoning`; the bare `flex` is the tier's other tokens): the same details, under OpenAI's names.
        ours = names.get(theirs.removeprefix("flex_").removeprefix("priority_"))
        if ours is not None and value is not None:
            details[ours] = details.get(ours, 0) + int(value)
    return details


def record_usage(usage: dict[str, Any] | None) -> None:
    """Note the token counts on the request context (usage records, metrics)."""
    ctx = context.get()
    if ctx is not None and usage is not None:
        ctx.prompt_tokens = usage["prompt_tokens"]
        ctx.completion_tokens = usage["completion_tokens"]


def openai_tool_call(call: ToolCall) -> dict[str, Any]:
    """One `message.tool_calls` entry: id, type and the function with JSON-encoded arguments."""
    return {"id": call.get("id"), "type": "function",
            "function": {"name": call["name"], "arguments": jsonbytes.dumps(call["args"]).decode()}}


def unparsed_tool_call(call: InvalidToolCall) -> dict[str, Any]:
    """The entry of a call whose arguments LangChain could not parse, with them as they came: a call cut short
    by `max_tokens` (`finish_reason: "length"`) reaches the client as OpenAI sends it, not dropped."""
    return {"id": call.get("id"), "type": "function",
            "function": {"name": call.get("name") or "", "arguments": call.get("args") or ""}}


def completion_doc(adapter: ProviderAdapter, result: AIMessage, model_name: str,
                   completion_id: str) -> dict[str, Any]:
    """Build the OpenAI response document (every field the published schema requires)."""
    usage = usage_of(result)
    record_usage(usage)
    calls = [openai_tool_call(c) for c in result.tool_calls]
    if result.invalid_tool_calls:  # LangChain keeps them apart; a call cut short is the reply's last anyway
        calls += [unparsed_tool_call(c) for c in result.invalid_tool_calls]
    refusal = result.additional_kwargs.get("refusal") if result.additional_kwargs else None  # OpenAI's, if any
    message: dict[str, Any] = {"role": "assistant", "content": result.text or (None if calls or refusal else ""),
                               "refusal": refusal or None}
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
    if tier := served_tier(result.response_metadata):
        doc["service_tier"] = tier
    if fingerprint := fingerprint_of(result.response_metadata):
        doc["system_fingerprint"] = fingerprint
    return doc


# OpenAI's service tiers (its `ServiceTier`): the one that served a request is in its reply.
SERVICE_TIERS = frozenset({"auto", "default", "flex", "scale", "priority"})


def served_tier(metadata: Mapping[str, Any]) -> str | None:
    """The service tier an OpenAI-protocol provider says served the request (another provider's own word,
    which is not OpenAI's, is not one)."""
    tier = metadata.get("service_tier")
    return tier if tier in SERVICE_TIERS else None


def fingerprint_of(metadata: Mapping[str, Any]) -> str | None:
    """The backend configuration an OpenAI-protocol provider says served the request (`system_fingerprint`,
    what a client sending `seed` compares); LangChain writes "" when the reply had none."""
    fingerprint = metadata.get("system_fingerprint")
    return fingerprint if fingerprint and type(fingerprint) is str else None
