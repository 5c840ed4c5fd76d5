"""`parallel_tool_calls: false` on a provider with no such switch (Cohere v2): held by the gateway.

Cohere may call several tools in one turn and has no parameter to stop it, so the request goes without one and
the gateway checks the reply: more than one call is an upstream failure (502, or an error event once streaming),
never a reply that breaks what the client asked. The upstream is a loopback HTTP server writing Cohere's v2 wire
(two calls in one turn, which the project's mock does not produce); the gateway side is the chat path as it runs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from gateway import chat
from gateway.api.chat_request import ChatCompletionRequest
from gateway.config import Settings
from gateway.errors import UpstreamBadResponseError
from gateway.providers import create_adapter

MODEL = "command-a-03-2025"
CALLS = [{"id": f"c{i}", "type": "function", "function": {"name": "lookup", "arguments": json.dumps({"q": q})}}
         for i, q in enumerate(("a", "b"))]
USAGE = {"billed_units": {"input_tokens": 3, "output_tokens": 8}, "tokens": {"input_tokens": 63, "output_tokens": 8}}


def _event(obj: dict[str, Any]) -> bytes:
    return f"event: {obj['type']}\ndata: {json.dumps(obj)}\n\n".encode()


def _reply(calls: list[dict[str, Any]]) -> bytes:
    return json.dumps({"id": "r1", "finish_reason": "TOOL_CALL", "usage": USAGE,
                       "message": {"role": "assistant", "tool_plan": "I will look.", "tool_calls": calls}}).encode()


def _events(calls: list[dict[str, Any]]) -> bytes:
    empty = {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}
    frames = [_event({"type": "message-start", "id": "r1", "delta": {"message": empty}}),
              _event({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I will look."}}})]
    for i, call in enumerate(calls):
        start = {**call, "function": {"name": call["function"]["name"], "arguments": ""}}
        frames += [_event({"type": "tool-call-start", "index": i, "delta": {"message": {"tool_calls": start}}}),
                   _event({"type": "tool-call-delta", "index": i, "delta": {"message": {"tool_calls": {
                       "function": {"arguments": call["function"]["arguments"]}}}}}),
                   _event({"type": "tool-call-end", "index": i})]
    frames.append(_event({"type": "message-end", "delta": {"finish_reason": "TOOL_CALL", "usage": USAGE}}))
    return b"".join(frames)


@asynccontextmanager
async def _cohere(calls: list[dict[str, Any]], bodies: list[dict[str, Any]]) -> AsyncIterator[str]:
    """A Cohere v2 chat upstream answering every request with `calls` (plain or streamed); records the bodies."""
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                      if line.startswith(b"content-length:"))
        body = json.loads(await reader.readexactly(length))
        bodies.append(body)
        payload, kind = (_events(calls), b"text/event-stream") if body.get("stream") else (_reply(calls),
                                                                                          b"application/json")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: " + kind + b"\r\ncontent-length: "
                     + str(len(payload)).encode() + b"\r\nconnection: close\r\n\r\n" + payload)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


def _request(parallel: bool | None, stream: bool) -> ChatCompletionRequest:
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {
        "type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}}
    body: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": "look up a and b"}],
                            "tools": [tool], "max_tokens": 50, "stream": stream}
    if parallel is not None:
        body["parallel_tool_calls"] = parallel
    return ChatCompletionRequest.model_validate(body)


async def _call(calls: list[dict[str, Any]], parallel: bool | None, stream: bool) -> tuple[Any, list[dict[str, Any]]]:
    """The gateway's answer (a document, or the stream's bytes) and the bodies Cohere received."""
    bodies: list[dict[str, Any]] = []
    async with _cohere(calls, bodies) as url:
        adapter = create_adapter(Settings(provider="cohere", upstream_base_url=url, max_retries=0,
                                          models=(MODEL,)))
        try:
            model = adapter.chat_model(MODEL, "test-key")
            req = _request(parallel, stream)
            if not stream:
                return await chat.complete(adapter, model, req, MODEL, "chatcmpl-1"), bodies
            events = await chat.stream(adapter, model, req, MODEL, "chatcmpl-1")
            return b"".join([bytes(e) async for e in events]), bodies
        finally:
            await adapter.aclose()


def _streamed_calls(raw: bytes) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The `delta.tool_calls` entries and the error documents of an SSE stream."""
    events = [json.loads(line[6:]) for line in raw.decode().splitlines()
              if line.startswith("data: ") and line != "data: [DONE]"]
    deltas = [d for e in events for c in e.get("choices", []) for d in c["delta"].get("tool_calls") or []]
    return deltas, [e["error"] for e in events if "error" in e]


@pytest.mark.parametrize("parallel", [None, True])
async def test_several_calls_reach_a_client_that_allows_them(parallel: bool | None) -> None:
    doc, bodies = await _call(CALLS, parallel, stream=False)
    message = doc["choices"][0]["message"]
    assert [c["id"] for c in message["tool_calls"]] == ["c0", "c1"]
    assert "parallel_tool_calls" not in bodies[0]  # Cohere has no such field
    raw, _ = await _call(CALLS, parallel, stream=True)
    deltas, errors = _streamed_calls(raw)
    assert not errors and sorted({d["index"] for d in deltas}) == [0, 1]


async def test_one_call_passes_when_one_is_asked() -> None:
    doc, bodies = await _call(CALLS[:1], False, stream=False)
    assert [c["id"] for c in doc["choices"][0]["message"]["tool_calls"]] == ["c0"]
    assert "parallel_tool_calls" not in bodies[0]
    raw, _ = await _call(CALLS[:1], False, stream=True)
    deltas, errors = _streamed_calls(raw)
    assert not errors and {d["index"] for d in deltas} == {0}


async def test_a_second_call_where_one_was_asked_is_an_upstream_failure() -> None:
    with pytest.raises(UpstreamBadResponseError) as refused:
        await _call(CALLS, False, stream=False)
    assert refused.value.status == 502 and refused.value.code == "upstream_parallel_tool_calls"
    assert "2 tool calls" in refused.value.message and "parallel_tool_calls false" in refused.value.message
    raw, _ = await _call(CALLS, False, stream=True)
    deltas, errors = _streamed_calls(raw)
    assert 1 not in {d["index"] for d in deltas}  # no second call reaches the client: the failure does
    assert [e["code"] for e in errors] == ["upstream_parallel_tool_calls"], errors
    assert raw.endswith(b"data: [DONE]\n\n")
