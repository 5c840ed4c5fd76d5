"""EventStreamResponse and ClientWatch: a stream runs in the request's task; a client that leaves cancels it."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncGenerator

import pytest
from starlette.types import Message

from gateway.api.event_stream import ClientWatch, EventStreamResponse, LastEvent
from tests.support.cycles import left_in_cycles

SCOPE = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "method": "POST", "path": "/"}


class Server:
    """The server's side of one request, as uvicorn behaves: after the body, `receive()` returns
    `http.disconnect` once the client left or the response is complete; sends after a disconnect are
    dropped (ASGI spec 2.3) or raise OSError (`raise_when_gone`, spec 2.4)."""

    def __init__(self, raise_when_gone: bool = False, gone_after: int | None = None) -> None:
        self.sent: list[Message] = []
        self.gone_after = gone_after  # messages sent before the client leaves unannounced
        self.over = asyncio.Event()
        self.gone = False
        self.raise_when_gone = raise_when_gone
        self.socket_free = asyncio.Event()
        self.socket_free.set()

    async def receive(self) -> Message:
        await self.over.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        await self.socket_free.wait()  # a slow client's full socket: the send waits
        if self.gone_after is not None and len(self.sent) >= self.gone_after:
            self.gone = True
        if self.gone:
            if self.raise_when_gone:
                raise OSError("the client left")
            return
        self.sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self.over.set()

    def leave(self) -> None:
        self.gone = True
        self.over.set()

    def bodies(self) -> list[bytes]:
        return [m["body"] for m in self.sent if m["type"] == "http.response.body"]


class Upstream:
    """An SSE event source: `events`, then (unless `then` is None) a wait of `then` seconds."""

    def __init__(self, events: list[bytes], then: float | None = None) -> None:
        self.items, self.then = events, then
        self.closed = False

    async def stream(self) -> AsyncGenerator[bytes, None]:
        try:
            for item in self.items:
                yield item
            if self.then is not None:
                await asyncio.sleep(self.then)
        finally:
            self.closed = True


async def _serve(server: Server, upstream: Upstream, closes: list[int]) -> int:
    """Answer one request as the chat route does; return the task's pending cancellations afterwards."""
    watch = ClientWatch(server.receive)
    response = EventStreamResponse(upstream.stream(), watch, [(b"x-ratelimit-limit-requests", b"60")],
                                   on_close=lambda: closes.append(1))
    await response(SCOPE, server.receive, server.send)
    await asyncio.sleep(0.01)  # the task goes on normally afterwards
    task = asyncio.current_task()
    assert task is not None
    return task.cancelling()


def _tasks_left() -> set[asyncio.Task]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()}


async def test_the_events_are_sent_in_order_then_the_end_and_completion_is_not_a_client_leaving() -> None:
    server, upstream, closes = Server(), Upstream([b"data: a\n\n", b"data: b\n\n"]), []
    assert await asyncio.wait_for(_serve(server, upstream, closes), 5) == 0
    start = server.sent[0]
    assert start["status"] == 200 and start["headers"] == [  # the SSE headers, the route's, the type
        (b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no"), (b"x-ratelimit-limit-requests", b"60"),
        (b"content-type", b"text/event-stream; charset=utf-8")]
    headers = dict(start["headers"])
    assert b"content-length" not in headers  # a stream: chunked
    assert server.bodies() == [b"data: a\n\n", b"data: b\n\n", b""]
    assert server.sent[-1]["more_body"] is False
    assert upstream.closed and closes == [1]
    assert not _tasks_left()  # the watcher is gone


async def test_a_last_event_is_sent_as_the_end_of_the_response_and_the_generator_is_closed_at_it() -> None:
    upstream, after = Upstream([]), []

    async def events() -> AsyncGenerator[bytes, None]:
        try:
            yield b"data: a\n\n"
            yield LastEvent(b"data: b\n\ndata: [DONE]\n\n")
            after.append("resumed")  # a LastEvent ends the stream: the generator is not resumed
        finally:
            upstream.closed = True

    server, closes = Server(), []
    watch = ClientWatch(server.receive)
    await asyncio.wait_for(EventStreamResponse(events(), watch, [], on_close=lambda: closes.append(1))(
        SCOPE, server.receive, server.send), 5)
    assert server.bodies() == [b"data: a\n\n", b"data: b\n\ndata: [DONE]\n\n"]  # one message, not two
    assert server.sent[-1]["more_body"] is False and type(server.sent[-1]["body"]) is bytes
    assert after == [] and upstream.closed and closes == [1]
    assert not _tasks_left()


async def test_a_stream_of_only_a_last_event_sends_the_start_then_it() -> None:
    async def events() -> AsyncGenerator[bytes, None]:
        yield LastEvent(b"event: error\ndata: {}\n\n")

    server, closes = Server(), []
    response = EventStreamResponse(events(), ClientWatch(server.receive), [], on_close=lambda: closes.append(1))
    await asyncio.wait_for(response(SCOPE, server.receive, server.send), 5)
    assert server.sent[0]["type"] == "http.response.start"
    assert server.bodies() == [b"event: error\ndata: {}\n\n"] and server.sent[-1]["more_body"] is False
    assert closes == [1] and not _tasks_left()


async def test_a_client_leaving_mid_stream_cancels_the_upstream_wait_and_the_request_ends_quietly() -> None:
    server, upstream, closes = Server(), Upstream([b"data: a\n\n"], then=30), []
    task = asyncio.ensure_future(_serve(server, upstream, closes))
    await asyncio.sleep(0.05)
    assert server.bodies() == [b"data: a\n\n"] and not upstream.closed  # waiting for the upstream
    server.leave()
    assert await asyncio.wait_for(task, 2) == 0  # no exception, no cancellation left pending
    assert upstream.closed and closes == [1]
    assert server.bodies() == [b"data: a\n\n"]
    assert not _tasks_left()


async def test_a_client_leaving_while_its_socket_is_full_closes_the_upstream_too() -> None:
    server, upstream, closes = Server(), Upstream([b"data: a\n\n", b"data: b\n\n"], then=30), []
    task = asyncio.ensure_future(_serve(server, upstream, closes))
    await asyncio.sleep(0.02)
    server.socket_free.clear()  # the next send waits: the generator sits at its `yield`
    await asyncio.sleep(0.05)
    server.leave()
    assert await asyncio.wait_for(task, 2) == 0
    assert upstream.closed and closes == [1]  # closed at its `yield`, its `finally` ran


async def test_a_client_gone_before_the_headers_still_gets_the_upstream_closed() -> None:
    server, upstream, closes = Server(raise_when_gone=True, gone_after=0), Upstream([b"data: a\n\n"] * 3), []
    await asyncio.wait_for(_serve(server, upstream, closes), 2)  # the very first send raises
    assert server.sent == []
    assert upstream.closed and closes == [1]  # the generator had started: its `finally` ran


async def test_a_send_that_raises_for_a_client_that_left_ends_the_stream() -> None:
    # ASGI spec 2.4: a send raises once the client left; the disconnect is not reported yet
    server, upstream, closes = Server(raise_when_gone=True, gone_after=3), Upstream([b"data: a\n\n"] * 100), []
    await asyncio.wait_for(_serve(server, upstream, closes), 2)
    assert len(server.bodies()) == 2  # the start, two events; the third send raised
    assert upstream.closed and closes == [1]
    server.over.set()
    await asyncio.sleep(0)
    assert not _tasks_left()


async def test_a_cancellation_from_outside_still_propagates() -> None:
    server, upstream, closes = Server(), Upstream([b"data: a\n\n"], then=30), []
    task = asyncio.ensure_future(_serve(server, upstream, closes))
    await asyncio.sleep(0.05)
    task.cancel()  # e.g. the server shutting down
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
    assert upstream.closed and closes == [1]
    assert not _tasks_left()


async def test_the_opening_is_cancelled_when_the_client_leaves_before_it_answers() -> None:
    server, opened = Server(), []

    async def opening() -> str:
        try:
            await asyncio.sleep(30)
            return "never"
        finally:
            opened.append("cancelled")

    async def route() -> tuple[str | None, bool, int]:
        watch = ClientWatch(server.receive)
        result = await watch.run(opening())
        task = asyncio.current_task()
        assert task is not None
        await asyncio.sleep(0.01)  # not cancelled again
        return result, watch.left, task.cancelling()

    task = asyncio.ensure_future(route())
    await asyncio.sleep(0.05)
    server.leave()
    assert await asyncio.wait_for(task, 2) == (None, True, 0)
    assert opened == ["cancelled"]
    assert not _tasks_left()


async def test_the_opening_passes_its_result_and_its_errors() -> None:
    server = Server()

    async def fails() -> str:
        raise ValueError("refused upstream")

    async def answers() -> str:
        return "events"

    watch = ClientWatch(server.receive)
    assert await watch.run(answers()) == "events" and not watch.left
    with pytest.raises(ValueError, match="refused upstream"):
        await watch.run(fails())
    watch.close()
    await asyncio.sleep(0)
    assert not _tasks_left()



@pytest.mark.parametrize("how", ["completed", "client left", "send raised"])
async def test_a_finished_stream_leaves_nothing_for_the_garbage_collector(how: str) -> None:
    # A cycle per stream (the cancelled watcher's traceback held its frame, the watch and so the request's task)
    # kept every stream's objects alive until a collection found them (#18).
    async def one() -> None:
        closes: list[int] = []
        if how == "completed":
            await _serve(Server(), Upstream([b"data: a\n\n", b"data: b\n\n"]), closes)
        elif how == "send raised":
            await _serve(Server(raise_when_gone=True, gone_after=2), Upstream([b"data: a\n\n"] * 5), closes)
        else:
            server = Server()
            task = asyncio.ensure_future(_serve(server, Upstream([b"data: a\n\n"], then=30), closes))
            await asyncio.sleep(0.02)
            server.leave()
            await task
        assert closes == [1]

    assert await asyncio.wait_for(left_in_cycles(one), 5) == Counter()
