"""The Messages API request models against the official `anthropic` SDK's own request parameters.

Every parameter the SDK can send is declared by the gateway's model (forwarded as sent), listed in NOT_SERVED
(a 400 saying why), or one the SDK sends as an account-selecting header (refused by name); a new SDK parameter
fails here until it is classified. Where both declare a fixed set of values, the gateway accepts every one.
"""

from __future__ import annotations

import typing
from typing import Any

from anthropic.types import message_count_tokens_params, message_create_params
from anthropic.types.beta import message_create_params as beta_create_params

from gateway.api.anthropic_schemas import NOT_SERVED, CountTokensRequest, MessagesRequest
from gateway.api.routes.messages import ACCOUNT_HEADERS

# Sent by the SDK as `anthropic-workspace-id` / `anthropic-user-profile-id` headers, not in the body.
AS_HEADERS = {"workspace_id", "user_profile_id"}
# Sampling fields of the 2023-06-01 API that ChatAnthropic still sends; anthropic 2.x's typed create() no
# longer names them, and the gateway forwards them with the client's version.
SAMPLING = {"temperature", "top_p", "top_k"}


def literals(hint: Any) -> set[Any]:
    """The values of every Literal inside a type (through Optional, unions, Annotated and TypedDicts)."""
    if typing.get_origin(hint) is typing.Literal:
        return set(typing.get_args(hint))
    return set().union(*(literals(arg) for arg in typing.get_args(hint))) if typing.get_args(hint) else set()


def test_the_sdk_headers_are_the_ones_refused() -> None:
    assert {f"anthropic-{name.replace('_', '-')}" for name in AS_HEADERS} == set(ACCOUNT_HEADERS)


def test_every_create_parameter_of_the_sdk_is_declared_not_served_or_a_header() -> None:
    sdk = set(typing.get_type_hints(message_create_params.MessageCreateParamsStreaming))
    declared = set(MessagesRequest.model_fields)
    assert sdk - declared - set(NOT_SERVED) - AS_HEADERS == set()
    assert declared - sdk == SAMPLING
    beta = set(typing.get_type_hints(beta_create_params.MessageCreateParamsStreaming))
    assert set(NOT_SERVED) <= sdk | beta and set(NOT_SERVED).isdisjoint(declared)


def test_every_beta_create_parameter_is_declared_not_served_or_a_header() -> None:
    # `client.beta.messages.create`: its own body fields too are forwarded or refused saying why, never a bare
    # "extra inputs" (`betas` is the SDK's way to send the anthropic-beta header, which is forwarded).
    beta = set(typing.get_type_hints(beta_create_params.MessageCreateParamsStreaming))
    assert beta - set(MessagesRequest.model_fields) - set(NOT_SERVED) - AS_HEADERS - {"betas"} == set()


def test_every_count_tokens_parameter_of_the_sdk_is_declared_or_a_header() -> None:
    sdk = set(typing.get_type_hints(message_count_tokens_params.MessageCountTokensParams))
    declared = set(CountTokensRequest.model_fields)
    assert sdk - declared - AS_HEADERS == set()
    assert declared <= sdk


def test_every_value_the_sdk_can_send_for_a_fixed_set_is_accepted() -> None:
    sdk = typing.get_type_hints(message_create_params.MessageCreateParamsStreaming)
    for name in ("service_tier", "speed"):
        theirs, ours = literals(sdk[name]), literals(typing.get_type_hints(MessagesRequest)[name])
        assert theirs and theirs <= ours, f"{name}: the SDK also sends {sorted(theirs - ours)}"
    thinking_types = {literals(typing.get_type_hints(member)["type"]).pop()
                      for member in typing.get_args(sdk["thinking"]) if member is not type(None)}
    members = typing.get_args(typing.get_type_hints(MessagesRequest)["thinking"])  # the models, and None
    ours = set().union(*(literals(m.model_fields["type"].annotation) for m in members if m is not type(None)))
    assert thinking_types == ours == {"enabled", "adaptive", "between_tools", "disabled"}
