"""A function tool's `parameters` become Anthropic's `input_schema`, which must be an object schema (Anthropic
refuses one without `type`, as the mock does): a schema naming no type describes the arguments object, as OpenAI's
always is; one naming another type is a 400 naming it, before any call."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import HumanMessage

from gateway import chat
from gateway.errors import InvalidRequestError
from tests.unit.test_gateway_chat import adapter, request


def _sent(parameters: dict[str, Any] | None) -> dict[str, Any]:
    chosen = adapter("anthropic")
    model = chosen.build_model("claude-sonnet-4-6", "test-key")
    assert isinstance(model, ChatAnthropic)
    function = {"name": "f"} if parameters is None else {"name": "f", "parameters": parameters}
    bound, _ = chat.prepare(chosen, model, request(tools=[{"type": "function", "function": function}]))
    payload = model._get_request_payload([HumanMessage("hi")], **getattr(bound, "kwargs", {}))
    return payload["tools"][0]["input_schema"]


@pytest.mark.parametrize(("parameters", "schema"), [
    (None, {"type": "object", "properties": {}}),
    ({}, {"type": "object"}),
    ({"properties": {"a": {"type": "string"}}}, {"type": "object", "properties": {"a": {"type": "string"}}}),
    ({"type": "object", "properties": {}}, {"type": "object", "properties": {}}),
])
def test_the_input_schema_is_an_object_schema(parameters: dict[str, Any] | None, schema: dict[str, Any]) -> None:
    assert _sent(parameters) == schema


def test_a_schema_of_another_type_is_refused_naming_it() -> None:
    with pytest.raises(InvalidRequestError) as refused:
        _sent({"type": "string"})
    assert (refused.value.param, refused.value.code) == ("tools.0.function.parameters", "unsupported_schema")
    assert "describes an object (type 'object'), not \"string\"" in refused.value.message
