"""The Cohere SDK's parsing with per-type work memoised (gateway/providers/cohere_parse.py): same results, done once."""

from __future__ import annotations

from typing import Annotated, Any

import pydantic
import pytest
import typing_extensions
from cohere.core import pydantic_utilities, serialization
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


def _parse_all() -> list[dict[str, Any]]:
    return [pydantic_utilities.parse_obj_as(V2ChatStreamResponse, event).dict() for event in EVENTS]  # type: ignore[arg-type]


def test_events_parse_to_the_same_objects_as_with_the_sdks_own_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    cohere_parse.install()
    memoised = _parse_all()
    with monkeypatch.context() as m:
        m.setattr(serialization, "typing_extensions", typing_extensions)
        m.setattr(pydantic_utilities, "pydantic", pydantic)
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
    view = pydantic_utilities.pydantic
    cohere_parse.install()
    assert pydantic_utilities.pydantic is view
    assert isinstance(view, cohere_parse.ModuleView) and view.__wrapped__ is pydantic
    assert view.BaseModel is pydantic.BaseModel and view.ConfigDict is pydantic.ConfigDict  # ConfigDict is lazy
    assert view.TypeAdapter is cohere_parse.type_adapter
    hints_view = serialization.typing_extensions
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
    x: X  # type: ignore[name-defined]  # noqa: F821 - resolved through the namespace the test passes


class _Dangling:
    y: Missing  # type: ignore[name-defined]  # noqa: F821 - never resolvable
