"""Typed views of what the SDKs return as unions: each asserts the kind the test expects, then returns it.

A reply's content block is one of many kinds (text, tool use, thinking...), a chat tool call is a function
or a custom call, an error's body is whatever JSON came back: a test that reads one field first says which
kind it expects, here, so a reply of another kind fails there by name.
"""

from __future__ import annotations

from typing import Any

import anthropic
import openai
from anthropic.types import ContentBlock, TextBlock, ToolUseBlock
from anthropic.types.beta import BetaContentBlock, BetaTextBlock
from openai.types.chat import ChatCompletionMessageFunctionToolCall, ChatCompletionMessageToolCallUnion
from openai.types.chat.chat_completion_message_function_tool_call import Function


def text_of(block: ContentBlock | BetaContentBlock) -> str:
    """The text of an Anthropic text block (of the Messages API or its beta namespace)."""
    assert isinstance(block, TextBlock | BetaTextBlock), block
    return block.text


def tool_use(block: ContentBlock) -> ToolUseBlock:
    """An Anthropic content block that must be a client tool's call."""
    assert isinstance(block, ToolUseBlock), block
    return block


def function_of(call: ChatCompletionMessageToolCallUnion) -> Function:
    """The function (name and JSON arguments) of a chat tool call that must be a function's call."""
    assert isinstance(call, ChatCompletionMessageFunctionToolCall), call
    return call.function


def error_body(error: anthropic.APIError | openai.APIError) -> dict[str, Any]:
    """The JSON object an SDK's error carries as its body (`object | None` in both SDKs)."""
    body = error.body
    assert isinstance(body, dict), body
    return body
