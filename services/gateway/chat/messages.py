"""OpenAI request messages -> LangChain messages, with LangChain's own conversion."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.messages import BaseMessage, convert_to_messages

from gateway.api.chat_request import ChatMessage


def to_langchain(messages: Sequence[ChatMessage]) -> list[BaseMessage]:
    """Convert OpenAI-style messages (tool calls, tool results, image parts) into LangChain messages.

    `convert_to_messages` turns `tool_calls` into `AIMessage.tool_calls`, `role: tool` into
    `ToolMessage` and keeps `image_url` parts, which each integration renders in its own wire form.
    """
    # LangChain wants a content key; OpenAI allows null content beside tool_calls.
    dumped = [m.model_dump(exclude_none=True) for m in messages]
    return convert_to_messages([{**d, "content": d.get("content") or ""} for d in dumped])
