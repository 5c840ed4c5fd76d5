"""In-process tests of the mock app's routing, validation and error shapes (httpx ASGI transport)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

try:
    import mockllm  # noqa: F401
except ImportError:  # services/ not on sys.path (package not installed)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services"))

from mockllm.app import create_app
from mockllm.config import MockConfig

KEY = "k1"
OPENAI_H = {"authorization": f"Bearer {KEY}"}
ANTHROPIC_H = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
MSGS = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def client() -> Any:
    app = create_app(MockConfig(api_keys=frozenset({KEY})))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mock") as c:
        yield c


async def test_healthz_and_unknown_route(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/nope")).status_code == 404
    assert (await client.get("/v1/chat/completions")).status_code == 405


@pytest.mark.parametrize(
    ("path", "headers", "check"),
    [
        ("/v1/chat/completions", {}, lambda b: b["error"]["code"] == "invalid_api_key"),
        ("/v1/chat/completions", {"authorization": "Bearer nope"}, lambda b: b["error"]["code"] == "invalid_api_key"),
        ("/v1/messages", {"anthropic-version": "2023-06-01"}, lambda b: b["error"]["type"] == "authentication_error"),
        ("/v2/chat", {"authorization": "Basic k1"}, lambda b: isinstance(b["message"], str)),
    ],
)
async def test_unauthorized_in_provider_shape(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], check: Any
) -> None:
    r = await client.post(path, json={"model": "m", "messages": MSGS, "max_tokens": 5}, headers=headers)
    assert r.status_code == 401
    assert check(r.json())


async def test_anthropic_accepts_bearer_and_requires_version(client: httpx.AsyncClient) -> None:
    body = {"model": "m", "messages": MSGS, "max_tokens": 5}
    ok = await client.post("/v1/messages", json=body, headers={**OPENAI_H, "anthropic-version": "2023-06-01"})
    assert ok.status_code == 200 and ok.json()["content"] == [{"type": "text", "text": "Echo: hi"}]
    r = await client.post("/v1/messages", json=body, headers={"x-api-key": KEY})
    assert r.status_code == 400
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("path", "headers", "body"),
    [
        ("/v1/chat/completions", OPENAI_H, b"{not json"),
        ("/v1/chat/completions", OPENAI_H, b'{"messages": []}'),
        ("/v1/messages", ANTHROPIC_H, b'{"model": "m", "messages": [{"role": "user", "content": "x"}]}'),
        ("/v1/messages", ANTHROPIC_H, b'{"model": "m", "max_tokens": 5, "messages": [{"role": "bot"}]}'),
        ("/v2/chat", OPENAI_H, b'{"model": "m"}'),
        ("/v2/chat", OPENAI_H, b"[1, 2]"),
    ],
)
async def test_bad_requests_are_400(client: httpx.AsyncClient, path: str, headers: dict[str, str], body: bytes) -> None:
    r = await client.post(path, content=body, headers=headers)
    assert r.status_code == 400
    assert r.json()


async def test_models_dispatch_by_caller(client: httpx.AsyncClient) -> None:
    oai = (await client.get("/v1/models", headers=OPENAI_H)).json()
    assert oai["object"] == "list" and oai["data"][0]["object"] == "model"
    ant = (await client.get("/v1/models", headers=ANTHROPIC_H)).json()
    assert ant["data"][0]["type"] == "model" and ant["has_more"] is False
    co = (await client.get("/v1/models?default_only=true&endpoint=chat", headers=OPENAI_H)).json()
    assert co["models"][0]["endpoints"] == ["chat"]
    stats = (await client.get("/_mock/stats")).json()
    assert [stats[p]["models"] for p in ("openai", "anthropic", "cohere")] == [1, 1, 1]
    assert stats["openai"]["requests"] == 0


async def test_error_fault_headers_and_stats(client: httpx.AsyncClient) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "x [[mock:fault=429]]"}]}
    r = await client.post("/v1/chat/completions", json=body, headers=OPENAI_H)
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    r = await client.post(
        "/v2/chat", json={"model": "m", "messages": MSGS}, headers={**OPENAI_H, "x-mock-fault": "503"}
    )
    assert r.status_code == 503
    stats = (await client.get("/_mock/stats")).json()
    assert (stats["openai"]["faults"], stats["cohere"]["faults"], stats["cohere"]["last_key"]) == (1, 1, KEY)
    await client.post("/_mock/reset")
    assert (await client.get("/_mock/stats")).json()["openai"]["requests"] == 0


async def test_malformed_plain_body_is_invalid_json(client: httpx.AsyncClient) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "[[mock:fault=malformed]]"}]}
    r = await client.post("/v1/chat/completions", json=body, headers=OPENAI_H)
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()


async def test_openai_stream_frames(client: httpx.AsyncClient) -> None:
    body = {"model": "m", "messages": MSGS, "stream": True, "stream_options": {"include_usage": True}}
    r = await client.post("/v1/chat/completions", json=body, headers=OPENAI_H)
    assert r.headers["content-type"].startswith("text/event-stream")
    frames = [f for f in r.text.split("\n\n") if f]
    assert all(f.startswith("data: ") for f in frames)
    assert frames[-1] == "data: [DONE]"
    assert '"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,' in frames[-2]


async def test_an_openai_refusal_as_openai_sends_it(client: httpx.AsyncClient) -> None:
    ask = [{"role": "user", "content": "x [[mock:refusal=I can't help]]"}]
    r = await client.post("/v1/chat/completions", json={"model": "m", "messages": ask}, headers=OPENAI_H)
    message = r.json()["choices"][0]["message"]
    assert (message["content"], message["refusal"]) == (None, "I can't help")
    r = await client.post("/v1/chat/completions", json={"model": "m", "messages": ask, "stream": True},
                          headers=OPENAI_H)
    deltas = [json.loads(f[6:])["choices"][0]["delta"] for f in r.text.split("\n\n") if f.startswith("data: {")]
    assert deltas[0] == {"role": "assistant", "content": None, "refusal": ""}
    assert "".join(d.get("refusal") or "" for d in deltas) == "I can't help"
    assert not any(d.get("content") for d in deltas)


@pytest.mark.parametrize("stream", [False, True])
async def test_usage_details_as_openai_and_anthropic_report_them(client: httpx.AsyncClient, stream: bool) -> None:
    ask = [{"role": "user", "content": "one two three four [[mock:cached=3]] [[mock:reasoning=5]]"}]
    body = {"model": "m", "messages": ask, "stream": stream, "stream_options": {"include_usage": True}}
    r = await client.post("/v1/chat/completions", json=body, headers=OPENAI_H)
    doc = json.loads(r.text.split("\n\n")[-3][6:]) if stream else r.json()
    # The prompt's 6 words (the directives counted), "Echo: one two three four" and 5 reasoning tokens.
    assert doc["usage"] == {"prompt_tokens": 6, "completion_tokens": 10, "total_tokens": 16,
                            "prompt_tokens_details": {"cached_tokens": 3, "audio_tokens": 0},
                            "completion_tokens_details": {"reasoning_tokens": 5, "audio_tokens": 0,
                                                          "accepted_prediction_tokens": 0,
                                                          "rejected_prediction_tokens": 0}}
    r = await client.post("/v1/messages", json={"model": "m", "max_tokens": 50, "messages": ask},
                          headers=ANTHROPIC_H)
    assert r.json()["usage"] == {"input_tokens": 3, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 3,
                                 "output_tokens": 10, "output_tokens_details": {"thinking_tokens": 5}}


@pytest.mark.parametrize("stream", [False, True])
async def test_max_tokens_cuts_an_openai_tool_call_as_openai_does(client: httpx.AsyncClient, stream: bool) -> None:
    ask = [{"role": "user", "content": 'w [[mock:tool=get_weather {"city": "Paris"}]]'}]
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    body = {"model": "m", "messages": ask, "tools": tools, "max_tokens": 3, "stream": stream}
    r = await client.post("/v1/chat/completions", json=body, headers=OPENAI_H)
    if stream:
        choices = [json.loads(f[6:])["choices"][0] for f in r.text.split("\n\n") if f.startswith("data: {")]
        calls = [c["delta"]["tool_calls"][0] for c in choices if c["delta"].get("tool_calls")]
        arguments, finish = "".join(c["function"]["arguments"] for c in calls), choices[-1]["finish_reason"]
    else:
        choice = r.json()["choices"][0]
        arguments, finish = choice["message"]["tool_calls"][0]["function"]["arguments"], choice["finish_reason"]
    assert (arguments, finish) == ('{"city":', "length")
    anthropic_tools = [{"name": "get_weather", "input_schema": {"type": "object"}}]
    r = await client.post("/v1/messages", json={"model": "m", "max_tokens": 3, "messages": ask,
                                                "tools": anthropic_tools}, headers=ANTHROPIC_H)
    assert (r.json()["content"][0]["input"], r.json()["stop_reason"]) == ({"city": "Paris"}, "tool_use")


@pytest.mark.parametrize("stream", [False, True])
async def test_stop_sequences_as_each_provider_reports_them(client: httpx.AsyncClient, stream: bool) -> None:
    ask = [{"role": "user", "content": "one two three four"}]

    def events(r: httpx.Response) -> list[dict[str, Any]]:
        return [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: {")]

    r = await client.post("/v1/chat/completions", headers=OPENAI_H,
                          json={"model": "m", "messages": ask, "stop": "three", "stream": stream})
    if stream:
        choices = [e["choices"][0] for e in events(r)]
        text, finish = "".join(c["delta"].get("content") or "" for c in choices), choices[-1]["finish_reason"]
    else:
        text, finish = r.json()["choices"][0]["message"]["content"], r.json()["choices"][0]["finish_reason"]
    assert (text, finish) == ("Echo: one two ", "stop")
    r = await client.post("/v1/messages", headers=ANTHROPIC_H, json={
        "model": "m", "max_tokens": 50, "messages": ask, "stop_sequences": ["four", "three"], "stream": stream})
    end = next(e["delta"] for e in events(r) if e["type"] == "message_delta") if stream else r.json()
    assert (end["stop_reason"], end["stop_sequence"]) == ("stop_sequence", "three")
    r = await client.post("/v2/chat", headers=OPENAI_H,
                          json={"model": "m", "messages": ask, "stop_sequences": ["three"], "stream": stream})
    end = events(r)[-1]["delta"] if stream else r.json()
    assert end["finish_reason"] == "STOP_SEQUENCE"
    refused = await client.post("/v1/chat/completions", headers=OPENAI_H,
                                json={"model": "m", "messages": ask, "stop": ["a", "b", "c", "d", "e"]})
    assert refused.status_code == 400 and "stop: at most 4" in refused.text


@pytest.mark.parametrize(("messages", "says"), [
    ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": []}, {"role": "user", "content": "x"}],
     "messages.1: all messages must have non-empty content except for the optional final assistant message"),
    ([{"role": "user", "content": [{"type": "text", "text": ""}, {"type": "text", "text": "x"}]}],
     "messages: text content blocks must be non-empty"),
    ([{"role": "user", "content": "\n"}], "messages: text content blocks must contain non-whitespace text"),
    ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": [{"type": "text", "text": "a\n"}]}],
     "messages: final assistant content cannot end with trailing whitespace"),
    ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": ""}], None),  # a prefill may be empty
    ([{"role": "user", "content": "hi"}, {"role": "assistant"}],
     "messages.1.content: Input should be a valid string or a list of content blocks"),
])
async def test_message_content_anthropic_refuses(client: httpx.AsyncClient, messages: list, says: str | None) -> None:
    r = await client.post("/v1/messages", json={"model": "m", "max_tokens": 5, "messages": messages},
                          headers=ANTHROPIC_H)
    if says is None:
        assert r.status_code == 200, r.text
    else:
        assert (r.status_code, r.json()["error"]["message"]) == (400, says)


async def test_cohere_stream_has_event_lines(client: httpx.AsyncClient) -> None:
    r = await client.post("/v2/chat", json={"model": "m", "messages": MSGS, "stream": True}, headers=OPENAI_H)
    events = [f.split("\n")[0] for f in r.text.split("\n\n") if f]
    assert events[0] == "event: message-start" and events[-1] == "event: message-end"
    assert "[DONE]" not in r.text
