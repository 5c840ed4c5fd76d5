"""OpenAI request messages -> LangChain messages, with LangChain's own conversion."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    convert_to_messages,
)
from langchain_core.messages.tool import invalid_tool_call, tool_call

from gateway.api import strict_json
from gateway.api.chat_request import AssistantMessage, ChatMessage, ToolResultMessage


def to_langchain(messages: Sequence[ChatMessage]) -> list[BaseMessage]:
    """Convert OpenAI-style messages (tool calls, tool results, image parts) into LangChain messages.

    `convert_to_messages` turns `role: tool` into `ToolMessage` and keeps `image_url` parts, which
    each integration renders in its own wire form. Assistant tool calls become `AIMessage.tool_calls`,
    or `invalid_tool_calls` when their arguments are not a JSON object (sent on as they came): NaN or
    a lone surrogate in them is not JSON either, and a provider that sends arguments as an object could
    not encode them.
    """
    out: list[BaseMessage] = []
    for m in messages:
        text = m.content
        direct = _DIRECT.get(m.role) if isinstance(text, str) else None
        if direct is not None and isinstance(text, str):  # plain text: built directly, not dumped and converted back
            out.append(direct(content=text, name=m.name) if m.name else direct(content=text))
            continue
        if isinstance(m, AssistantMessage):
            out.append(_assistant(m))
            continue
        if isinstance(m, ToolResultMessage):  # a tool's result is text: its parts joined, as OpenAI reads them
            out.append(ToolMessage(content=m.text, tool_call_id=m.tool_call_id, **({"name": m.name} if m.name else {})))
            continue
        dumped = m.model_dump(exclude_none=True)
        out.extend(convert_to_messages([{**dumped, "content": dumped.get("content") or ""}]))
    return out


# The roles whose plain-text form maps 1:1 (what convert_to_messages would build for them).
_DIRECT: dict[str, type[HumanMessage] | type[SystemMessage]] = {"user": HumanMessage, "system": SystemMessage}


def _assistant(m: AssistantMessage) -> AIMessage:
    calls, invalid = [], []
    for call in m.tool_calls or ():
        args = json_object(call.function.arguments)
        if args is None:
            invalid.append(invalid_tool_call(name=call.function.name, args=call.function.arguments, id=call.id,
                                             error="arguments are not a JSON object"))
        else:
            calls.append(tool_call(name=call.function.name, args=args, id=call.id))
    content: str | list[Any] = m.model_dump(include={"content"}, exclude_none=True).get("content") or ""
    if isinstance(content, list):  # a refusal part is what the assistant said: text to the provider
        content = [{"type": "text", "text": p["refusal"]} if p["type"] == "refusal" else p for p in content]
    if m.refusal:  # what the assistant said in that turn, after its content if any (a reply has one or the other)
        if isinstance(content, str):
            content = f"{content}\n\n{m.refusal}" if content else m.refusal
        else:
            content = [*content, {"type": "text", "text": m.refusal}]
    if isinstance(content, list) and m.tool_calls:
        # The text beside tool calls is one string (their parts' text, joined): langchain-cohere sends it as the
        # call's `tool_plan`, which Cohere types as a string (a list failed the SDK's validation: a 502).
        content = "".join(part["text"] for part in content)
    extra = {"name": m.name} if m.name else {}
    return AIMessage(content=content, tool_calls=calls, invalid_tool_calls=invalid, **extra)


def json_object(text: str) -> dict[str, Any] | None:
    """Tool-call arguments as the object they hold; None when they are not a JSON object."""
    try:
        value = strict_json.loads(text.encode())
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
