"""Structured output through nginx, with the official `openai` SDK, on every provider: a reply under a
`response_format` ends as the provider ended it, and the format goes with any function tool.

OpenAI's API answers such a request like any other: a reply cut by `max_tokens` is a 200 with `finish_reason:
"length"`, a filtered one `content_filter`, and a tool without `strict` may sit beside a `json_schema`. Handed a
`response_format`, ChatOpenAI goes through the SDK's parse and stream helpers, which raise on all three
(`LengthFinishReasonError`, `ContentFilterFinishReasonError`, a ValueError for the tool): the client got a 502
or an error event. The OpenAI-protocol adapters send the format as a body field instead (`param_map`).
"""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam, ChatCompletionToolParam
from openai.types.shared_params import ResponseFormatJSONSchema

import catalogue
from gateway.providers import adapter_class
from tests.integration.sdk_narrowing import error_body, function_of
from tests.support.stack import RunningStack

pytestmark = pytest.mark.integration

ECHO: ResponseFormatJSONSchema = {"type": "json_schema", "json_schema": {
    "name": "echo", "schema": {"type": "object", "properties": {"echo": {"type": "string"}}}}}
SAID = {"echo": "mock"}  # the mock's answer to that schema
# No `strict`: OpenAI takes it beside a json_schema (the SDK's parse helper refuses it).
LOOKUP: ChatCompletionToolParam = {"type": "function", "function": {
    "name": "lookup", "parameters": {"type": "object", "properties": {"term": {"type": "string"}}}}}


def _stop_words(reason: str) -> list[tuple[str, str]]:
    """(provider, its own stop reason) for each provider that has one reading as OpenAI's `reason`."""
    pairs = []
    for name in catalogue.names():
        words = [word for word, means in adapter_class(name).finish_reasons.items() if means == reason]
        pairs += [(name, words[0])] if words else []
    return pairs


def _streamed(chunks: list[ChatCompletionChunk]) -> tuple[str, list[str]]:
    """A stream's text and its finish reasons."""
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]


@pytest.mark.parametrize(("provider", "word", "reason"), [
    *((p, w, "length") for p, w in _stop_words("length")),
    *((p, w, "content_filter") for p, w in _stop_words("content_filter"))])
def test_a_structured_reply_ends_with_the_providers_own_stop_reason(stack: RunningStack, provider: str,
                                                                    sdk: openai.OpenAI, word: str,
                                                                    reason: str) -> None:
    ask: list[ChatCompletionMessageParam] = [{"role": "user", "content": f"as json [[mock:finish={word}]]"}]
    reply = sdk.chat.completions.create(model=stack.model(provider), messages=ask, response_format=ECHO)
    assert reply.choices[0].finish_reason == reason
    assert json.loads(reply.choices[0].message.content or "") == SAID
    chunks = list(sdk.chat.completions.create(model=stack.model(provider), messages=ask, response_format=ECHO,
                                              stream=True))
    text, finishes = _streamed(chunks)
    assert (json.loads(text), finishes) == (SAID, [reason])


def test_a_json_schema_goes_with_a_tool_that_is_not_strict(stack: RunningStack, provider: str,
                                                           sdk: openai.OpenAI) -> None:
    model = stack.model(provider)
    ask: list[ChatCompletionMessageParam] = [{"role": "user", "content": "as json"}]
    reply = sdk.chat.completions.create(model=model, messages=ask, response_format=ECHO, tools=[LOOKUP])
    assert (json.loads(reply.choices[0].message.content or ""), reply.choices[0].finish_reason) == (
        SAID, "stop")
    text, finishes = _streamed(list(sdk.chat.completions.create(
        model=model, messages=ask, response_format=ECHO, tools=[LOOKUP], stream=True)))
    assert (json.loads(text), finishes) == (SAID, ["stop"])
    called: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": 'look it up [[mock:tool=lookup {"term": "gateway"}]]'}]
    reply = sdk.chat.completions.create(model=model, messages=called, response_format=ECHO, tools=[LOOKUP])
    calls = [function_of(call) for call in reply.choices[0].message.tool_calls or []]
    assert [(f.name, json.loads(f.arguments)) for f in calls] == [("lookup", {"term": "gateway"})]
    assert reply.choices[0].finish_reason == "tool_calls"
    chunks = list(sdk.chat.completions.create(model=model, messages=called, response_format=ECHO, tools=[LOOKUP],
                                              stream=True))
    deltas = [d for c in chunks if c.choices for d in (c.choices[0].delta.tool_calls or [])]
    arguments = "".join(d.function.arguments or "" for d in deltas if d.function)
    assert (json.loads(arguments), _streamed(chunks)[1]) == ({"term": "gateway"}, ["tool_calls"])


@pytest.mark.parametrize("provider", [p for p in catalogue.names() if catalogue.provider(p).mock_protocol == "openai"])
def test_a_strict_call_cut_by_max_tokens_under_a_json_schema_keeps_what_was_written(
        stack: RunningStack, provider: str, sdk: openai.OpenAI) -> None:
    # The parse helper would `json.loads` a strict tool's cut arguments (a JSONDecodeError, a 502).
    strict: ChatCompletionToolParam = {"type": "function", "function": {**LOOKUP["function"], "strict": True}}
    ask: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": 'look it up [[mock:tool=lookup {"term": "gateway"}]]'}]
    reply = sdk.chat.completions.create(model=stack.model(provider), messages=ask, response_format=ECHO,
                                        tools=[strict], max_tokens=3)
    calls = [function_of(call) for call in reply.choices[0].message.tool_calls or []]
    assert [(f.name, f.arguments) for f in calls] == [("lookup", '{"term":')]
    assert reply.choices[0].finish_reason == "length"


@pytest.mark.local_stack  # reads the mock's last request: no other client may send in between
def test_a_json_schema_reaches_the_provider_as_the_client_wrote_it(stack: RunningStack, provider: str,
                                                                   sdk: openai.OpenAI, http: httpx.Client) -> None:
    # Not strict, an optional property, an open map: nothing of it may be tightened on the way (langchain-mistralai's
    # json_schema method forces `strict` and makes every property required).
    schema = {"type": "object", "properties": {"echo": {"type": "string"}, "nick": {"type": "string"},
                                               "tags": {"type": "object", "additionalProperties": {"type": "string"}}},
              "required": ["echo"]}
    fmt: ResponseFormatJSONSchema = {"type": "json_schema", "json_schema": {"name": "echo", "schema": schema,
                                                                             "strict": False}}
    if provider == "anthropic":  # its structured outputs close every object: the open map is refused by name
        with pytest.raises(openai.BadRequestError) as refused:
            sdk.chat.completions.create(model=stack.model(provider), response_format=fmt,
                                        messages=[{"role": "user", "content": "as json"}])
        assert error_body(refused.value)["param"] == "response_format.json_schema.schema.properties.tags" \
                                                     ".additionalProperties"
        del schema["properties"]["tags"]
    reply = sdk.chat.completions.create(model=stack.model(provider), response_format=fmt,
                                        messages=[{"role": "user", "content": "as json"}])
    assert json.loads(reply.choices[0].message.content or "")["echo"] == "mock"
    sent = http.get(f"{stack.mock_url}/_mock/stats").json()[provider]["last_params"]
    if provider == "anthropic":  # closed, as Anthropic requires; what was optional stays so
        assert sent["output_config"]["format"]["schema"]["required"] == ["echo"]
    elif provider == "cohere":  # Cohere's form: the schema under a JSON mode, the name as its title
        assert sent["response_format"] == {"type": "json_object", "schema": {"title": "echo", **schema}}
    else:
        assert sent["response_format"] == fmt
