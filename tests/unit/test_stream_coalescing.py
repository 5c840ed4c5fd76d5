"""Streamed events of chunks that arrive together leave in one write; a chunk still to come delays nothing (#18)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from types import SimpleNamespace
from typing import Any, cast

import anthropic
import orjson
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk
from starlette.types import Message

from gateway import chat
from gateway.api.event_stream import ClientWatch, EventStreamResponse, LastEvent
from gateway.api.schemas import ChatCompletionRequest
from gateway.config import Settings
from gateway.messages import MessagesRelay
from gateway.providers import create_adapter
from gateway.stream_idle import AT_HAND_MAX
from tests.unit.gated import Gated

SCOPE = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "method": "POST", "path": "/"}


class GatedModel(Gated[AIMessageChunk]):
    """Quacks like a BaseChatModel: streams its chunks, the upstream's later ones (not received yet) behind `gate`."""

    def astream(self, messages: list[Any], **params: Any) -> AsyncIterator[AIMessageChunk]:
        return self.stream()


def _chunks() -> list[AIMessageChunk]:
    return [AIMessageChunk(content="one"), AIMessageChunk(content=" two"), AIMessageChunk(content=" three"),
            AIMessageChunk(content="", response_metadata={"finish_reason": "stop"})]


def _contents(part: bytes) -> list[str]:
    docs = [orjson.loads(e[len(b"data: "):]) for e in part.split(b"\n\n") if e and e != b"data: [DONE]"]
    return [d["choices"][0]["delta"].get("content", "") for d in docs if d["choices"]]


async def _stream(model: GatedModel) -> AsyncGenerator[bytes, None]:
    req = ChatCompletionRequest.model_validate({"messages": [{"role": "user", "content": "hi"}], "stream": True})
    adapter = create_adapter(Settings(provider="openai"))
    # The fake where the gateway takes a chat model: it calls only `astream`, which the fake has.
    return await chat.stream(adapter, cast(BaseChatModel, model), req, "m", "c")


async def test_events_at_hand_go_out_together_before_the_wait_and_the_rest_with_the_end() -> None:
    model = GatedModel(_chunks(), ready=2)
    events = await _stream(model)
    first = await anext(events)  # yielded while the third chunk is awaited: nothing waits for it
    assert _contents(first) == ["", "one", " two"] and type(first) is bytes  # the turn opens as OpenAI's: ""
    model.gate.set()
    rest = [part async for part in events]  # " three", then (its cleanup awaits) the end
    assert [c for part in rest for c in _contents(part)] == [" three", ""] and all(rest)
    assert type(rest[-1]) is LastEvent and rest[-1].endswith(b"data: [DONE]\n\n") and model.cleaned


async def test_a_stream_closed_while_a_read_waits_unwinds_that_read() -> None:
    model = GatedModel(_chunks(), ready=2)
    events = await _stream(model)
    assert _contents(await anext(events)) == ["", "one", " two"]
    await events.aclose()  # the client left as those events went out
    assert model.cleaned
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


async def test_a_client_gone_at_the_first_write_closes_the_upstream_read_that_waits() -> None:
    model = GatedModel(_chunks(), ready=2)
    sent: list[Message] = []
    over = asyncio.Event()

    async def receive() -> Message:
        await over.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            over.set()
            raise OSError("the client left")  # ASGI spec 2.4
        sent.append(message)

    watch = ClientWatch(receive)
    closed: list[int] = []
    response = EventStreamResponse(await _stream(model), watch, [], on_close=lambda: closed.append(1))
    await response(SCOPE, receive, send)
    assert [m["type"] for m in sent] == ["http.response.start"] and closed == [1]
    assert model.cleaned and not model.gate.is_set()


async def test_a_long_run_of_chunks_at_hand_still_goes_out_in_pieces() -> None:
    texts = [f"{n:04d}" + "x" * 996 for n in range(200)]  # ~200 KiB of events, every chunk already received
    model = GatedModel([*(AIMessageChunk(content=text) for text in texts),
                        AIMessageChunk(content="", response_metadata={"finish_reason": "stop"})], ready=10_000)
    parts = [part async for part in await _stream(model)]
    assert all(len(p) < AT_HAND_MAX + 2048 for p in parts)  # each at most one event past the bound
    assert [len(p) >= AT_HAND_MAX for p in parts[:3]] == [True] * 3  # and the first three at it
    assert [c for part in parts for c in _contents(part)] == ["", *texts, ""]


def _event(kind: str) -> Any:
    return SimpleNamespace(type=kind, to_dict=lambda mode: {"type": kind})


class GatedUpstream:
    """Quacks like the Anthropic SDK's AsyncStream, its events from index `ready` on behind `gate`."""

    def __init__(self, kinds: list[str], ready: int) -> None:
        self.kinds, self.ready, self.closed = kinds, ready, False
        self.gate = asyncio.Event()

    async def __aiter__(self) -> AsyncIterator[Any]:
        for n, kind in enumerate(self.kinds):
            if n >= self.ready:
                await self.gate.wait()
            yield _event(kind)

    async def close(self) -> None:
        self.closed = True


async def test_messages_events_at_hand_go_out_together_and_the_last_with_the_end() -> None:
    relay = MessagesRelay(create_adapter(Settings(provider="anthropic")))
    upstream = GatedUpstream(["ping", "content_block_start", "content_block_delta", "message_stop"], 2)
    events = relay._events(cast(anthropic.AsyncStream[Any], upstream))  # the fake iterates and closes as it does
    first = await anext(events)
    assert first.count(b"event: ") == 2 and type(first) is bytes
    upstream.gate.set()
    last = await anext(events)
    assert type(last) is LastEvent and last.startswith(b"event: content_block_delta")
    assert last.count(b"event: ") == 2 and upstream.closed
