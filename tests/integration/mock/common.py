"""What the mock-upstream suites share: the key it accepts, a tool request and the tool definitions."""

from __future__ import annotations

from typing import Any

from langchain_core.tools import tool

KEY = "sk-mock-test"
ROTATED = "sk-mock-rotated"
TOOL_ASK = 'weather in Paris? [[mock:tool=get_weather {"city": "Paris"}]]'
NO_RETRY: Any = {"max_retries": 0}  # cohere RequestOptions


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return "22C"


OPENAI_TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
ANTHROPIC_TOOLS: Any = [
    {"name": "get_weather", "description": "weather", "input_schema": {"type": "object", "properties": {}}}
]


def user(text: str) -> Any:
    """One user message in the OpenAI/Anthropic/Cohere list form."""
    return [{"role": "user", "content": text}]


def is_transport_error(exc: BaseException) -> bool:
    """Connection-level failure as raised by httpx/httpx2 or wrapped by an SDK."""
    return type(exc).__name__ in {"APIConnectionError", "RemoteProtocolError", "ReadError"}
