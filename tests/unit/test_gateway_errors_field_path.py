"""`errors.field_path` / `error_field`: the request field a pydantic validation error names."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.api.chat_request import ChatCompletionRequest
from gateway.errors import error_field, field_path, telling_error


@pytest.mark.parametrize(("loc", "path"), [
    (("body", "messages", 0, "user", "content"), "messages.0.user.content"),
    (("body", "stop", "list[constrained-str]", 2), "stop.2"),
    (("body", "stop", "constrained-str"), "stop"),
    (("body", "tool_choice", "NamedToolChoice", "allowed_tools"), "tool_choice.allowed_tools"),
    (("header", "anthropic-version"), "anthropic-version"),
    (("query", "limit"), "limit"),
    (("body",), "body"),
    (("body", ""), "body"),  # an empty key sent as an unknown field (`{"": ""}`) is no field name
])
def test_roots_and_union_tags_are_left_out(loc: tuple[int | str, ...], path: str) -> None:
    assert field_path(loc) == path


def test_a_model_level_error_names_its_param() -> None:
    with pytest.raises(ValidationError) as info:
        ChatCompletionRequest.model_validate({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 1})
    [error] = info.value.errors()
    assert error["loc"] == () and error_field(error) == "top_logprobs"  # not the body it was raised on
    assert error_field({"loc": ("body", "n"), "ctx": {"le": 1}}) == "n"  # other contexts hold no field


def test_the_telling_error_is_the_deepest_then_one_about_the_value_not_the_type() -> None:
    as_str = {"loc": ("body", "content", "str"), "type": "string_type"}
    too_short = {"loc": ("body", "content", "list[TextPart]"), "type": "too_short"}
    deeper = {"loc": ("body", "content", "list[TextPart]", 0, "text"), "type": "string_type"}
    assert telling_error([as_str, too_short]) is too_short  # `[]`: the list's fault, not "should be a string"
    assert telling_error([as_str, too_short, deeper]) is deeper  # the member the input got furthest into
    as_list = {"loc": ("body", "content", "list[TextPart]"), "type": "list_type"}
    assert telling_error([as_str, as_list]) is as_str  # `5`: neither member; pydantic's order
