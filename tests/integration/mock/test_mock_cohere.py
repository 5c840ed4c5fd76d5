"""The mock speaking Cohere v2 chat, driven by the official cohere SDK."""

from __future__ import annotations

from typing import Any

import cohere
import httpx
import pytest

import catalogue
from mockllm.cohere import TEMPLATE_TOKENS
from tests.integration.mock.common import NO_RETRY, OPENAI_TOOLS, TOOL_ASK, user
from tests.support.mockproc import MockServer

pytestmark = pytest.mark.integration


def test_cohere_chat(co: cohere.ClientV2) -> None:
    r = co.chat(model="command-r", messages=user("hello world"), request_options=NO_RETRY)
    assert r.finish_reason == "COMPLETE"
    assert r.message is not None and r.message.content is not None
    item: Any = r.message.content[0]
    assert item.text == "Echo: hello world"
    assert r.usage is not None and r.usage.billed_units is not None and r.usage.tokens is not None
    assert (r.usage.billed_units.input_tokens, r.usage.billed_units.output_tokens) == (2, 3)
    # `tokens` count the prompt template too (Cohere reports more read than billed)
    assert (r.usage.tokens.input_tokens, r.usage.tokens.output_tokens) == (2 + TEMPLATE_TOKENS, 3)
    cut = co.chat(model="m", messages=user("a b c"), max_tokens=2, request_options=NO_RETRY)
    assert cut.finish_reason == "MAX_TOKENS"


def test_cohere_stream(co: cohere.ClientV2) -> None:
    events: list[Any] = list(co.chat_stream(model="m", messages=user("one two"), request_options=NO_RETRY))
    types = [e.type for e in events]
    assert types == ["message-start", "content-start", *["content-delta"] * 3, "content-end", "message-end"]
    assert "".join(e.delta.message.content.text for e in events if e.type == "content-delta") == "Echo: one two"
    end = events[-1].delta
    assert end.finish_reason == "COMPLETE"
    assert (end.usage.billed_units.input_tokens, end.usage.tokens.output_tokens) == (2, 3)


def test_cohere_tools(co: cohere.ClientV2) -> None:
    r = co.chat(model="m", messages=user(TOOL_ASK), tools=OPENAI_TOOLS, request_options=NO_RETRY)
    assert r.finish_reason == "TOOL_CALL"
    assert r.message is not None and r.message.tool_calls is not None
    call: Any = r.message.tool_calls[0]
    assert (call.function.name, call.function.arguments) == ("get_weather", '{"city":"Paris"}')
    events: list[Any] = list(
        co.chat_stream(model="m", messages=user(TOOL_ASK), tools=OPENAI_TOOLS, request_options=NO_RETRY)
    )
    types = [e.type for e in events]
    assert types[0] == "message-start" and types[-2:] == ["tool-call-end", "message-end"]
    assert "tool-call-start" in types and "tool-plan-delta" in types
    args = "".join(e.delta.message.tool_calls.function.arguments for e in events if e.type == "tool-call-delta")
    assert args == '{"city":"Paris"}'
    assert events[-1].delta.finish_reason == "TOOL_CALL"


def test_cohere_finish_directive(co: cohere.ClientV2) -> None:
    r = co.chat(model="m", messages=user("half an answer [[mock:finish=ERROR]]"), request_options=NO_RETRY)
    assert r.finish_reason == "ERROR"
    events: list[Any] = list(co.chat_stream(model="m", messages=user("x [[mock:finish=TIMEOUT]]"),
                                            request_options=NO_RETRY))
    assert events[-1].type == "message-end" and events[-1].delta.finish_reason == "TIMEOUT"


def test_cohere_faults(co: cohere.ClientV2) -> None:
    for fault, exc in [
        ("429", cohere.TooManyRequestsError),
        ("500", cohere.InternalServerError),
        ("503", cohere.ServiceUnavailableError),
    ]:
        with pytest.raises(exc) as info:
            co.chat(model="m", messages=user(f"x [[mock:fault={fault}]]"), request_options=NO_RETRY)
        assert info.value.status_code == int(fault)
        assert "message" in info.value.body
    with pytest.raises(cohere.core.ApiError) as malformed:
        co.chat(model="m", messages=user("x [[mock:fault=malformed]]"), request_options=NO_RETRY)
    assert malformed.value.status_code == 200
    # the SDK logs and skips undecodable stream events: no text comes out
    events: list[Any] = list(
        co.chat_stream(model="m", messages=user("x [[mock:fault=malformed]]"), request_options=NO_RETRY)
    )
    assert not [e for e in events if e.type == "content-delta"]
    with pytest.raises(httpx.RemoteProtocolError):
        co.chat(model="m", messages=user("x [[mock:fault=disconnect]]"), request_options=NO_RETRY)
    got: list[Any] = []
    with pytest.raises(httpx.RemoteProtocolError):
        for e in co.chat_stream(model="m", messages=user("a b c [[mock:fault=disconnect]]"), request_options=NO_RETRY):
            got.append(e)
    assert [e.type for e in got] == ["message-start", "content-start", "content-delta"]


def test_cohere_auth_and_models(mock: MockServer, co: cohere.ClientV2) -> None:
    with pytest.raises(cohere.UnauthorizedError) as info:
        cohere.ClientV2(api_key="wrong", base_url=mock.url).chat(
            model="m", messages=user("x"), request_options=NO_RETRY
        )
    assert info.value.status_code == 401 and "message" in info.value.body
    models = co.models.list(default_only=True, endpoint="chat")
    assert models.models and models.models[0].name == catalogue.provider("cohere").models[0]
