"""The Cohere SDK's parsing with per-type work memoised (gateway/providers/cohere_parse.py): same results, done once."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated, Any, ClassVar, Optional

import pydantic
import pytest
import typing_extensions
from cohere.core import pydantic_utilities, serialization, unchecked_base_model
from cohere.core.serialization import FieldMetadata
from cohere.types import EmbedByTypeResponse, JsonResponseFormat
from cohere.v2.types import V2ChatResponse
from cohere.v2.types.v2chat_stream_response import V2ChatStreamResponse

from gateway.providers import cohere_parse

# One stream's events, as Cohere v2 sends them (the mock's wire format): every kind the gateway relays.
EVENTS: list[dict[str, Any]] = [
    {"type": "message-start", "id": "m1", "delta": {"message": {"role": "assistant", "content": [], "tool_plan": "",
                                                                "tool_calls": [], "citations": []}}},
    {"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}},
    {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "Hello"}}}},
    {"type": "content-end", "index": 0},
    {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I will look it up"}}},
    {"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": {
        "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}}}},
    {"type": "tool-call-delta", "index": 0, "delta": {"message": {"tool_calls": {"function": {"arguments": "{}"}}}}},
    {"type": "tool-call-end", "index": 0},
    {"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": {
        "billed_units": {"input_tokens": 5, "output_tokens": 2}, "tokens": {"input_tokens": 5, "output_tokens": 2}}}},
]


@contextlib.contextmanager
def as_shipped(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The SDK's parsing modules as the SDK ships them, for the block."""
    with monkeypatch.context() as m:
        m.setattr(serialization, "typing_extensions", typing_extensions)
        m.setattr(pydantic_utilities, "pydantic", pydantic)
        m.setattr(pydantic_utilities, "convert_and_respect_annotation_metadata",
                  serialization.convert_and_respect_annotation_metadata)
        yield


def _parse_all() -> list[dict[str, Any]]:
    # The stream's event type is an Annotated union, not a class, as `type_`: what the SDK's own stream passes.
    return [pydantic_utilities.parse_obj_as(V2ChatStreamResponse,  # pyright: ignore[reportArgumentType]
                                            event).dict() for event in EVENTS]


def test_events_parse_to_the_same_objects_as_with_the_sdks_own_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    cohere_parse.install()
    memoised = _parse_all()
    with as_shipped(monkeypatch):
        original = _parse_all()
    assert memoised == original
    assert [e["type"] for e in memoised] == [e["type"] for e in EVENTS]
    assert memoised[2]["delta"]["message"]["content"]["text"] == "Hello"
    assert memoised[-1]["delta"]["usage"]["tokens"] == {"input_tokens": 5, "output_tokens": 2}


def test_the_second_stream_builds_no_adapter_and_evaluates_no_type_hints() -> None:
    cohere_parse.install()
    _parse_all()
    adapters, hints = cohere_parse._type_adapter.cache_info(), cohere_parse._type_hints.cache_info()
    _parse_all()
    assert cohere_parse._type_adapter.cache_info().misses == adapters.misses
    assert cohere_parse._type_hints.cache_info().misses == hints.misses
    assert cohere_parse._type_adapter.cache_info().hits >= adapters.hits + len(EVENTS)


def test_install_is_idempotent_and_leaves_every_other_name_as_it_was() -> None:
    cohere_parse.install()
    # The names the SDK's modules import, read where they are bound there: install() swaps those bindings.
    view = pydantic_utilities.pydantic  # pyright: ignore[reportPrivateImportUsage] - that module's binding
    cohere_parse.install()
    assert pydantic_utilities.pydantic is view  # pyright: ignore[reportPrivateImportUsage] - that module's binding
    assert isinstance(view, cohere_parse.ModuleView) and view.__wrapped__ is pydantic
    assert view.BaseModel is pydantic.BaseModel and view.ConfigDict is pydantic.ConfigDict  # ConfigDict is lazy
    assert view.TypeAdapter is cohere_parse.type_adapter
    hints_view = serialization.typing_extensions  # pyright: ignore[reportPrivateImportUsage] - that module's binding
    assert hints_view.get_origin is typing_extensions.get_origin
    assert hints_view.get_type_hints is cohere_parse.type_hints


def test_what_cannot_be_memoised_is_computed_as_before() -> None:
    # Unhashable metadata: no memo, a working adapter all the same.
    unhashable = Annotated[int, {"a": "dict"}]
    assert cohere_parse.type_adapter(unhashable).validate_python(3) == 3
    # Explicit namespaces pass through to typing_extensions.
    assert cohere_parse.type_hints(_Point, {"X": int}, None) == {"x": int}
    # An unresolvable hint still raises the NameError the SDK handles, every time (never memoised).
    for _ in range(2):
        with pytest.raises(NameError):
            cohere_parse.type_hints(_Dangling)
    # Other TypeErrors are not taken for unhashable arguments.
    with pytest.raises(TypeError):
        cohere_parse.type_hints(42)


class _Point:
    x: X  # pyright: ignore[reportUndefinedVariable]  # noqa: F821 - resolved through the namespace the test passes


class _Dangling:
    y: Missing  # pyright: ignore[reportUndefinedVariable]  # noqa: F821 - never resolvable


# What the Cohere v2 chat endpoint answers (the mock's wire format) and an embeddings-by-type answer, whose
# `float` key the SDK renames to its `float_` field (a FieldMetadata alias).
CHAT_RESPONSE: dict[str, Any] = {
    "id": "r1", "finish_reason": "COMPLETE",
    "message": {"role": "assistant", "content": [{"type": "text", "text": "Hi"}]},
    "usage": {"billed_units": {"input_tokens": 5, "output_tokens": 1},
              "tokens": {"input_tokens": 5, "output_tokens": 1}},
}
EMBEDDINGS: dict[str, Any] = {"id": "e1", "response_type": "embeddings_by_type", "texts": ["a", "b"],
                              "embeddings": {"float": [[0.5, -1.0], [0.25, 2.0]]},
                              "meta": {"api_version": {"version": "2"}}}


def _parse_streamed() -> list[dict[str, Any]]:
    """Each event as the SDK's stream parses it (construct_type of the event union)."""
    # An Annotated union, not a class, as `type_`: what the SDK's own stream passes.
    return [unchecked_base_model.construct_type(type_=V2ChatStreamResponse,  # pyright: ignore[reportArgumentType]
                                                object_=event).dict() for event in EVENTS]


def test_reading_an_alias_free_type_skips_the_walk_with_the_same_results(monkeypatch: pytest.MonkeyPatch) -> None:
    cohere_parse.install()
    walked: list[Any] = []
    # What install() put in the SDK module's namespace, a functools.wraps wrapper of the SDK's function.
    wrapper = pydantic_utilities.convert_and_respect_annotation_metadata  # pyright: ignore[reportPrivateImportUsage]
    inner = wrapper.__wrapped__  # pyright: ignore[reportFunctionMemberAccess] - set by functools.wraps

    def spy(**kwargs: Any) -> Any:
        walked.append(kwargs["annotation"])
        return inner(**kwargs)

    monkeypatch.setattr(pydantic_utilities, "convert_and_respect_annotation_metadata",
                        cohere_parse.as_is_when_alias_free(spy))
    streamed, parsed = _parse_streamed(), _parse_all()
    chat = pydantic_utilities.parse_obj_as(V2ChatResponse, CHAT_RESPONSE).dict()
    embeddings = pydantic_utilities.parse_obj_as(EmbedByTypeResponse, EMBEDDINGS)
    assert walked == [EmbedByTypeResponse]  # the one type with an alias is still walked (read, not yet dumped)
    assert embeddings.dict()["embeddings"] == {"float": [[0.5, -1.0], [0.25, 2.0]]}  # written back under its alias
    assert walked == [EmbedByTypeResponse, EmbedByTypeResponse]
    with as_shipped(monkeypatch):
        assert streamed == _parse_streamed() and parsed == _parse_all()
        assert chat == pydantic_utilities.parse_obj_as(V2ChatResponse, CHAT_RESPONSE).dict()
        shipped = pydantic_utilities.parse_obj_as(EmbedByTypeResponse, EMBEDDINGS)
    assert embeddings.dict() == shipped.dict()
    assert embeddings.embeddings.float_ == [[0.5, -1.0], [0.25, 2.0]]  # the alias applied
    assert streamed[2]["delta"]["message"]["content"]["text"] == "Hello"


def test_an_alias_free_type_gets_the_document_itself_either_way_any_other_the_walk() -> None:
    seen: list[tuple[str, Any]] = []

    def walk(*, object_: Any, annotation: Any, inner_type: Any = None, direction: str) -> Any:
        seen.append((direction, annotation))
        return dict(object_)

    convert = cohere_parse.as_is_when_alias_free(walk)
    doc = {"id": "r1"}
    assert convert(object_=doc, annotation=V2ChatResponse, direction="read") is doc
    assert convert(object_=doc, annotation=V2ChatResponse, direction="write") is doc
    assert convert(object_=doc, annotation=EmbedByTypeResponse, direction="write") == doc
    assert convert(object_=doc, annotation=V2ChatResponse, inner_type=EmbedByTypeResponse, direction="read") == doc
    assert seen == [("write", EmbedByTypeResponse), ("read", V2ChatResponse)]  # the inner type decides


class _Aliased(pydantic.BaseModel):
    float_: Annotated[list[float], FieldMetadata(alias="float")]


class _Plain(pydantic.BaseModel):
    name: str
    tags: list[str] = []


class _Tree(pydantic.BaseModel):
    children: list[_Tree] = []
    config: ClassVar[dict[str, Any]] = {}


class _Holder(pydantic.BaseModel):
    inner: Optional[dict[str, list[_Aliased]]] = None  # noqa: UP045 - the spelling the SDK's types use


class _DanglingModel(pydantic.BaseModel):
    y: Missing  # pyright: ignore[reportUndefinedVariable]  # noqa: F821 - never resolvable


class _AliasedDict(typing_extensions.TypedDict):
    schema_: Annotated[str, FieldMetadata(alias="schema")]


@pytest.mark.parametrize(("type_", "declares"), [
    (_Plain, False), (_Tree, False), (list[_Plain], False), (Optional[_Plain], False),  # noqa: UP045
    (_Aliased, True), (_Holder, True), (_AliasedDict, True), (_Plain | _Aliased, True),
    (Annotated[str, FieldMetadata(alias="x")], True), (Annotated[_Plain, "other metadata"], False),
    ("_Plain", True), (_DanglingModel, True),  # unresolved names: not known to be free
    (_Dangling, False),  # a plain class: the SDK never walks into one
    (Any, False), (int, False), (None, False),
    (EmbedByTypeResponse, True), (JsonResponseFormat, True), (V2ChatResponse, False),
    *[(member, False) for member in typing_extensions.get_args(typing_extensions.get_args(V2ChatStreamResponse)[0])],
])
def test_declares_alias(type_: Any, declares: bool) -> None:
    assert cohere_parse.declares_alias(type_) is declares
    assert cohere_parse.alias_free(type_) is not declares


def test_alias_free_of_an_unhashable_type_is_computed_every_time() -> None:
    assert cohere_parse.alias_free(Annotated[_Plain, {"a": "dict"}]) is True
    assert cohere_parse.alias_free(Annotated[_Aliased, {"a": "dict"}]) is False


def test_install_wraps_the_conversion_once() -> None:
    cohere_parse.install()
    # The binding in the SDK module's namespace, which install() replaces with a functools.wraps wrapper.
    first = pydantic_utilities.convert_and_respect_annotation_metadata  # pyright: ignore[reportPrivateImportUsage]
    cohere_parse.install()
    assert (pydantic_utilities.convert_and_respect_annotation_metadata  # pyright: ignore[reportPrivateImportUsage]
            is first)
    assert (first.__wrapped__  # pyright: ignore[reportFunctionMemberAccess] - set by functools.wraps
            is serialization.convert_and_respect_annotation_metadata)
