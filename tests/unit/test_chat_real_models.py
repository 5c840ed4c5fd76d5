"""Request preparation on the real LangChain models, built as the gateway builds them: what their profiles,
converters and API choices would do with a request, before any call goes out."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
from langchain_cohere.chat_models import get_cohere_chat_request_v2
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableBinding
from langchain_openai import ChatOpenAI

import catalogue
from gateway import chat
from gateway.errors import InvalidRequestError
from gateway.providers import adapter_class
from tests.unit.test_gateway_chat import adapter, request


@pytest.mark.parametrize(("provider", "model_name"), [("openai", "gpt-6-luna"), ("anthropic", "claude-opus-4-8")])
def test_a_temperature_the_models_profile_refuses_is_a_400_naming_it(provider: str, model_name: str) -> None:
    # Real LangChain models, built as the gateway builds them: their profile says they take no temperature.
    model = adapter(provider).build_model(model_name, "test-key")
    with pytest.raises(InvalidRequestError) as info:
        chat.prepare(adapter(provider), model, request(temperature=0.2))
    assert (info.value.status, info.value.param, info.value.code) == (400, "temperature", "unsupported_parameter")
    assert model_name in info.value.message
    for allowed in ({}, {"temperature": 1}):  # unset, or the only value such a model takes
        _, params = chat.prepare(adapter(provider), model, request(**allowed))
        assert params.get("temperature", 1) == 1


@pytest.mark.parametrize(("provider", "model_name"), [("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-6")])
def test_a_model_that_takes_a_temperature_gets_it(provider: str, model_name: str) -> None:
    model = adapter(provider).build_model(model_name, "test-key")
    _, params = chat.prepare(adapter(provider), model, request(temperature=0.2))
    assert params["temperature"] == 0.2


@pytest.mark.parametrize("provider", ["openai", "local-llama"])
@pytest.mark.parametrize("model_name", ["gpt-4o-mini", "gpt-5-pro", "gpt-6-luna"])
def test_the_upstream_call_is_always_chat_completions(provider: str, model_name: str) -> None:
    # ChatOpenAI left to itself builds a Responses API request ("input", to /v1/responses) for these models.
    model = adapter(provider).build_model(model_name, "test-key")
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
    runnable, params = chat.prepare(adapter(provider), model, request(tools=[tool], max_tokens=5))
    assert isinstance(runnable, RunnableBinding)
    assert isinstance(model, ChatOpenAI)  # local-llama's model too: the OpenAI integration, at another base URL
    payload = model._get_request_payload([HumanMessage("hi")], **runnable.kwargs, **params)
    assert "messages" in payload and "input" not in payload


@pytest.mark.parametrize("provider", ["openai", "local-llama"])
def test_a_response_format_is_a_body_field_so_langchain_makes_a_plain_create_call(provider: str) -> None:
    # Given `response_format` itself, ChatOpenAI calls the SDK's parse and stream helpers, which raise on a
    # `length` or `content_filter` finish and refuse a tool without `strict` (test_chat_structured_endings.py).
    model = adapter(provider).build_model("gpt-4o-mini", "test-key")
    fmt = {"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object"}}}
    extra = {"metadata": {"team": "a"}} if provider == "openai" else {}  # local-llama refuses metadata
    _, params = chat.prepare(adapter(provider), model, request(response_format=fmt, **extra))
    assert isinstance(model, ChatOpenAI)
    payload = model._get_request_payload([HumanMessage("hi")], **params)
    assert "response_format" not in payload
    assert payload["extra_body"] == {**extra, "response_format": fmt}  # one body, metadata kept beside it


JSON_SCHEMA_PROVIDERS = [p for p in catalogue.names() if "json_schema" in adapter_class(p).structured_methods]


@pytest.mark.parametrize("provider", JSON_SCHEMA_PROVIDERS)
@pytest.mark.parametrize("spec", [{"name": "n"}, {"name": "n", "schema": {}}, {"name": "n", "schema": {
    "type": "object"}}], ids=["no schema", "empty", "no properties"])
def test_a_json_schema_without_properties_is_taken_by_every_provider(provider: str, spec: dict) -> None:
    model = adapter(provider).build_model(catalogue.provider(provider).models[0], "test-key")
    _, params = chat.prepare(adapter(provider), model, request(response_format={"type": "json_schema",
                                                                                "json_schema": spec}))
    assert params  # the binding's keywords: the schema, in the provider's form


@pytest.mark.parametrize(("provider", "schema", "raised"), [
    ("anthropic", {"properties": {"a": {}}}, "ValueError: Schema must have a 'type'"),  # no top-level type
    ("anthropic", {"type": "object", "properties": {"a": {"type": "nope"}}}, "AssertionError"),
])
def test_a_schema_the_integration_cannot_convert_is_the_clients_400(provider: str, schema: dict,
                                                                    raised: str) -> None:
    # Real LangChain models: with_structured_output converts the schema before any call goes out.
    model = adapter(provider).build_model(catalogue.provider(provider).models[0], "test-key")
    fmt = {"type": "json_schema", "json_schema": {"name": "out", "schema": schema}}
    with pytest.raises(InvalidRequestError) as info:
        chat.prepare(adapter(provider), model, request(response_format=fmt))
    param = "response_format.json_schema.schema"
    assert (info.value.status, info.value.param, info.value.code) == (400, param, "unsupported_schema")
    assert info.value.message.startswith(f"{param}: the {provider} provider's integration cannot convert this "
                                         f"schema ({raised}")


@pytest.mark.parametrize("schema", [{"type": "object", "properties": []}, {"anyOf": 3}])
def test_a_provider_taking_openais_form_judges_the_schema_itself(schema: dict) -> None:
    # Mistral, as OpenAI: the schema goes as written (langchain-mistralai's converter raised on these).
    model = adapter("mistral").build_model(catalogue.provider("mistral").models[0], "test-key")
    fmt = {"type": "json_schema", "json_schema": {"name": "out", "schema": schema, "strict": False}}
    _, params = chat.prepare(adapter("mistral"), model, request(response_format=fmt))
    assert params["response_format"] == fmt


@pytest.mark.parametrize("key", ["oneOf", "anyOf", "allOf"])
def test_no_tool_is_dropped_by_langchain_anthropic_with_only_a_warning(key: str) -> None:
    model = adapter("anthropic").build_model("claude-sonnet-4-6", "test-key")
    ok = {"type": "function", "function": {"name": "ok", "parameters": {"type": "object", "properties": {}}}}
    composed = {"type": "function", "function": {"name": "f", "parameters": {key: [
        {"type": "object", "properties": {"a": {"type": "string"}}}]}}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            chat.prepare(adapter("anthropic"), model, request(tools=[ok, composed]))
        except InvalidRequestError as exc:  # refused by name, the client told why
            assert exc.param == "tools.1.function.parameters" and key in exc.message
    assert not [w for w in caught if "Dropping tool" in str(w.message)]


def _wire_messages(kind: str, model: Any, messages: list[BaseMessage]) -> Any:
    """The messages as each LangChain integration would send them (no call made)."""
    if kind == "cohere":
        return get_cohere_chat_request_v2(messages)["messages"]
    if kind == "mistral":
        return model._create_message_dicts(messages, None)[0]
    return model._get_request_payload(messages)["messages"]


@pytest.mark.parametrize("provider", catalogue.names())
def test_a_participant_name_reaches_the_provider_or_is_refused_by_name(provider: str) -> None:
    gateway = adapter(provider)
    model = gateway.build_model(catalogue.provider(provider).models[0], "test-key")
    named = request(messages=[{"role": "user", "content": "hi", "name": "alice_1"},
                              {"role": "assistant", "content": "yo", "name": "bot_1"},
                              {"role": "user", "content": "again"}])
    wire = str(_wire_messages(catalogue.provider(provider).kind, model, chat.to_langchain(named.messages)))
    if gateway.refused_message_name is None:  # the integration sends it
        assert "alice_1" in wire and "bot_1" in wire
        chat.prepare(gateway, model, named)
    else:  # the integration would drop it: refused, naming the first
        assert "alice_1" not in wire and "bot_1" not in wire
        with pytest.raises(InvalidRequestError) as info:
            chat.prepare(gateway, model, named)
        assert (info.value.param, info.value.code) == ("messages.0.name", "unsupported_parameter")
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    tool_result = request(messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "tool_calls": [call]},
                                    {"role": "tool", "tool_call_id": "c1", "content": "x", "name": "f"}])
    chat.prepare(gateway, model, tool_result)  # a tool result's name is never refused: its call id says which call


@pytest.mark.parametrize("provider", catalogue.names())
def test_an_image_detail_reaches_the_provider_or_is_refused_by_name(provider: str) -> None:
    gateway = adapter(provider)
    model = gateway.build_model(catalogue.provider(provider).models[0], "test-key")
    for detail in ("low", "high", "auto"):
        part = {"type": "image_url", "image_url": {"url": "https://example.org/a.png", "detail": detail}}
        asked = request(messages=[{"role": "user", "content": [{"type": "text", "text": "what is it"}, part]}])
        wire = str(_wire_messages(catalogue.provider(provider).kind, model, chat.to_langchain(asked.messages)))
        if gateway.refused_image_detail is None:  # the integration sends it
            assert detail in wire
            chat.prepare(gateway, model, asked)
        elif detail == "auto":  # the provider's own choice, which it makes without being told
            chat.prepare(gateway, model, asked)
        else:  # the integration would drop it: refused, naming it
            assert f"'{detail}'" not in wire
            with pytest.raises(InvalidRequestError) as info:
                chat.prepare(gateway, model, asked)
            assert (info.value.param, info.value.code) == ("messages.0.content.1.image_url.detail",
                                                           "unsupported_parameter")


@pytest.mark.parametrize("provider", catalogue.names())
def test_tool_call_arguments_not_a_json_object_reach_the_provider_or_are_refused_by_name(provider: str) -> None:
    gateway = adapter(provider)
    model = gateway.build_model(catalogue.provider(provider).models[0], "test-key")
    for arguments in ("not json x1", '{"x": NaN}'):
        call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}}
        asked = request(messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "tool_calls": [call]},
                                  {"role": "tool", "tool_call_id": "c1", "content": "x"}])
        if gateway.refused_unparsed_arguments is None:  # the integration sends the string as it came
            wire = str(_wire_messages(catalogue.provider(provider).kind, model, chat.to_langchain(asked.messages)))
            assert arguments in wire
            chat.prepare(gateway, model, asked)
            continue
        if arguments == "not json x1":  # the integration would drop it (`{}` in its place, or no call at all)
            wire = str(_wire_messages(catalogue.provider(provider).kind, model, chat.to_langchain(asked.messages)))
            assert arguments not in wire
        with pytest.raises(InvalidRequestError) as info:
            chat.prepare(gateway, model, asked)
        assert (info.value.param, info.value.code) == ("messages.1.tool_calls.0.function.arguments",
                                                       "unsupported_parameter")

@pytest.mark.parametrize("provider", [p for p in catalogue.names() if catalogue.provider(p).kind.startswith("openai")])
def test_a_streamed_refusal_is_kept_where_langchain_keeps_a_whole_ones(provider: str) -> None:
    # LangChain's own stream conversion reads only a delta's content and tool calls; the gateway's model keeps
    # the refusal too (that LangChain's stream still goes through this hook: test_chat_tools.py, end to end).
    model = adapter(provider).build_model(catalogue.provider(provider).models[0], "test-key")
    assert isinstance(model, ChatOpenAI)
    delta = {"choices": [{"index": 0, "delta": {"refusal": "I can't"}, "finish_reason": None}]}
    chunk = model._convert_chunk_to_generation_chunk(delta, AIMessageChunk, None)
    assert chunk is not None
    assert chunk.message.additional_kwargs == {"refusal": "I can't"} and chunk.message.content == ""
    plain = model._convert_chunk_to_generation_chunk(
        {"choices": [{"index": 0, "delta": {"content": "hi", "refusal": None}, "finish_reason": None}]},
        AIMessageChunk, None)
    assert plain is not None
    assert plain.message.additional_kwargs == {} and plain.message.content == "hi"


@pytest.mark.parametrize("provider", [p for p in catalogue.names() if catalogue.provider(p).kind != "anthropic"
                                      and catalogue.provider(p).kind != "cohere"])
def test_a_tool_call_cut_short_by_max_tokens_reaches_the_client_as_it_came(provider: str) -> None:
    # The OpenAI-shaped wires send arguments as text; LangChain files a call whose text does not parse (here cut
    # by max_tokens) under `invalid_tool_calls`. OpenAI returns such a call with `finish_reason: "length"`.
    gateway = adapter(provider)
    model: Any = gateway.build_model(catalogue.provider(provider).models[0], "test-key")  # ChatOpenAI, ChatMistralAI
    calls = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
             {"id": "c2", "type": "function", "function": {"name": "g", "arguments": '{"city": "Par'}}]
    reply = {"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": [{
        "index": 0, "message": {"role": "assistant", "content": None, "tool_calls": calls}, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 9, "total_tokens": 12}}
    generation = model._create_chat_result(reply).generations[0]
    message = generation.message
    assert isinstance(message, AIMessage) and len(message.invalid_tool_calls) == 1
    message.response_metadata |= generation.generation_info or {}  # as BaseChatModel merges them
    doc = chat.completion_doc(gateway, message, "m", "chatcmpl-1")
    choice = doc["choices"][0]
    assert [(c["id"], c["function"]["name"], json_or_text(c["function"]["arguments"]))
            for c in choice["message"]["tool_calls"]] == [("c1", "f", {"a": 1}), ("c2", "g", '{"city": "Par')]
    assert choice["finish_reason"] == "length"


def json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


SYSTEM, USER, ASSISTANT = ({"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
                           {"role": "assistant", "content": "yo"})


@pytest.mark.parametrize("provider", catalogue.names())
@pytest.mark.parametrize("last", [SYSTEM, ASSISTANT])
def test_a_conversation_ends_where_the_integration_takes_it_or_is_refused_by_name(provider: str, last: dict) -> None:
    # langchain-cohere raises ValueError on a conversation that does not end with a user message or a tool result.
    gateway = adapter(provider)
    model = gateway.build_model(catalogue.provider(provider).models[0], "test-key")
    asked = request(messages=[USER, last])
    kind = catalogue.provider(provider).kind
    if gateway.last_roles is None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _wire_messages(kind, model, chat.to_langchain(asked.messages))  # formats: the call would go out
        moved = [w for w in caught if "was moved to the top-level `system` field" in str(w.message)]
        assert bool(moved) is (kind == "anthropic" and last is SYSTEM)  # langchain-anthropic says so as it does
        chat.prepare(gateway, model, asked)
        return
    with pytest.raises(ValueError, match="last message"):
        _wire_messages(kind, model, chat.to_langchain(asked.messages))
    with pytest.raises(InvalidRequestError) as info:
        chat.prepare(gateway, model, asked)
    assert (info.value.param, info.value.code) == ("messages.1.role", "unsupported_parameter")
    assert f"ending the conversation with a '{last['role']}' message" in info.value.message


DEVELOPER = {"role": "developer", "content": "now terse"}


@pytest.mark.parametrize(("model_name", "messages", "refused"), [
    ("claude-sonnet-4-6", [SYSTEM, USER, DEVELOPER, ASSISTANT, USER], True),  # one system prompt only
    ("claude-opus-4-8", [SYSTEM, USER, DEVELOPER, ASSISTANT, USER], False),  # in place: its profile takes them
    ("claude-opus-4-8", [SYSTEM, USER, DEVELOPER, USER], True),  # in place only before an assistant turn (or last)
    ("claude-sonnet-4-6", [SYSTEM, SYSTEM, USER], False),  # consecutive ones are merged
    ("claude-sonnet-4-6", [USER, SYSTEM, USER], False),  # a lone later one is moved to the system prompt
])
def test_system_messages_apart_reach_anthropic_where_langchain_takes_them_or_are_refused(
        model_name: str, messages: list[dict], refused: bool) -> None:
    gateway = adapter("anthropic")
    model = gateway.build_model(model_name, "test-key")
    converted = chat.to_langchain(request(messages=messages).messages)
    if not refused:
        gateway.check_conversation(model, converted)
        return
    with pytest.raises(InvalidRequestError) as info:
        gateway.check_conversation(model, converted)
    assert (info.value.param, info.value.code) == ("messages", "unsupported_parameter")
    assert info.value.message.startswith("messages: Received multiple non-consecutive system messages (")


@pytest.mark.parametrize("provider", catalogue.names())
def test_text_beside_tool_calls_reaches_the_provider_or_is_refused_by_name(provider: str) -> None:
    # langchain-cohere sends that text as the call's `tool_plan`, a string to Cohere's SDK: a list failed there.
    model = adapter(provider).build_model(catalogue.provider(provider).models[0], "test-key")
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    asked = request(messages=[USER, {"role": "assistant", "tool_calls": [call], "content": [
        {"type": "text", "text": "first I will "}, {"type": "text", "text": "look it up"}]},
        {"role": "tool", "tool_call_id": "c1", "content": "found"}])
    converted = chat.to_langchain(asked.messages)
    assert converted[1].content == "first I will look it up"
    wire = str(_wire_messages(catalogue.provider(provider).kind, model, converted))
    gateway = adapter(provider)
    if gateway.refused_text_with_tool_calls is None:
        assert "first I will look it up" in wire
        chat.prepare(gateway, model, asked)
        return
    assert "first I will look it up" not in wire  # langchain-mistralai drops it: refused, naming it
    with pytest.raises(InvalidRequestError) as info:
        chat.prepare(gateway, model, asked)
    assert (info.value.param, info.value.code) == ("messages.1.content", "unsupported_parameter")
