"""Chat completions through LangChain: OpenAI request in, OpenAI response or SSE chunks out.

    messages.py  OpenAI messages -> LangChain messages (tool calls, tool results, images)
    params.py    parameters -> provider keywords: refusals, renames, bound tools, structured output
    response.py  AIMessage -> `chat.completion`
    stream.py    AIMessageChunks -> `chat.completion.chunk` SSE events
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk

from gateway.api.chat_request import ChatCompletionRequest
from gateway.chat import stream as _stream
from gateway.chat.messages import to_langchain
from gateway.chat.params import prepare
from gateway.chat.response import completion_doc, usage_of
from gateway.providers.base import ProviderAdapter


async def complete(adapter: ProviderAdapter, model: BaseChatModel, req: ChatCompletionRequest,
                   model_name: str, completion_id: str) -> dict[str, Any]:
    """Run one non-streaming completion and return the OpenAI response document."""
    runnable, params = prepare(adapter, model, req)
    messages = to_langchain(req.messages)
    adapter.check_conversation(model, messages)
    try:
        result = await runnable.ainvoke(messages, **params)
    except Exception as exc:
        raise adapter.map_error(exc) from exc
    assert isinstance(result, AIMessage)
    doc = completion_doc(adapter, result, model_name, completion_id)  # its usage is noted: the tokens were spent
    calls = doc["choices"][0]["message"].get("tool_calls") or ()
    if len(calls) > 1 and one_call_only(adapter, req):
        raise _stream.too_many_calls(adapter.name, len(calls))
    return doc


def one_call_only(adapter: ProviderAdapter, req: ChatCompletionRequest) -> bool:
    """The request asks for one tool call at most, which the gateway holds for a provider with no switch for it."""
    return adapter.one_call_checked and req.parallel_tool_calls is False and bool(req.tools)


async def stream(adapter: ProviderAdapter, model: BaseChatModel, req: ChatCompletionRequest,
                 model_name: str, completion_id: str) -> AsyncGenerator[bytes, None]:
    """Open the upstream stream and return its OpenAI `chat.completion.chunk` SSE events, ending with [DONE].

    The first upstream chunk is awaited here, before any byte goes to the client, so a failure
    to start (429, 5xx, timeout) is still answered with its HTTP status and `Retry-After`;
    later failures become an error event. Cancellation (client gone) propagates into `astream`,
    which closes the upstream call.
    """
    runnable, params = prepare(adapter, model, req)
    messages = to_langchain(req.messages)
    adapter.check_conversation(model, messages)
    upstream = aiter(runnable.astream(messages, **params))
    try:  # the request goes out here: the SDK's upstream timeout bounds the wait for the first chunk
        first: AIMessageChunk | None = await anext(upstream, None)
    except Exception as exc:
        raise adapter.map_error(exc) from exc
    include_usage = req.stream_options.include_usage if req.stream_options else False
    idle_s = adapter.settings.stream_idle_timeout_s  # then each later chunk within GATEWAY_STREAM_IDLE_TIMEOUT_S
    most_calls = 1 if one_call_only(adapter, req) else None
    return _stream.events(adapter, first, upstream, idle_s, include_usage, model_name, completion_id, most_calls)


__all__ = ["complete", "prepare", "stream", "to_langchain", "usage_of"]
