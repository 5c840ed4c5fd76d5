"""Response models validated strictly first, the SDKs' construction otherwise (gateway/providers/sdk_models.py)."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Annotated, Any, Literal, Union

import anthropic._base_client
import httpx2
import openai._base_client
import pydantic
import pytest
from anthropic._models import construct_type as anthropic_construct
from anthropic.types import Message, RawMessageStreamEvent
from openai._models import construct_type as openai_construct
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from gateway.config import Settings
from gateway.providers import create_adapter, sdk_models

CREATED = 1_764_806_400
USAGE = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
COMPLETION = {"id": "chatcmpl-1", "object": "chat.completion", "created": CREATED, "model": "gpt-4o-mini",
              "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi", "refusal": None},
                           "logprobs": None, "finish_reason": "stop"}],
              "usage": USAGE, "system_fingerprint": None}
TOOL_CALLS = {**COMPLETION, "service_tier": "default", "choices": [{
    "index": 0, "finish_reason": "tool_calls",
    "message": {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}},
        {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]},
    "logprobs": {"content": [{"token": "Hi", "logprob": 0, "bytes": [72, 105],  # an int where a float is declared
                              "top_logprobs": [{"token": "Hi", "logprob": -0.25, "bytes": None}]}],
                 "refusal": None}}],
    "usage": {**USAGE, "prompt_tokens_details": {"cached_tokens": 4, "audio_tokens": 0},
              "completion_tokens_details": {"reasoning_tokens": 2, "accepted_prediction_tokens": 0}}}
# Keys the SDK does not declare, at the top and nested, as OpenAI-compatible servers send them.
EXTRAS = {**COMPLETION, "prompt_logprobs": None, "kv_transfer_params": {"a": 1}, "choices": [{
    **COMPLETION["choices"][0], "stop_reason": None,
    "message": {"role": "assistant", "content": "Hi", "reasoning_content": "Thinking."}}]}
CHUNK = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": CREATED, "model": "gpt-4o-mini",
         "system_fingerprint": None, "choices": [{"index": 0, "delta": {"content": "word "}, "logprobs": None,
                                                   "finish_reason": None}]}
CHUNKS = [
    {**CHUNK, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "", "refusal": None},
                           "finish_reason": None}]},
    CHUNK,
    {**CHUNK, "choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]},
        "finish_reason": None}]},
    {**CHUNK, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]},
                           "finish_reason": None}]},
    {**CHUNK, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    {**CHUNK, "choices": [], "usage": USAGE},
]
EMBEDDINGS = {"object": "list", "model": "text-embedding-3-small", "usage": {"prompt_tokens": 2, "total_tokens": 2},
              "data": [{"object": "embedding", "index": i, "embedding": [0, 0.5, -1.25, 3]} for i in range(2)]}
ANTHROPIC_USAGE = {"input_tokens": 12, "output_tokens": 5, "cache_creation_input_tokens": 0,
                   "cache_read_input_tokens": 8, "service_tier": "standard"}
MESSAGE = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-6",
           "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn", "stop_sequence": None,
           "usage": ANTHROPIC_USAGE}
MESSAGES = [
    MESSAGE,
    {**MESSAGE, "stop_reason": "tool_use", "content": [
        {"type": "thinking", "thinking": "The user wants weather.", "signature": "c2ln"},
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo", "days": [1, 2]}}]},
    {**MESSAGE, "container": None, "future_field": {"x": 1}},
]

# Anthropic's stream events: a tagged union (RawMessageStreamEvent), as the mock and the API send them.
EVENTS = [
    {"type": "message_start", "message": {**MESSAGE, "content": [], "stop_reason": None,
                                          "usage": {"input_tokens": 12, "output_tokens": 1}}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_1",
                                                                 "name": "get_weather", "input": {}}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"ci"}},
    {"type": "content_block_delta", "index": 2, "delta": {"type": "thinking_delta", "thinking": "Hm."}},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
     "usage": {"output_tokens": 5}},
    {"type": "message_stop"},
    {"type": "message_stop", "future_field": [1]},
]

# Documents a strict validation refuses; the SDK's construction keeps them as they come.
LENIENT: list[tuple[Any, dict[str, Any]]] = [
    (ChatCompletion, {k: v for k, v in COMPLETION.items() if k != "created"}),  # a required field missing
    (ChatCompletion, {**COMPLETION, "created": str(CREATED)}),  # a number as a string
    (ChatCompletion, {**COMPLETION, "object": "chat.completion.v2"}),  # another literal
    (ChatCompletion, {**COMPLETION, "choices": [{**COMPLETION["choices"][0], "message": {
        "role": "assistant", "content": [{"type": "text", "text": "Hi"}]}}]}),  # content parts, not a string
    (ChatCompletionChunk, {**CHUNK, "choices": [{"index": "0", "delta": {"content": "x"}}]}),
    (CreateEmbeddingResponse, {**EMBEDDINGS, "data": [{"object": "embedding", "index": 0, "embedding": "AAAAPw=="}]}),
    (Message, {**MESSAGE, "usage": None}),
    (RawMessageStreamEvent, {"type": "content_block_delta", "index": "0",  # an index as a string
                             "delta": {"type": "text_delta", "text": "x"}}),
    (RawMessageStreamEvent, {"type": "content_block_stop"}),  # the tag's member, a required field missing
    (RawMessageStreamEvent, {"type": "future_event", "index": 0}),  # a tag no member has
]


def spied(construct: Callable[..., object]) -> tuple[Callable[..., object], list[object]]:
    """The wrapper around `construct`, and the types `construct` was called for."""
    calls: list[object] = []

    def recording(**kwargs: Any) -> object:
        calls.append(kwargs["type_"])
        return construct(**kwargs)

    return sdk_models.validated_first(recording), calls


def tree(value: object) -> object:
    """Classes, set fields and extra keys of every model in `value`, nested: what model_dump does not show.

    Set fields are compared among the declared ones: pydantic also counts extra keys as set, the SDK's
    construction does not (the dumps, with or without unset fields, are equal either way)."""
    if isinstance(value, pydantic.BaseModel):
        return (type(value), sorted(value.model_fields_set & set(type(value).model_fields)), value.model_extra,
                {name: tree(item) for name, item in value.__dict__.items()})
    if isinstance(value, list):
        return [tree(item) for item in value]
    if isinstance(value, dict):
        return {key: tree(item) for key, item in value.items()}
    return (type(value), value)


def assert_same(ours: object, sdks: object) -> None:
    assert isinstance(ours, pydantic.BaseModel) and isinstance(sdks, pydantic.BaseModel)
    assert ours.model_dump() == sdks.model_dump()
    assert ours.model_dump(exclude_unset=True) == sdks.model_dump(exclude_unset=True)
    assert tree(ours) == tree(sdks)


# (the SDK's construct_type, the type it is asked for, a document that type validates strictly); the stream
# events are a tagged union, validated as the member their tag names.
CONFORMING = [
    *[(openai_construct, ChatCompletion, doc) for doc in (COMPLETION, TOOL_CALLS, EXTRAS)],
    *[(openai_construct, ChatCompletionChunk, chunk) for chunk in CHUNKS],
    (openai_construct, CreateEmbeddingResponse, EMBEDDINGS),
    *[(anthropic_construct, Message, doc) for doc in MESSAGES],
    *[(anthropic_construct, RawMessageStreamEvent, event) for event in EVENTS],
]


@pytest.mark.parametrize(("construct", "type_", "doc"), CONFORMING)
def test_documents_are_validated_into_the_model_the_sdk_constructs(construct: Callable[..., object], type_: Any,
                                                                    doc: dict) -> None:
    wrapped, calls = spied(construct)
    ours = wrapped(type_=type_, value=doc)
    assert calls == []  # validated: the SDK's construction never ran
    assert_same(ours, construct(type_=type_, value=doc))


class Cat(pydantic.BaseModel):
    kind: Literal["cat"]
    name: str


class Dog(pydantic.BaseModel):
    kind: Literal["dog"]
    name: str


class Puppy(pydantic.BaseModel):
    kind: Literal["dog"]  # the same tag as Dog
    age: int


class Fish(pydantic.BaseModel):
    kind: Literal["fish", "eel"]  # two tags
    name: str


class Bird(pydantic.BaseModel):
    kind_: Literal["bird"] = pydantic.Field(alias="kind")
    name: str


@pytest.mark.parametrize(("type_", "expected"), [
    (Cat | Dog, ("kind", {"cat": Cat, "dog": Dog})),
    (Union[Cat, Dog], ("kind", {"cat": Cat, "dog": Dog})),  # noqa: UP007 - the spelling some SDK types use
    (Annotated[Cat | Dog, "metadata"], ("kind", {"cat": Cat, "dog": Dog})),
    (Cat | Bird, ("kind", {"cat": Cat, "bird": Bird})),  # the tag's key in documents is the alias
    (Cat | Dog | Puppy, None),  # a tag that names two members
    (Cat | Fish, None),
    (Cat | int, None),
    (ChatCompletion | Message, None),  # no literal field in common
    (list[Cat], None),
    (Cat, None),
])
def test_tagged_members(type_: Any, expected: Any) -> None:
    assert sdk_models.tagged_members(type_) == expected


def test_a_tagged_union_of_our_own_is_validated_by_member() -> None:
    wrapped, calls = spied(anthropic_construct)
    assert wrapped(type_=Cat | Dog, value={"kind": "dog", "name": "Rex"}) == Dog(kind="dog", name="Rex")
    assert wrapped(type_=Cat | Bird, value={"kind": "bird", "name": "Tweety"}) == Bird(kind="bird", name="Tweety")
    assert calls == []


def test_extra_keys_are_kept() -> None:
    wrapped, _ = spied(openai_construct)
    ours = wrapped(type_=ChatCompletion, value=EXTRAS)
    assert isinstance(ours, ChatCompletion)
    assert ours.model_extra == {"prompt_logprobs": None, "kv_transfer_params": {"a": 1}}
    assert ours.choices[0].message.model_extra == {"reasoning_content": "Thinking."}


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")  # dumping what the SDK constructed
@pytest.mark.parametrize(("type_", "doc"), LENIENT)
def test_a_document_the_model_refuses_is_constructed_by_the_sdk_as_before(type_: type, doc: dict) -> None:
    construct = anthropic_construct if type_ in (Message, RawMessageStreamEvent) else openai_construct
    wrapped, calls = spied(construct)
    ours, sdks = wrapped(type_=type_, value=doc), construct(type_=type_, value=doc)
    assert calls == [type_]
    if isinstance(sdks, pydantic.BaseModel):
        assert_same(ours, sdks)
    else:  # what no member constructs comes back as it came, from the SDK
        assert ours == sdks == doc


def test_a_string_number_stays_a_string_as_the_sdk_leaves_it() -> None:
    wrapped, _ = spied(openai_construct)
    ours = wrapped(type_=ChatCompletion, value={**COMPLETION, "created": str(CREATED)})
    assert isinstance(ours, ChatCompletion) and ours.created == str(CREATED)  # no coercion


@pytest.mark.parametrize(("type_", "value", "metadata"), [
    (ChatCompletion | Message, COMPLETION, None),  # a union whose members no tag tells apart
    (RawMessageStreamEvent, {"kind": "message_stop"}, None),  # no tag
    (RawMessageStreamEvent, {"type": 7}, None),  # a tag that is not a string
    (list[int], [1, 2], None),
    (ChatCompletion, [COMPLETION], None),  # not a dict
    (ChatCompletion, COMPLETION, [object()]),  # metadata from a caller that passes it
])
def test_anything_but_a_dict_for_a_model_or_a_tagged_member_goes_to_the_sdk(type_: Any, value: Any,
                                                                            metadata: Any) -> None:
    wrapped, calls = spied(anthropic_construct)
    wrapped(type_=type_, value=value, metadata=metadata)
    assert calls == [type_]


def test_install_wraps_once() -> None:
    module = types.ModuleType("base_client")  # a stand-in for an SDK's `_base_client` module
    module.__dict__["construct_type"] = openai_construct
    sdk_models.install(module)
    first = module.construct_type
    sdk_models.install(module)
    assert first is module.construct_type and first.__wrapped__ is openai_construct


@pytest.mark.parametrize(("provider", "base_client"), [
    ("openai", openai._base_client), ("anthropic", anthropic._base_client)])
def test_the_adapters_install_it_in_their_sdk(provider: str, base_client: Any) -> None:
    create_adapter(Settings(provider=provider))
    assert base_client.construct_type.__wrapped__.__module__.endswith("._models")


@pytest.mark.parametrize(("client_class", "base_client", "construct", "type_", "doc"), [
    (openai.AsyncOpenAI, openai._base_client, openai_construct, ChatCompletion, TOOL_CALLS),
    (anthropic.AsyncAnthropic, anthropic._base_client, anthropic_construct, Message, MESSAGES[1])])
def test_the_sdk_clients_build_responses_with_the_wrapped_name(
        monkeypatch: pytest.MonkeyPatch, client_class: Any, base_client: Any, construct: Any, type_: type,
        doc: dict) -> None:
    wrapped, calls = spied(construct)
    monkeypatch.setattr(base_client, "construct_type", wrapped)
    client = client_class(api_key="test", base_url="http://127.0.0.1:9")
    response = httpx2.Response(200, json=doc, request=httpx2.Request("POST", "http://127.0.0.1:9/x"))
    parsed = client._process_response_data(data=doc, cast_to=type_, response=response)
    assert calls == []  # the name install() replaces is the one the client calls, and it validated
    assert_same(parsed, construct(type_=type_, value=doc))
    lenient = {**doc, "model": None}
    wrapped, calls = spied(construct)
    monkeypatch.setattr(base_client, "construct_type", wrapped)
    assert_same(client._process_response_data(data=lenient, cast_to=type_, response=response),
                construct(type_=type_, value=lenient))
    assert calls == [type_]
