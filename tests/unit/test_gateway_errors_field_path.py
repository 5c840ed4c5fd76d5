"""`errors.field_path`: the request field a pydantic validation error's location names."""

from __future__ import annotations

import pytest

from gateway.errors import field_path


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
