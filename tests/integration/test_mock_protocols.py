"""The mock upstream as a real process, driven by the official SDKs and the LangChain integrations."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import cohere
import httpx
import openai
import pytest
from langchain_anthropic import ChatAnthropic
from langchain_cohere import ChatCohere
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

try:
    from tests.support.mockproc import MockServer, run_mock
except ImportError:  # repository root not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.support.mockproc import MockServer, run_mock

pytestmark = pytest.mark.integration

KEY = "sk-mock-test"
ROTATED = "sk-mock-rotated"
TOOL_ASK = 'weather in Paris? [[mock:tool=get_weather {"city": "Paris"}]]'
NO_RETRY: Any = {"max_retries": 0}  # cohere RequestOptions


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return "22C"


OPENAI_TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
ANTHROPIC_TOOLS: Any = [
    {"name": "get_weather", "description": "weather", "input_schema": {"type": "object", "properties": {}}}
]


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    env = {"MOCK_API_KEYS": f"{KEY},{ROTATED}", "MOCK_TIMEOUT_S": "2", "MOCK_FAULT_RATE": "0"}
    with run_mock(env) as server:
        yield server
        print(server.log_text())  # shown by pytest only when a test fails


@pytest.fixture
def oai(mock: MockServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{mock.url}/v1", api_key=KEY, max_retries=0, timeout=5)


@pytest.fixture
def ant(mock: MockServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=mock.url, api_key=KEY, max_retries=0, timeout=5)


@pytest.fixture
def co(mock: MockServer) -> cohere.ClientV2:
    return cohere.ClientV2(api_key=KEY, base_url=mock.url, timeout=5)


def user(text: str) -> Any:
    return [{"role": "user", "content": text}]


def is_transport_error(exc: BaseException) -> bool:
    """Connection-level failure as raised by httpx/httpx2 or wrapped by an SDK."""
    return type(exc).__name__ in {"APIConnectionError", "RemoteProtocolError", "ReadError"}


# ---------------------------------------------------------------- OpenAI


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


# ---------------------------------------------------------------- Anthropic


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


def test_anthropic_models(ant: anthropic.Anthropic) -> None:
    assert "claude-3-5-haiku-latest" in [m.id for m in ant.models.list()]


@pytest.mark.parametrize(
    ("fault", "exc", "etype"),
    [
        ("429", anthropic.RateLimitError, "rate_limit_error"),
        ("500", anthropic.InternalServerError, "api_error"),
        ("503", anthropic.InternalServerError, "overloaded_error"),
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


# ---------------------------------------------------------------- Cohere


def test_cohere_chat(co: cohere.ClientV2) -> None:
    r = co.chat(model="command-r", messages=user("hello world"), request_options=NO_RETRY)
    assert r.finish_reason == "COMPLETE"
    assert r.message is not None and r.message.content is not None
    item: Any = r.message.content[0]
    assert item.text == "Echo: hello world"
    assert r.usage is not None and r.usage.billed_units is not None and r.usage.tokens is not None
    assert (r.usage.billed_units.input_tokens, r.usage.billed_units.output_tokens) == (2, 3)
    assert (r.usage.tokens.input_tokens, r.usage.tokens.output_tokens) == (2, 3)
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
    assert models.models and models.models[0].name == "command-r-plus-08-2024"


# ---------------------------------------------------------------- LangChain


def _lc_models(url: str) -> dict[str, Any]:
    return {
        "openai": ChatOpenAI(
            base_url=f"{url}/v1", api_key=SecretStr(KEY), model="gpt-4o-mini", max_retries=0, stream_usage=True
        ),
        "anthropic": ChatAnthropic(
            model_name="claude-3-5-haiku-latest",
            base_url=url,
            api_key=SecretStr(KEY),
            max_retries=0,
            timeout=None,
            stop=None,
        ),
        "cohere": ChatCohere(base_url=url, cohere_api_key=SecretStr(KEY), model="command-r-plus-08-2024"),
    }


@pytest.mark.parametrize("provider", ["openai", "anthropic", "cohere"])
def test_langchain_invoke_stream_tools(mock: MockServer, provider: str) -> None:
    llm = _lc_models(mock.url)[provider]
    msg = llm.invoke("hello there")
    assert isinstance(msg, AIMessage) and msg.content == "Echo: hello there"
    assert msg.usage_metadata is not None
    assert (msg.usage_metadata["input_tokens"], msg.usage_metadata["output_tokens"]) == (2, 3)

    chunks = list(llm.stream("one two three"))
    assert len(chunks) >= 4
    total: Any = chunks[0]
    for c in chunks[1:]:
        total = total + c
    assert isinstance(total, AIMessageChunk) and total.text == "Echo: one two three"
    if provider == "cohere":  # langchain-cohere streams usage only as additional_kwargs["token_count"]
        assert total.additional_kwargs["token_count"]["output_tokens"] == 4
    else:
        assert total.usage_metadata is not None and total.usage_metadata["output_tokens"] == 4

    bound = llm.bind_tools([get_weather])
    ai = bound.invoke(TOOL_ASK)
    assert [(c["name"], c["args"]) for c in ai.tool_calls] == [("get_weather", {"city": "Paris"})]
    streamed: Any = None
    for c in bound.stream(TOOL_ASK):
        streamed = c if streamed is None else streamed + c
    if provider == "cohere":
        # langchain-cohere 0.6.0 gives every streamed tool-call chunk a fresh uuid, so the chunks do not
        # merge; the complete calls arrive in the last chunk's additional_kwargs["tool_calls"].
        calls = [(c["function"]["name"], c["function"]["arguments"]) for c in streamed.additional_kwargs["tool_calls"]]
        assert calls == [("get_weather", '{"city":"Paris"}')]
    else:
        assert [(c["name"], c["args"]) for c in streamed.tool_calls] == [("get_weather", {"city": "Paris"})]

    history: list[BaseMessage] = [HumanMessage(TOOL_ASK), ai, ToolMessage("22C", tool_call_id=ai.tool_calls[0]["id"])]
    assert bound.invoke(history).text == "Tool result: 22C"


@pytest.mark.parametrize("provider", ["openai", "anthropic", "cohere"])
async def test_langchain_async_paths(mock: MockServer, provider: str) -> None:
    llm = _lc_models(mock.url)[provider]
    msg = await llm.ainvoke("async hello")
    assert msg.content == "Echo: async hello"
    pieces = [c.text async for c in llm.astream("a b c")]
    assert "".join(pieces) == "Echo: a b c" and len([p for p in pieces if p]) == 4
    ai = await llm.bind_tools([get_weather]).ainvoke(TOOL_ASK)
    assert [(c["name"], c["args"]) for c in ai.tool_calls] == [("get_weather", {"city": "Paris"})]


def test_langchain_cohere_default_model_lookup(mock: MockServer) -> None:
    llm = ChatCohere(base_url=mock.url, cohere_api_key=SecretStr(KEY))  # asks GET /v1/models?default_only=true
    assert llm.model == "command-r-plus-08-2024"


# ---------------------------------------------------------------- control endpoints


def test_stats_track_last_key_and_reset(mock: MockServer) -> None:
    assert httpx.post(f"{mock.url}/_mock/reset").status_code == 200
    stats = httpx.get(f"{mock.url}/_mock/stats").json()
    assert stats["openai"]["requests"] == 0 and stats["cohere"]["last_key"] is None
    openai.OpenAI(base_url=f"{mock.url}/v1", api_key=ROTATED, max_retries=0).chat.completions.create(
        model="m", messages=user("x")
    )
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=mock.url, api_key="sk-bad", max_retries=0).messages.create(
            model="m", max_tokens=5, messages=user("x")
        )
    stats = httpx.get(f"{mock.url}/_mock/stats").json()
    assert stats["openai"] == {"requests": 1, "models": 0, "last_key": ROTATED, "unauthorized": 0, "faults": 0,
                               "last_params": {"model": "m"}}
    assert stats["anthropic"]["last_key"] == "sk-bad" and stats["anthropic"]["unauthorized"] == 1
    assert stats["cohere"]["requests"] == 0


def test_fault_mix_is_seeded() -> None:
    env = {"MOCK_FAULTS": "429,500", "MOCK_FAULT_RATE": "0.7", "MOCK_SEED": "11"}
    with run_mock(env) as server:

        def statuses() -> list[int]:
            with httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {KEY}"}) as client:
                body = {"model": "m", "messages": user("x")}
                return [client.post("/v1/chat/completions", json=body).status_code for _ in range(30)]

        first = statuses()
        assert set(first) == {200, 429, 500}
        httpx.post(f"{server.url}/_mock/reset")
        assert statuses() == first
