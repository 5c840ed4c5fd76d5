"""The openai SDK's body transform skipped only where it is the identity (gateway/providers/openai_body.py)."""

from __future__ import annotations

import datetime
from typing import Annotated, Any

import openai
import pydantic
import pytest
import typing_extensions
from openai._utils import PropertyInfo, async_maybe_transform
from openai.resources import embeddings
from openai.resources.chat.completions import completions
from openai.types import embedding_create_params
from openai.types.chat import completion_create_params

from gateway.providers import openai_body

CHAT = completion_create_params.CompletionCreateParamsNonStreaming
CHAT_STREAM = completion_create_params.CompletionCreateParamsStreaming
TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city.", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
    "required": ["city"], "additionalProperties": False}, "strict": True}}

# Bodies as the SDK's create() hands them to the transform: what LangChain passed, every other
# parameter an omitted marker.
BODIES: list[tuple[Any, dict[str, Any]]] = [
    (CHAT, {"messages": [{"role": "user", "content": "Hello"}], "model": "gpt-4o-mini", "max_tokens": 64,
            "temperature": openai.omit, "stream": False, "top_p": openai.NOT_GIVEN, "user": openai.omit}),
    (CHAT, {"messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}],
        "model": "gpt-4o", "tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False, "stop": ["\n\n", "END"], "logit_bias": {"50256": -100}, "seed": 7,
        "metadata": {"team": "search"}, "n": 1, "presence_penalty": 0.5, "frequency_penalty": -0.5,
        "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}}},
        "logprobs": True, "top_logprobs": 2, "service_tier": openai.omit}),
    (CHAT_STREAM, {"messages": [{"role": "user", "content": "Hi"}], "model": "gpt-4o-mini", "stream": True,
                   "stream_options": {"include_usage": True}, "max_completion_tokens": 16, "audio": openai.omit}),
    (embedding_create_params.EmbeddingCreateParams,
     {"input": ["one", "two"], "model": "text-embedding-3-small", "dimensions": 256, "encoding_format": "float",
      "user": openai.omit}),
]


class Aliased(typing_extensions.TypedDict, total=False):
    card_id: typing_extensions.Required[Annotated[str, PropertyInfo(alias="cardID")]]


class Formatted(typing_extensions.TypedDict, total=False):
    when: Annotated[datetime.date, PropertyInfo(format="iso8601")]


class Outer(typing_extensions.TypedDict, total=False):
    cards: list[Aliased]  # the alias sits two levels down
    note: str


class Dangling(typing_extensions.TypedDict, total=False):
    later: NotDefinedAnywhere  # pyright: ignore[reportUndefinedVariable]  # noqa: F821 - never defined, on purpose


class Point(pydantic.BaseModel):
    x: int


@pytest.mark.parametrize(("params", "body"), BODIES, ids=["minimal", "everything", "stream", "embeddings"])
async def test_a_plain_body_is_passed_on_equal_to_the_sdks_own_transform(params: Any, body: dict[str, Any]) -> None:
    skipping = openai_body.skip_when_identity(async_maybe_transform)
    ours = await skipping(body, params)
    assert ours == await async_maybe_transform(body, params)
    assert not any(value is openai.omit or value is openai.NOT_GIVEN for value in ours.values())
    assert ours is not body  # a new top level, as the SDK's transform builds: the caller's dict is untouched


@pytest.mark.parametrize("params", [CHAT, CHAT_STREAM, embedding_create_params.EmbeddingCreateParams])
def test_the_params_the_gateway_sends_declare_no_alias_and_no_format(params: Any) -> None:
    assert openai_body.transforms_nothing(params)


@pytest.mark.parametrize("params", [Aliased, Formatted, Outer, Dangling, dict[str, Any], list[Aliased], str])
def test_types_that_transform_or_cannot_be_proven_not_to_are_left_to_the_sdk(params: Any) -> None:
    assert not openai_body.transforms_nothing(params)


@pytest.mark.parametrize(("params", "body"), [
    (Outer, {"cards": [{"card_id": "c1"}], "note": "x"}),  # renamed by the SDK: cardID
    (Formatted, {"when": datetime.date(2026, 12, 4)}),  # formatted by the SDK: an ISO string
    (CHAT, {"messages": [{"role": "user", "content": "Hi", "name": openai.omit}], "model": "m"}),  # nested marker
    (CHAT, {"messages": ({"role": "user", "content": "Hi"},), "model": "m"}),  # a tuple becomes a list
    (CHAT, {"messages": [{"role": "user", "content": "Hi"}], "model": "m", "metadata": Point(x=1)}),  # a model
    (CHAT, {"messages": [{"role": "user", "content": "Hi"}], "model": "m", "logit_bias": {1: 5}}),  # a non-str key
])
async def test_anything_else_goes_through_the_sdks_transform(params: Any, body: dict[str, Any]) -> None:
    seen: list[object] = []

    async def sdk(data: object, expected_type: object) -> Any:
        seen.append(data)
        return await async_maybe_transform(data, expected_type)

    skipping = openai_body.skip_when_identity(sdk)
    assert await skipping(body, params) == await async_maybe_transform(body, params)
    assert seen == [body]


async def test_none_and_non_dict_bodies_go_through_the_sdk() -> None:
    skipping = openai_body.skip_when_identity(async_maybe_transform)
    assert await skipping(None, CHAT) is None
    assert await skipping(["a"], list[str]) == ["a"]


def test_install_wraps_the_chat_and_embeddings_modules_once() -> None:
    openai_body.install()
    # The name each SDK module imports, read where it is bound there: install() swaps that binding for a
    # functools.wraps wrapper (whose __wrapped__ the function's type does not declare).
    first = completions.async_maybe_transform  # pyright: ignore[reportPrivateImportUsage] - that module's binding
    openai_body.install()
    assert completions.async_maybe_transform is first  # pyright: ignore[reportPrivateImportUsage] - as above
    assert (embeddings.async_maybe_transform  # pyright: ignore[reportPrivateImportUsage] - that module's binding
            .__wrapped__ is async_maybe_transform)  # pyright: ignore[reportFunctionMemberAccess] - the wrapper's
    assert first.__wrapped__ is async_maybe_transform  # pyright: ignore[reportFunctionMemberAccess] - the wrapper's
