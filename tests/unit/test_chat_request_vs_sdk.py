"""The chat request model against the official `openai` SDK's own request parameters.

Every parameter the SDK can send is either declared by the gateway's request model (then honoured or refused
by each provider's adapter) or listed in NOT_SERVED (a 400 saying why); a new SDK parameter fails here until
it is classified. Where both declare a fixed set of values, the gateway accepts every value the SDK sends.
"""

from __future__ import annotations

import typing
from typing import Any

import pytest
from openai.types.chat import chat_completion_tool_union_param, completion_create_params
from openai.types.chat.chat_completion_assistant_message_param import ChatCompletionAssistantMessageParam
from openai.types.chat.chat_completion_content_part_param import ChatCompletionContentPartParam
from openai.types.chat.chat_completion_stream_options_param import ChatCompletionStreamOptionsParam
from openai.types.chat.chat_completion_tool_choice_option_param import ChatCompletionToolChoiceOptionParam
from pydantic import ValidationError

from gateway.api.chat_request import (
    NOT_SERVED,
    NOT_SERVED_CHOICES,
    NOT_SERVED_PARTS,
    AssistantPart,
    ChatCompletionRequest,
    ImagePart,
    StreamOptions,
    TextPart,
)

SDK = typing.get_type_hints(completion_create_params.CompletionCreateParamsStreaming)  # the base plus `stream`
OURS = typing.get_type_hints(ChatCompletionRequest)


def literals(hint: Any) -> set[Any]:
    """The values of every Literal inside a type (through Optional, unions and Annotated)."""
    if typing.get_origin(hint) is typing.Literal:
        return set(typing.get_args(hint))
    return set().union(*(literals(arg) for arg in typing.get_args(hint))) if typing.get_args(hint) else set()


def test_every_parameter_of_the_sdk_is_declared_or_not_served() -> None:
    declared = set(ChatCompletionRequest.model_fields)
    assert set(SDK) - declared - set(NOT_SERVED) == set()


def test_the_gateway_declares_no_parameter_the_sdk_does_not_know() -> None:
    assert set(ChatCompletionRequest.model_fields) - set(SDK) == set()
    assert set(NOT_SERVED) - set(SDK) == set()
    # Declared only to take the `null` a client may send for "not set": any value is refused by name.
    assert {name: ChatCompletionRequest.model_fields[name].annotation for name in NOT_SERVED} == dict.fromkeys(
        NOT_SERVED, type(None))


def test_every_value_the_sdk_can_send_for_a_fixed_set_is_accepted() -> None:
    checked = []
    for name, hint in OURS.items():
        ours = literals(hint)
        if not ours or name not in SDK or typing.get_origin(hint) is list:
            continue
        theirs = literals(SDK[name])
        if theirs and name != "tool_choice":  # tool_choice's literals sit beside the named-function object
            assert theirs <= ours, f"{name}: the SDK also sends {sorted(theirs - ours)}"
            checked.append(name)
    assert {"reasoning_effort", "service_tier", "verbosity", "prompt_cache_retention"} <= set(checked)


def test_stream_options_take_every_field_of_the_sdk_with_openais_defaults() -> None:
    assert set(StreamOptions.model_fields) == set(typing.get_type_hints(ChatCompletionStreamOptionsParam))
    assert StreamOptions().include_usage is False  # `stream_options: {}` asks for no usage chunk
    assert StreamOptions.model_validate({"include_obfuscation": False}).include_obfuscation is False
    with pytest.raises(ValidationError, match="include_obfuscation"):  # the gateway never pads its deltas
        StreamOptions.model_validate({"include_obfuscation": True})


def _part_types(union: Any) -> set[str]:
    """The `type` of each content part TypedDict in a union (or an iterable of one)."""
    return set().union(*(literals(typing.get_type_hints(part)["type"]) for part in typing.get_args(union)))


def test_every_content_part_type_of_the_sdk_is_served_or_refused_by_name() -> None:
    user = _part_types(ChatCompletionContentPartParam)
    assert user - set(NOT_SERVED_PARTS) == literals(typing.get_type_hints(TextPart)["type"]) | literals(
        typing.get_type_hints(ImagePart)["type"])
    assert set(NOT_SERVED_PARTS) <= user
    sdk_assistant = typing.get_args(typing.get_type_hints(ChatCompletionAssistantMessageParam)["content"])[1]
    ours = typing.get_args(typing.get_args(AssistantPart)[0])  # Annotated[TextPart | RefusalPart, discriminator]
    assert _part_types(typing.get_args(sdk_assistant)[0]) == _part_types(typing.Union[ours])  # noqa: UP007


def test_every_tool_and_tool_choice_form_of_the_sdk_is_served_or_refused_with_a_reason() -> None:
    tool_types = {literals(typing.get_type_hints(member)["type"]).pop()
                  for member in typing.get_args(chat_completion_tool_union_param.ChatCompletionToolUnionParam)}
    assert tool_types == {"function", "custom"}  # function tools are served; a custom tool is refused by type
    choice_forms = {literals(typing.get_type_hints(member)["type"]).pop()
                    for member in typing.get_args(ChatCompletionToolChoiceOptionParam) if isinstance(member, type)}
    assert choice_forms - {"function"} == set(NOT_SERVED_CHOICES)
    for tool in ({"type": "custom", "custom": {"name": "c"}},):
        with pytest.raises(ValidationError) as refused:
            ChatCompletionRequest.model_validate({"messages": [{"role": "user", "content": "x"}], "tools": [tool]})
        assert refused.value.errors()[0]["type"] == "not_served"
