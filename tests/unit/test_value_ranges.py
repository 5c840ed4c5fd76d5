"""Parameters whose range at a provider is narrower than OpenAI's, and values that ask for the default.

A value outside the provider's range is a 400 naming it before any call (Anthropic's temperature ends at 1, Cohere's
p at 0.99 and its penalties go from 0 to 1); the value asking for OpenAI's default is taken everywhere and sent to
none; the published schema says both, so generated clients and fuzzers send what the server takes.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from jsonschema_rs import Draft202012Validator

from gateway import chat
from gateway.api.chat_request import ChatCompletionRequest
from gateway.chat.params import document_refusals
from gateway.errors import InvalidRequestError
from tests.unit.test_gateway_chat import adapter, request

MODELS = {"anthropic": "claude-sonnet-4-6", "cohere": "command-a-03-2025", "openai": "gpt-4o-mini"}


def _prepare(provider: str, **fields: Any) -> dict[str, Any]:
    chosen = adapter(provider)
    return chat.prepare(chosen, chosen.build_model(MODELS[provider], "test-key"), request(**fields))[1]


@pytest.mark.parametrize(("provider", "field", "value"), [
    ("anthropic", "temperature", 1.5), ("cohere", "top_p", 0.995), ("cohere", "top_p", 0.0),
    ("cohere", "presence_penalty", 1.5), ("cohere", "frequency_penalty", -0.5)])
def test_a_value_outside_the_providers_range_is_a_400_naming_it(provider: str, field: str, value: float) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        _prepare(provider, **{field: value})
    assert (refused.value.param, refused.value.code) == (field, "unsupported_parameter")
    assert provider in refused.value.message and f"not {value:g}" in refused.value.message


@pytest.mark.parametrize(("provider", "fields", "sent"), [
    ("anthropic", {"temperature": 1.0}, {"temperature": 1.0}),
    ("anthropic", {"temperature": 0.5, "top_p": 1, "presence_penalty": 0, "logprobs": False}, {"temperature": 0.5}),
    ("cohere", {"top_p": 0.5, "presence_penalty": 1}, {"p": 0.5, "presence_penalty": 1}),
    ("cohere", {"top_p": 1, "frequency_penalty": 0}, {}),
    ("openai", {"temperature": 1.5, "presence_penalty": -2}, {"temperature": 1.5, "presence_penalty": -2}),
])
def test_values_within_the_range_go_and_the_default_goes_nowhere(provider: str, fields: dict[str, Any],
                                                                  sent: dict[str, Any]) -> None:
    params = _prepare(provider, **fields)
    named = {"temperature", "p", "top_p", "presence_penalty", "frequency_penalty", "logprobs"}
    assert {k: v for k, v in params.items() if k in named} == sent


def _request_schema(provider: str) -> dict[str, Any]:
    schemas = {name: copy.deepcopy(schema) for name, schema in
               ChatCompletionRequest.model_json_schema(ref_template="#/$defs/{model}")["$defs"].items()}
    schemas["ChatCompletionRequest"] = ChatCompletionRequest.model_json_schema(ref_template="#/$defs/{model}")
    schemas["ChatCompletionRequest"].pop("$defs")
    document_refusals(schemas, adapter(provider))
    return {**schemas["ChatCompletionRequest"], "$defs": schemas}


@pytest.mark.parametrize(("provider", "taken", "refused"), [
    ("anthropic", [{"temperature": 1}, {"presence_penalty": 0}, {"store": False}, {"top_p": 1}, {"store": None},
                   {"presence_penalty": None}, {"logprobs": None}],
     [{"temperature": 1.01}, {"presence_penalty": 0.5}, {"store": True}]),
    ("cohere", [{"top_p": 0.99}, {"top_p": 1}, {"top_p": 0.01}, {"frequency_penalty": 1}, {"logprobs": False},
                {"logprobs": None}, {"top_p": None}],
     [{"top_p": 0.995}, {"top_p": 0}, {"frequency_penalty": -1}, {"logprobs": True}]),
])
def test_the_schema_says_what_the_server_takes(provider: str, taken: list[dict[str, Any]],
                                               refused: list[dict[str, Any]]) -> None:
    validator = Draft202012Validator(_request_schema(provider))
    base = {"messages": [{"role": "user", "content": "hi"}]}
    for fields in taken:
        assert validator.is_valid({**base, **fields}), fields
        _prepare(provider, **fields)  # and the server takes it
    for fields in refused:
        assert not validator.is_valid({**base, **fields}), fields
        with pytest.raises(InvalidRequestError):
            _prepare(provider, **fields)
