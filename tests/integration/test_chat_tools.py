"""Tool calling, structured outputs and images through nginx, on every provider, with the official
`openai` SDK and LangChain's `ChatOpenAI` (the mock is told which tool to call with `[[mock:tool=…]]`)."""

from __future__ import annotations

import base64
import json
from typing import Any, Literal, cast

import httpx
import openai
import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage, ToolMessage
from langchain_openai import ChatOpenAI
from openai.types.chat import (
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageParam,
    ChatCompletionToolChoiceOptionParam,
    ChatCompletionToolParam,
)
from openai.types.shared_params import FunctionParameters, ResponseFormatJSONSchema
from pydantic import BaseModel, Field, SecretStr

import catalogue
from tests.integration.sdk_narrowing import error_body, function_of
from tests.support.stack import RunningStack

pytestmark = pytest.mark.integration

WEATHER: ChatCompletionToolParam = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                   "required": ["city", "days"]}}}
TIME: ChatCompletionToolParam = {"type": "function", "function": {
    "name": "get_time", "description": "Local time", "parameters": {"type": "object", "properties": {}}}}
ASK = 'weather please [[mock:tool=get_weather {"city": "Paris", "days": 2}]]'
PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 32).decode()


class GetWeather(BaseModel):
    """Current weather of a city."""

    city: str = Field(description="the city")
    days: int


class Person(BaseModel):
    """A person."""

    name: str
    age: int


def chat_openai(stack: RunningStack, provider: str, client: httpx.Client) -> ChatOpenAI:
    return ChatOpenAI(base_url=f"{stack.url}/{provider}/v1", api_key=SecretStr(stack.keys[provider]),
                      model=stack.model(provider), http_client=client, max_retries=0)


def test_sdk_tool_call_then_second_turn(stack: RunningStack, provider: str, sdk: openai.OpenAI) -> None:
    messages: list = [{"role": "user", "content": ASK}]
    first = sdk.chat.completions.create(model=stack.model(provider), messages=messages, tools=[WEATHER, TIME])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.id and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris", "days": 2}
    # The reply's message goes back as OpenAI's guide shows (the SDK sends its fields, `refusal: null` too).
    messages += [choice.message, {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"}]
    second = sdk.chat.completions.create(model=stack.model(provider), messages=messages, tools=[WEATHER])
    assert second.choices[0].finish_reason == "stop" and not second.choices[0].message.tool_calls
    assert second.choices[0].message.content == "Tool result: sunny, 21 C"


def test_sdk_replies_go_back_into_the_conversation_as_they_are(stack: RunningStack, provider: str,
                                                              sdk: openai.OpenAI) -> None:
    messages: list = [{"role": "user", "content": "first"}]
    first = sdk.chat.completions.create(model=stack.model(provider), messages=messages)
    messages += [first.choices[0].message, {"role": "user", "content": "second"},
                 {"role": "assistant", "content": None, "refusal": "I can't help with that."},
                 {"role": "user", "content": "third"}]
    second = sdk.chat.completions.create(model=stack.model(provider), messages=messages)
    assert second.choices[0].message.content == "Echo: third"
    with pytest.raises(openai.UnprocessableEntityError) as unknown:  # refused before any upstream call
        sdk.chat.completions.create(model=stack.model(provider), messages=messages, tools=[WEATHER],
                                    tool_choice={"type": "function", "function": {"name": "get_time"}})
    assert error_body(unknown.value)["param"] == "tool_choice"
    assert "'get_time', which is not in tools" in error_body(unknown.value)["message"]


def test_sdk_streamed_tool_call_assembles_the_same_arguments(stack: RunningStack, provider: str,
                                                             sdk: openai.OpenAI) -> None:
    chunks = list(sdk.chat.completions.create(model=stack.model(provider), stream=True, tools=[WEATHER],
                                              messages=[{"role": "user", "content": ASK}]))
    deltas = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].index == 0 and deltas[0].id and deltas[0].type == "function"
    assert deltas[0].function and deltas[0].function.name == "get_weather"
    assert all(d.index == 0 and d.id is None and d.function and d.function.name is None for d in deltas[1:])
    assert len(deltas) >= 2  # arguments really arrive in pieces
    args = "".join(d.function.arguments or "" for d in deltas if d.function)
    assert json.loads(args) == {"city": "Paris", "days": 2}
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]
    # The assembled reply's content is the unstreamed one's: null where the reply is only the call (a stream then
    # opens with the call and no content, as OpenAI's), Cohere's tool plan where it says one.
    plain = sdk.chat.completions.create(model=stack.model(provider), tools=[WEATHER],
                                        messages=[{"role": "user", "content": ASK}]).choices[0].message
    with sdk.chat.completions.stream(model=stack.model(provider), tools=[WEATHER],
                                     messages=[{"role": "user", "content": ASK}]) as stream:
        message = stream.get_final_completion().choices[0].message
    assert message.content == plain.content and message.tool_calls
    first = chunks[0].choices[0].delta
    if plain.content is None:
        assert (first.role, first.content, bool(first.tool_calls)) == ("assistant", None, True)


def test_a_tool_call_cut_by_max_tokens_keeps_what_was_written(stack: RunningStack, provider: str,
                                                               sdk: openai.OpenAI) -> None:
    # OpenAI's models can run out of max_tokens inside a call's arguments: the client gets the arguments written
    # so far and finish_reason "length", plain and streamed (the mock does so on the OpenAI wire; others send
    # the call whole).
    cut = catalogue.provider(provider).mock_protocol == "openai"
    expected = ('{"city":', "length") if cut else ('{"city":"Paris","days":2}', "tool_calls")
    ask: list[ChatCompletionMessageParam] = [{"role": "user", "content": ASK}]
    reply = sdk.chat.completions.create(model=stack.model(provider), messages=ask, tools=[WEATHER], max_tokens=3)
    calls = reply.choices[0].message.tool_calls or []
    assert [(function_of(c).name, function_of(c).arguments) for c in calls] == [("get_weather", expected[0])]
    assert reply.choices[0].finish_reason == expected[1]
    chunks = list(sdk.chat.completions.create(model=stack.model(provider), messages=ask, tools=[WEATHER],
                                              max_tokens=3, stream=True))
    deltas = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    streamed = "".join(d.function.arguments or "" for d in deltas if d.function)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert (streamed, finishes) == (expected[0], [expected[1]])
    with httpx.Client(verify=str(stack.ca)) as client:  # LangChain files a call it cannot parse as invalid
        llm = chat_openai(stack, provider, client).bind_tools([cast(dict[str, Any], WEATHER)])
        message = llm.invoke(ASK, max_tokens=3)
    invalid = [(c["name"], c["args"]) for c in message.invalid_tool_calls]
    assert invalid == ([("get_weather", '{"city":')] if cut else [])
    assert [c["args"] for c in message.tool_calls] == ([] if cut else [{"city": "Paris", "days": 2}])


@pytest.mark.parametrize(("choice", "called"), [
    ("required", "get_weather"), ({"type": "function", "function": {"name": "get_time"}}, "get_time"),
    ("none", None), ("auto", None)])
def test_sdk_tool_choice(stack: RunningStack, provider: str, sdk: openai.OpenAI,
                         choice: ChatCompletionToolChoiceOptionParam, called: str | None) -> None:
    resp = sdk.chat.completions.create(model=stack.model(provider), tools=[WEATHER, TIME], tool_choice=choice,
                                       messages=[{"role": "user", "content": "what now"}])
    calls = resp.choices[0].message.tool_calls or []
    assert [function_of(c).name for c in calls] == ([called] if called else [])
    if called == "get_weather":  # a forced call without a directive: arguments from the schema
        assert json.loads(function_of(calls[0]).arguments) == {"city": "mock", "days": 1}


def test_content_parts_of_tool_results_and_assistant_refusals_are_text(stack: RunningStack, provider: str,
                                                                       sdk: openai.OpenAI) -> None:
    messages: list = [
        {"role": "user", "content": "risky"},
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "I won't."}]},
        {"role": "user", "content": ASK},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "sunny, "},
                                                           {"type": "text", "text": "21 C"}]}]
    resp = sdk.chat.completions.create(model=stack.model(provider), messages=messages, tools=[WEATHER])
    assert resp.choices[0].message.content == "Tool result: sunny, 21 C"  # not the parts' JSON


def test_a_function_without_parameters_takes_none(stack: RunningStack, provider: str, sdk: openai.OpenAI) -> None:
    # OpenAI: "omitting parameters defines a function with an empty parameter list" (langchain-anthropic
    # needs the key: it was a failure of the gateway on Anthropic).
    now: ChatCompletionFunctionToolParam = {"type": "function", "function": {"name": "now"}}
    resp = sdk.chat.completions.create(model=stack.model(provider), tools=[now], tool_choice="required",
                                       messages=[{"role": "user", "content": "what time is it"}])
    calls = resp.choices[0].message.tool_calls or []
    # (The mock refuses an Anthropic tool without `input_schema`, as Anthropic does.)
    assert [(function_of(c).name, json.loads(function_of(c).arguments)) for c in calls] == [("now", {})]
    # Streamed, the fragments join into the same `{}` (Anthropic streams an empty input as one empty fragment).
    chunks = sdk.chat.completions.create(model=stack.model(provider), tools=[now], tool_choice="required",
                                         messages=[{"role": "user", "content": "what time is it"}], stream=True)
    fragments = [d.function.arguments or "" for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or []
                 if d.function]
    assert "".join(fragments) == "{}"


def test_an_integer_beyond_64_bits_in_a_tool_call_reaches_the_client_exactly(stack: RunningStack, provider: str,
                                                                             sdk: openai.OpenAI) -> None:
    big = 123456789012345678901234567890  # what a model may write for an id; Python reads it exactly
    ask = f'weather please [[mock:tool=get_weather {{"city": "Paris", "days": {big}}}]]'
    for stream in (False, True):
        if stream:
            chunks = list(sdk.chat.completions.create(model=stack.model(provider), tools=[WEATHER], stream=True,
                                                      messages=[{"role": "user", "content": ask}]))
            deltas = [c.choices[0].delta.tool_calls[0] for c in chunks if c.choices and c.choices[0].delta.tool_calls]
            assert all(d.function for d in deltas)
            arguments = "".join(d.function.arguments or "" for d in deltas if d.function)
        else:
            resp = sdk.chat.completions.create(model=stack.model(provider), tools=[WEATHER],
                                               messages=[{"role": "user", "content": ask}])
            calls = resp.choices[0].message.tool_calls
            assert calls
            arguments = function_of(calls[0]).arguments
        assert json.loads(arguments) == {"city": "Paris", "days": big}, stream


@pytest.mark.local_stack  # reads the mock's last request: no other client may send in between
def test_an_integer_beyond_64_bits_in_a_tool_schema_reaches_the_provider_exactly(stack: RunningStack, provider: str,
                                                                                 sdk: openai.OpenAI,
                                                                                 http: httpx.Client) -> None:
    bound = 123456789012345678901234567890
    tool: ChatCompletionFunctionToolParam = {"type": "function", "function": {"name": "count", "parameters": {
        "type": "object", "properties": {"n": {"type": "integer", "maximum": bound}}}}}
    sdk.chat.completions.create(model=stack.model(provider), tools=[tool],
                                messages=[{"role": "user", "content": "count"}])
    sent = json.dumps(http.get(f"{stack.mock_url}/_mock/stats").json()[provider]["last_params"])
    assert str(bound) in sent and "1.2345678901234568e+29" not in sent


@pytest.mark.local_stack  # reads the mock's last request: no other client may send in between
def test_a_strict_function_is_strict_in_the_providers_own_form(stack: RunningStack, provider: str,
                                                               sdk: openai.OpenAI, http: httpx.Client) -> None:
    schema: FunctionParameters = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                                  "additionalProperties": False}
    strict: list[ChatCompletionFunctionToolParam] = [
        {"type": "function", "function": {"name": name, "parameters": schema, "strict": True}}
        for name in ("get_weather", "get_time")]
    resp = sdk.chat.completions.create(model=stack.model(provider), tools=strict,
                                       messages=[{"role": "user", "content": ASK}])
    assert resp.choices[0].message.tool_calls
    sent = http.get(f"{stack.mock_url}/_mock/stats").json()[provider]["last_params"]
    if provider == "anthropic":  # per tool, beside its input_schema
        assert [t.get("strict") for t in sent["tools"]] == [True, True]
    elif provider == "cohere":  # one switch for every tool; Cohere's function has no `strict`
        assert sent.get("strict_tools") is True
        assert ["strict" in t["function"] for t in sent["tools"]] == [False, False]
    else:  # OpenAI's own form
        assert [t["function"].get("strict") for t in sent["tools"]] == [True, True]
    mixed: list[ChatCompletionFunctionToolParam] = [
        strict[0], {"type": "function", "function": {"name": "get_time", "parameters": schema}}]
    if provider == "cohere":
        with pytest.raises(openai.BadRequestError) as refused:
            sdk.chat.completions.create(model=stack.model(provider), tools=mixed,
                                        messages=[{"role": "user", "content": "x"}])
        assert error_body(refused.value)["param"] == "tools.1.function.strict"
    else:
        sdk.chat.completions.create(model=stack.model(provider), tools=mixed,
                                    messages=[{"role": "user", "content": "x"}])
        sent = http.get(f"{stack.mock_url}/_mock/stats").json()[provider]["last_params"]
        tools = sent["tools"] if provider == "anthropic" else [t["function"] for t in sent["tools"]]
        assert [t.get("strict") for t in tools] == [True, None]


def test_sdk_json_schema_response_format(stack: RunningStack, provider: str, sdk: openai.OpenAI) -> None:
    fmt: ResponseFormatJSONSchema = {"type": "json_schema", "json_schema": {
        "name": "person", "strict": True, "schema": {
            "type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            "required": ["name", "age"], "additionalProperties": False}}}
    resp = sdk.chat.completions.create(model=stack.model(provider), response_format=fmt,
                                       messages=[{"role": "user", "content": "who is it"}])
    assert json.loads(resp.choices[0].message.content or "") == {"name": "mock", "age": 1}


# The providers whose API has a refusal of its own (OpenAI's `message.refusal`): their wire protocol is OpenAI's.
REFUSING = [p for p in catalogue.names() if catalogue.provider(p).mock_protocol == "openai"]


@pytest.mark.parametrize("provider", REFUSING)
def test_a_refusal_reaches_the_sdk_as_a_refusal(stack: RunningStack, provider: str, sdk: openai.OpenAI) -> None:
    says = "I can't help with that request."
    ask: list[ChatCompletionMessageParam] = [{"role": "user", "content": f"who is it [[mock:refusal={says}]]"}]
    parsed = sdk.chat.completions.parse(model=stack.model(provider), messages=ask,
                                        response_format=Person)
    message = parsed.choices[0].message
    assert (message.refusal, message.content, message.parsed) == (says, None, None)
    chunks = list(sdk.chat.completions.create(model=stack.model(provider), messages=ask,
                                              stream=True))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(d.refusal or "" for d in deltas) == says and not "".join(d.content or "" for d in deltas)
    assert (deltas[0].role, deltas[0].content) == ("assistant", None)  # as OpenAI opens a refusal: no content
    pieces = [d.refusal for d in deltas if d.refusal]
    assert len(pieces) > 1
    with sdk.chat.completions.stream(model=stack.model(provider), messages=ask,
                                     response_format=Person) as stream:
        # under structured outputs too, the refusal streams as the model says it, once
        assert [e.delta for e in stream if e.type == "refusal.delta" and e.delta] == pieces
        message = stream.get_final_completion().choices[0].message
        assert (message.refusal, message.content) == (says, None)


def test_the_backend_fingerprint_reaches_the_sdk(stack: RunningStack, provider: str, sdk: openai.OpenAI) -> None:
    # OpenAI names the backend configuration that served a request (what a client sending `seed` compares):
    # in a reply, and in a stream's finish and usage chunks (LangChain learns it with the finish reason).
    expected = "fp_mockllm01" if catalogue.provider(provider).mock_protocol == "openai" else None
    ask: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello"}]
    reply = sdk.chat.completions.create(model=stack.model(provider), messages=ask)
    assert reply.system_fingerprint == expected
    chunks = list(sdk.chat.completions.create(model=stack.model(provider), messages=ask,
                                              stream=True, stream_options={"include_usage": True}))
    assert [c.system_fingerprint for c in chunks[-2:]] == [expected, expected]


def test_sdk_json_object_response_format(stack: RunningStack, provider: str, sdk: openai.OpenAI) -> None:
    call = {"model": stack.model(provider), "response_format": {"type": "json_object"},
            "messages": [{"role": "user", "content": "as json"}]}
    if provider == "anthropic":  # no schemaless JSON mode at Anthropic: refused, not ignored
        with pytest.raises(openai.BadRequestError) as info:
            sdk.chat.completions.create(**call)
        assert error_body(info.value)["param"] == "response_format"
        return
    resp = sdk.chat.completions.create(**call)
    assert json.loads(resp.choices[0].message.content or "") == {"echo": "as json"}


def test_sdk_image_parts_reach_the_provider(stack: RunningStack, provider: str, sdk: openai.OpenAI) -> None:
    content = [{"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": PNG}},
               {"type": "image_url", "image_url": {"url": "https://example.org/cat.png", "detail": "auto"}}]
    resp = sdk.chat.completions.create(model=stack.model(provider), messages=[{"role": "user", "content": content}])
    # the mock echoes one marker per image it received in the provider's own image format
    assert resp.choices[0].message.content == "Echo: what is this [image] [image]"
    low = [*content[:2], {"type": "image_url", "image_url": {"url": "https://example.org/cat.png", "detail": "low"}}]
    if provider == "anthropic":  # Anthropic sizes images itself: a detail it cannot honour is refused by name
        with pytest.raises(openai.BadRequestError) as refused:
            sdk.chat.completions.create(model=stack.model(provider), messages=[{"role": "user", "content": low}])
        assert error_body(refused.value)["param"] == "messages.0.content.2.image_url.detail"
    else:
        resp = sdk.chat.completions.create(model=stack.model(provider), messages=[{"role": "user", "content": low}])
        assert resp.choices[0].message.content == "Echo: what is this [image] [image]"


@pytest.mark.parametrize("url", ["http://example.org/cat.png", "file:///etc/passwd", "data:text/plain;base64,aGk="])
def test_image_urls_other_than_https_or_data_images_are_refused(stack: RunningStack, http: httpx.Client,
                                                                url: str) -> None:
    body = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]}
    resp = http.post(f"{stack.url}/openai/v1/chat/completions", json=body,
                     headers={"Authorization": f"Bearer {stack.keys['openai']}"})
    assert resp.status_code == 422 and resp.json()["error"]["param"].startswith("messages.0.user.content")


def test_langchain_bind_tools_two_turns(stack: RunningStack, provider: str) -> None:
    with httpx.Client(verify=str(stack.ca)) as client:
        llm = chat_openai(stack, provider, client).bind_tools([GetWeather])
        ask = HumanMessage('weather? [[mock:tool=GetWeather {"city": "Oslo", "days": 3}]]')
        first = llm.invoke([ask])
        assert [(c["name"], c["args"]) for c in first.tool_calls] == [("GetWeather", {"city": "Oslo", "days": 3})]
        result = ToolMessage("snow", tool_call_id=first.tool_calls[0]["id"])
        second = llm.invoke([ask, first, result])
        assert second.text == "Tool result: snow" and not second.tool_calls
        streamed: AIMessageChunk | None = None
        for piece in llm.stream([ask]):
            assert isinstance(piece, AIMessageChunk)
            streamed = piece if streamed is None else streamed + piece
    assert streamed is not None
    assert [(c["name"], c["args"]) for c in streamed.tool_calls] == [("GetWeather", {"city": "Oslo", "days": 3})]


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_langchain_with_structured_output(stack: RunningStack, provider: str,
                                         method: Literal["json_schema", "function_calling"]) -> None:
    # function_calling forces one tool and sends parallel_tool_calls false (Cohere: held by the gateway).
    with httpx.Client(verify=str(stack.ca)) as client:
        llm = chat_openai(stack, provider, client).with_structured_output(Person, method=method)
        assert llm.invoke("describe someone") == Person(name="mock", age=1)
        assert list(llm.stream("describe someone"))[-1] == Person(name="mock", age=1)
