"""The mock speaking OpenAI chat completions, driven by the official openai SDK."""

from __future__ import annotations

import time
from typing import Any

import httpx
import openai
import pytest

from tests.integration.mock.common import KEY, OPENAI_TOOLS, TOOL_ASK, user
from tests.support.mockproc import MockServer

pytestmark = pytest.mark.integration


def test_openai_plain(oai: openai.OpenAI) -> None:
    r = oai.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "system", "content": "be brief"}, *user("hello world")]
    )
    assert r.choices[0].message.content == "Echo: hello world"
    assert r.choices[0].finish_reason == "stop"
    assert r.model == "gpt-4o-mini"
    assert r.usage is not None
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (4, 3, 7)


def test_openai_max_tokens_truncates(oai: openai.OpenAI) -> None:
    r = oai.chat.completions.create(model="m", messages=user("a b c d e"), max_tokens=2)
    assert (r.choices[0].message.content, r.choices[0].finish_reason) == ("Echo: a", "length")


def test_openai_stream_with_usage(oai: openai.OpenAI) -> None:
    chunks = list(
        oai.chat.completions.create(
            model="m", messages=user("one two three"), stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: one two three"
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) == 4
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (3, 4)


def test_openai_stream_without_usage(oai: openai.OpenAI) -> None:
    chunks = list(oai.chat.completions.create(model="m", messages=user("x"), stream=True))
    assert all(c.usage is None and c.choices for c in chunks)


def test_openai_tool_call_and_result(oai: openai.OpenAI) -> None:
    r = oai.chat.completions.create(model="m", messages=user(TOOL_ASK), tools=OPENAI_TOOLS)
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call: Any = choice.message.tool_calls[0]
    assert (call.function.name, call.function.arguments) == ("get_weather", '{"city":"Paris"}')
    follow: Any = [
        *user(TOOL_ASK),
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "22C"},
    ]
    r2 = oai.chat.completions.create(model="m", messages=follow, tools=OPENAI_TOOLS)
    assert r2.choices[0].message.content == "Tool result: 22C"
    no_tool = oai.chat.completions.create(model="m", messages=user(TOOL_ASK))
    assert no_tool.choices[0].message.content == "Echo: weather in Paris?"


def test_openai_tool_call_stream(oai: openai.OpenAI) -> None:
    chunks = list(oai.chat.completions.create(model="m", messages=user(TOOL_ASK), tools=OPENAI_TOOLS, stream=True))
    deltas = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert len(deltas) > 2
    assert deltas[0].function is not None and deltas[0].function.name == "get_weather"
    assert "".join((d.function.arguments or "") for d in deltas if d.function) == '{"city":"Paris"}'
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_openai_models(oai: openai.OpenAI) -> None:
    assert "gpt-4o-mini" in [m.id for m in oai.models.list()]


@pytest.mark.parametrize(
    ("fault", "exc", "status"),
    [
        ("429", openai.RateLimitError, 429),
        ("500", openai.InternalServerError, 500),
        ("503", openai.InternalServerError, 503),
        ("404", openai.NotFoundError, 404),
        ("midstream", openai.InternalServerError, 503),  # a stream's fault: a plain request hears it as overloaded
    ],
)
def test_openai_error_faults(oai: openai.OpenAI, fault: str, exc: type[openai.APIStatusError], status: int) -> None:
    with pytest.raises(exc) as info:
        oai.chat.completions.create(model="m", messages=user(f"x [[mock:fault={fault}]]"))
    assert info.value.status_code == status
    assert isinstance(info.value.body, dict) and "message" in info.value.body
    if status == 429:
        assert info.value.response.headers["retry-after"] == "1"
        assert info.value.code == "rate_limit_exceeded"


def test_openai_error_chunk_in_a_stream(oai: openai.OpenAI) -> None:
    got: list[str] = []
    with pytest.raises(openai.APIError) as info:
        for chunk in oai.chat.completions.create(model="m", messages=user("a b c d [[mock:fault=midstream]]"),
                                                 stream=True):
            got.extend(c.delta.content or "" for c in chunk.choices)
    assert info.value.message == "The service is temporarily overloaded (mock fault 503)."
    assert "".join(got).startswith("Echo:")  # some content came first


def test_openai_fault_by_header(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError):
        oai.chat.completions.create(model="m", messages=user("x"), extra_headers={"x-mock-fault": "500"})


def test_openai_malformed(oai: openai.OpenAI) -> None:
    with pytest.raises(ValueError):
        oai.chat.completions.create(model="m", messages=user("x [[mock:fault=malformed]]"))
    with pytest.raises(ValueError):
        list(oai.chat.completions.create(model="m", messages=user("x [[mock:fault=malformed]]"), stream=True))


def test_openai_disconnect(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.APIConnectionError):
        oai.chat.completions.create(model="m", messages=user("x [[mock:fault=disconnect]]"))
    got: list[Any] = []
    with pytest.raises(openai.APIConnectionError):
        for c in oai.chat.completions.create(
            model="m", messages=user("a b c d [[mock:fault=disconnect]]"), stream=True
        ):
            got.append(c)
    assert 0 < len(got) < 5


def test_openai_timeout(mock: MockServer) -> None:
    client = openai.OpenAI(base_url=f"{mock.url}/v1", api_key=KEY, max_retries=0, timeout=1)
    start = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="m", messages=user("x [[mock:fault=timeout]]"))
    assert time.monotonic() - start < 1.9
    slow = openai.OpenAI(base_url=f"{mock.url}/v1", api_key=KEY, max_retries=0, timeout=6)
    r = slow.chat.completions.create(model="m", messages=user("late [[mock:fault=timeout]]"))
    assert r.choices[0].message.content == "Echo: late"
    assert time.monotonic() - start >= 2.9


def test_openai_latency(oai: openai.OpenAI) -> None:
    start = time.monotonic()
    oai.chat.completions.create(model="m", messages=user("x [[mock:latency=300]]"))
    assert time.monotonic() - start >= 0.3
    start = time.monotonic()
    stream = oai.chat.completions.create(
        model="m", messages=user("x"), stream=True, extra_headers={"x-mock-latency-ms": "300"}
    )
    next(iter(stream))
    assert time.monotonic() - start >= 0.3
    stream.close()


def test_openai_auth(mock: MockServer) -> None:
    bad = openai.OpenAI(base_url=f"{mock.url}/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        bad.chat.completions.create(model="m", messages=user("x"))
    assert info.value.code == "invalid_api_key"
    r = httpx.post(f"{mock.url}/v1/chat/completions", json={"model": "m", "messages": user("x")})
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert r.json()["error"]["code"] == "invalid_api_key"
