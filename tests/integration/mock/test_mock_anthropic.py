"""The mock speaking Anthropic messages, driven by the official anthropic SDK."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import pytest

from tests.integration.mock.common import ANTHROPIC_TOOLS, KEY, TOOL_ASK, is_transport_error, user
from tests.integration.sdk_narrowing import error_body
from tests.support.mockproc import MockServer

pytestmark = pytest.mark.integration


def test_anthropic_plain(ant: anthropic.Anthropic) -> None:
    r = ant.messages.create(model="claude-x", max_tokens=50, system="be brief", messages=user("hello world"))
    assert r.content[0].type == "text" and r.content[0].text == "Echo: hello world"
    assert (r.stop_reason, r.model) == ("end_turn", "claude-x")
    assert (r.usage.input_tokens, r.usage.output_tokens) == (4, 3)
    cut = ant.messages.create(model="m", max_tokens=2, messages=user("a b c"))
    assert cut.stop_reason == "max_tokens"


def test_anthropic_stream(ant: anthropic.Anthropic) -> None:
    with ant.messages.stream(model="m", max_tokens=50, messages=user("one two three")) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(pieces) == "Echo: one two three"
    assert len(pieces) == 4
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (3, 4)


def test_anthropic_raw_event_sequence(ant: anthropic.Anthropic) -> None:
    events = [e.type for e in ant.messages.create(model="m", max_tokens=9, messages=user("a b"), stream=True)]
    assert events == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]  # the SDK drops ``ping``


def test_anthropic_tool_use(ant: anthropic.Anthropic) -> None:
    r = ant.messages.create(model="m", max_tokens=50, messages=user(TOOL_ASK), tools=ANTHROPIC_TOOLS)
    block: Any = r.content[0]
    assert (r.stop_reason, block.type, block.name, block.input) == (
        "tool_use",
        "tool_use",
        "get_weather",
        {"city": "Paris"},
    )
    follow: Any = [
        *user(TOOL_ASK),
        {"role": "assistant", "content": [block.model_dump()]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "22C"}]},
    ]
    r2 = ant.messages.create(model="m", max_tokens=50, messages=follow, tools=ANTHROPIC_TOOLS)
    assert r2.content[0].type == "text" and r2.content[0].text == "Tool result: 22C"
    with ant.messages.stream(model="m", max_tokens=50, messages=user(TOOL_ASK), tools=ANTHROPIC_TOOLS) as stream:
        final = stream.get_final_message()
    streamed: Any = final.content[0]
    assert (final.stop_reason, streamed.name, streamed.input) == ("tool_use", "get_weather", {"city": "Paris"})


def test_a_custom_tool_without_its_schema_is_refused_as_anthropic_refuses_it(ant: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        ant.messages.create(model="m", max_tokens=50, messages=user(TOOL_ASK),
                            tools=[{"name": "now"}])  # pyright: ignore[reportArgumentType]  # no input_schema, on purpose
    assert error_body(info.value)["error"] == {
        "type": "invalid_request_error", "message": "tools.0.custom.input_schema: Field required"}
    server_tool: Any = {"type": "web_search_20250305", "name": "web_search"}  # server tools have none
    assert ant.messages.create(model="m", max_tokens=50, messages=user("hi"), tools=[server_tool]).content


def test_anthropic_models(ant: anthropic.Anthropic) -> None:
    assert "claude-haiku-4-5" in [m.id for m in ant.models.list()]


@pytest.mark.parametrize(
    ("fault", "exc", "etype"),
    [
        ("429", anthropic.RateLimitError, "rate_limit_error"),
        ("500", anthropic.InternalServerError, "api_error"),
        ("503", anthropic.OverloadedError, "overloaded_error"),  # Anthropic's overload is a 529
        ("404", anthropic.NotFoundError, "not_found_error"),
        ("413", anthropic.RequestTooLargeError, "request_too_large"),
    ],
)
def test_anthropic_error_faults(
    ant: anthropic.Anthropic, fault: str, exc: type[anthropic.APIStatusError], etype: str
) -> None:
    with pytest.raises(exc) as info:
        ant.messages.create(model="m", max_tokens=5, messages=user(f"x [[mock:fault={fault}]]"))
    body: Any = info.value.body
    assert body["type"] == "error" and body["error"]["type"] == etype


def test_anthropic_malformed_and_disconnect(ant: anthropic.Anthropic) -> None:
    with pytest.raises(ValueError):
        ant.messages.create(model="m", max_tokens=5, messages=user("x [[mock:fault=malformed]]"))
    with (
        pytest.raises(ValueError),
        ant.messages.stream(model="m", max_tokens=5, messages=user("x [[mock:fault=malformed]]")) as s,
    ):
        list(s.text_stream)
    with pytest.raises(anthropic.APIConnectionError):
        ant.messages.create(model="m", max_tokens=5, messages=user("x [[mock:fault=disconnect]]"))
    got: list[str] = []
    with pytest.raises(Exception) as info:  # transport error type differs (httpx/httpx2): checked below
        with ant.messages.stream(model="m", max_tokens=50, messages=user("a b c d [[mock:fault=disconnect]]")) as s:
            got.extend(s.text_stream)
    assert is_transport_error(info.value), repr(info.value)
    assert got == []  # message_start, content_block_start, ping: no text yet


def test_anthropic_error_event_in_a_stream(ant: anthropic.Anthropic) -> None:
    # The API's overloaded_error can arrive as an `error` event after the stream began (status 200).
    got: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as info:
        with ant.messages.stream(model="m", max_tokens=50, messages=user("a b c d [[mock:fault=midstream]]")) as s:
            got.extend(s.text_stream)
    body: Any = info.value.body
    assert body == {"type": "error", "error": {"type": "overloaded_error",
                                               "message": "The service is temporarily overloaded (mock fault 503)."}}
    assert got == []  # message_start, content_block_start, ping, then the error


def test_anthropic_auth_and_version(mock: MockServer) -> None:
    bad = anthropic.Anthropic(base_url=mock.url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as info:
        bad.messages.create(model="m", max_tokens=5, messages=user("x"))
    body: Any = info.value.body
    assert body["error"]["type"] == "authentication_error"
    payload = {"model": "m", "max_tokens": 5, "messages": user("x")}
    r = httpx.post(f"{mock.url}/v1/messages", json=payload, headers={"x-api-key": KEY})
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert "anthropic-version" in r.json()["error"]["message"]
    ok = httpx.post(
        f"{mock.url}/v1/messages", json=payload, headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    )
    assert ok.status_code == 200 and ok.json()["content"][0]["text"] == "Echo: x"
    r = httpx.post(
        f"{mock.url}/v1/messages",
        json={"model": "m", "messages": user("x")},
        headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
    )
    assert r.status_code == 400 and "max_tokens" in r.json()["error"]["message"]


def test_anthropic_request_ids_and_a_refusal_as_the_sdk_sees_them(ant: anthropic.Anthropic) -> None:
    # The SDK reads `request-id` into `_request_id`, and a refusal's id from the error body.
    message = ant.messages.create(model="m", max_tokens=50, messages=user("hi"))
    assert (message._request_id or "").startswith("req_")
    with pytest.raises(anthropic.BadRequestError) as info:
        ant.messages.create(model="m", max_tokens=4000, messages=user("hi"), extra_body={"temperature": 0.5},
                            thinking={"type": "enabled", "budget_tokens": 1024})
    body = error_body(info.value)
    assert body["error"]["message"] == "temperature may only be set to 1 when thinking is enabled or in adaptive mode"
    assert body["request_id"] == info.value.request_id == info.value.response.headers["request-id"]
