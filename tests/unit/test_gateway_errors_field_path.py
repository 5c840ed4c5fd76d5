"""`errors.field_path` / `error_field`: the request field a pydantic validation error names."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.api.chat_request import ChatCompletionRequest
from gateway.errors import error_field, field_path


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
