"""The Messages API's content blocks and tools against the official `anthropic` SDK's request types.

Every block type, document source and tool type the SDK can send is either taken by the gateway's models
or refused with a reason; a source or tool the gateway takes declares every field the SDK sends for it (a
block forwards the fields it does not declare). A new SDK type fails here until it is classified.
"""

from __future__ import annotations

import typing
from typing import Any

import pytest
from anthropic.types import (
    content_block_param,
    document_block_param,
    image_block_param,
    tool_result_block_param,
    tool_union_param,
)
from pydantic import BaseModel, TypeAdapter, ValidationError

from gateway.api.anthropic_blocks import NOT_SERVED_TAGS, Block, DocumentSource, ImageSource, ToolResultPart
from gateway.api.anthropic_tools import NOT_SERVED_FIELDS, AnyTool, kind, not_served


def members(union: Any) -> list[type]:
    """The TypedDicts of one of the SDK's request unions."""
    return [m for m in typing.get_args(union) if isinstance(m, type)]


def tags(sdk_type: type) -> list[str]:
    """The `type` values a TypedDict of the SDK declares (a tool without one is a custom tool)."""
    hint = typing.get_type_hints(sdk_type).get("type")
    return sorted(_literals(hint)) if hint is not None else ["custom"]


def _literals(hint: Any) -> set[str]:
    if typing.get_origin(hint) is typing.Literal:
        return {a for a in typing.get_args(hint) if isinstance(a, str)}
    return set().union(*(_literals(a) for a in typing.get_args(hint))) if typing.get_args(hint) else set()


def ours(union: Any) -> dict[str, type[BaseModel]]:
    """The gateway's models of a discriminated union, by the `type` values they take."""
    out: dict[str, type[BaseModel]] = {}
    for member in typing.get_args(typing.get_args(union)[0]):
        model = typing.get_args(member)[0] if typing.get_origin(member) is typing.Annotated else member
        for tag in _literals(model.model_fields["type"].annotation) or {"custom"}:
            out[tag] = model
    return out


UNIONS = {  # the SDK's union -> the gateway's
    "content block": (content_block_param.ContentBlockParam, Block),
    "tool result part": (tool_result_block_param.Content, ToolResultPart),
    "document source": (document_block_param.Source, DocumentSource),
    "image source": (image_block_param.Source, ImageSource),
    "tool": (tool_union_param.ToolUnionParam, AnyTool),
}


@pytest.mark.parametrize("name", UNIONS)
def test_every_type_of_the_sdk_is_taken_with_all_its_fields_or_refused_with_a_reason(name: str) -> None:
    sdk_union, union = UNIONS[name]
    taken = ours(union)
    for sdk_type in members(sdk_union):
        for tag in tags(sdk_type):
            if tag in taken:
                model = taken[tag]
                if model.model_config.get("extra") == "allow":  # a block: fields it does not declare go on as sent
                    continue
                missing = set(typing.get_type_hints(sdk_type)) - set(NOT_SERVED_FIELDS) - set(model.model_fields)
                assert not missing, f"{name} {tag!r}: the SDK also sends {sorted(missing)}"
            else:
                why = not_served(tag) if name == "tool" else NOT_SERVED_TAGS.get(tag)
                assert why, f"{name} {tag!r} ({sdk_type.__name__}) is neither taken nor refused with a reason"


def test_a_refused_type_is_not_also_taken() -> None:
    taken = set().union(*(ours(union) for _, union in UNIONS.values()))
    assert taken.isdisjoint(NOT_SERVED_TAGS)
    assert not [tag for tag in ours(AnyTool) if not_served(tag)]


TOOLS = TypeAdapter(AnyTool)


@pytest.mark.parametrize("tool", [
    {"name": "get", "input_schema": {"type": "object"}},
    {"type": "custom", "name": "get", "input_schema": {}, "strict": True, "eager_input_streaming": True,
     "input_examples": [{"city": "Paris"}], "allowed_callers": ["direct"], "cache_control": {"type": "ephemeral"}},
    {"type": "bash_20250124", "name": "bash"},
    {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool", "max_characters": 10_000},
    {"type": "memory_20250818", "name": "memory", "strict": False},
    {"type": "computer_toolset_20260801", "configs": {"zoom": {"enabled": False}}},
    {"type": "browser_toolset_20260801"},
])
def test_client_tools_are_taken_and_dumped_as_sent(tool: dict[str, Any]) -> None:
    assert TOOLS.validate_python(tool).model_dump(exclude_unset=True) == tool


@pytest.mark.parametrize(("tool", "error"), [
    ({"type": "bash_20250124", "name": "shell"}, "literal_error"),  # Anthropic's tools have fixed names
    ({"name": "get", "input_schema": {}, "allowed_callers": ["code_execution_20250825"]}, "literal_error"),
    ({"name": "get", "input_schema": {}, "defer_loading": True}, "extra_forbidden"),
    ({"type": 7, "name": "get", "input_schema": {}}, "literal_error"),  # a custom tool whose type is wrong
    ({"type": "web_search_20250305", "name": "web_search"}, "union_tag_invalid"),
])
def test_what_no_client_tool_is_fails_validation(tool: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError) as failed:
        TOOLS.validate_python(tool)
    assert [e["type"] for e in failed.value.errors()] == [error]


def test_the_tool_tag_is_the_type_or_custom() -> None:
    assert [kind(t) for t in ({"type": "bash_20250124"}, {}, {"type": None}, {"type": 3}, "x")] == [
        "bash_20250124", "custom", "custom", "custom", "custom"]
