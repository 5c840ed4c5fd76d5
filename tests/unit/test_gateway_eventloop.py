"""The gateway's event loop (gateway/eventloop.py): a burst of connections is accepted within a few loop
iterations, where uvloop's own server takes one per iteration; and uvicorn serves on it, by host and port
or on a socket it was handed (the GATEWAY_WORKERS path)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
import uvloop
from starlette.types import Receive, Scope, Send

from gateway import eventloop
from gateway.__main__ import server_options
from gateway.config import load_settings

BURST = 64
T = TypeVar("T")


class Iterations:
    """Counts the loop's iterations: a callback that schedules itself again each time it runs."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.count = 0
        self._loop = loop
        self._running = True
        loop.call_soon(self._tick)

    def _tick(self) -> None:
        self.count += 1
        if self._running:
            self._loop.call_soon(self._tick)

    def stop(self) -> None:
        self._running = False


async def _iterations_to_accept(burst: int) -> list[int]:
    """Queue `burst` connections, then return the iteration at which each one reached its protocol."""
    loop = asyncio.get_running_loop()
    made: list[int] = []
    iterations: Iterations | None = None

    class Recorder(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert iterations is not None
            made.append(iterations.count)

    server = await loop.create_server(Recorder, "127.0.0.1", 0, backlog=burst * 2)
    port = server.sockets[0].getsockname()[1]
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(burst)]  # queued by the kernel
    try:
        iterations = Iterations(loop)
        for _ in range(2000):  # bounded: a few hundred iterations at most
            if len(made) == burst:
                break
            await asyncio.sleep(0)
        iterations.stop()
        return made
    finally:
        for client in clients:
            client.close()
        server.close()
        await server.wait_closed()


def _run(loop_factory: Callable[[], asyncio.AbstractEventLoop], burst: int) -> list[int]:
    return _run_on(loop_factory, lambda: _iterations_to_accept(burst))


def test_a_burst_of_connections_is_accepted_within_a_few_iterations() -> None:
    made = _run(eventloop.new_event_loop, BURST)
    assert len(made) == BURST
    # 32 per wakeup: two wakeups, and each connection's set-up task one iteration later.
    assert made[-1] - made[0] <= 4, made


def test_uvloops_own_server_takes_one_connection_per_iteration() -> None:
    # Why gateway/eventloop.py exists: the same burst on uvloop's server is spread over one iteration each.
    made = _run(uvloop.new_event_loop, BURST)
    assert len(made) == BURST
    assert made[-1] - made[0] >= BURST - 1, made


def test_accepting_pauses_when_descriptors_run_out_and_resumes(monkeypatch: pytest.MonkeyPatch) -> None:
    class Exhausted:
        def accept(self) -> tuple[socket.socket, object]:
            raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(eventloop, "ACCEPT_RETRY_S", 0.05)

    async def scenario() -> tuple[bool, bool]:
        loop = asyncio.get_running_loop()
        listener = socket.create_server(("127.0.0.1", 0))
        server = eventloop.BatchAcceptServer(loop, [listener], asyncio.Protocol)
        await server.start_serving()
        # The accept path alone, with a listener whose accept fails.
        server._accept(Exhausted())  # pyright: ignore[reportPrivateUsage, reportArgumentType]
        paused = not server.is_serving()
        await asyncio.sleep(0.2)
        resumed = server.is_serving()
        server.close()
        await server.wait_closed()
        return paused, resumed

    assert _run_on(eventloop.new_event_loop, scenario) == (True, True)


def test_a_closed_server_refuses_new_connections() -> None:
    async def scenario() -> tuple[bool, int]:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        return server.is_serving(), port

    serving, port = _run_on(eventloop.new_event_loop, scenario)
    assert serving is False
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)


def test_serve_forever_serves_until_cancelled_then_closes() -> None:
    async def scenario() -> tuple[bool, bool]:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0, start_serving=False)
        assert isinstance(server, eventloop.BatchAcceptServer)
        task = asyncio.ensure_future(server.serve_forever())
        await asyncio.sleep(0.01)
        serving = server.is_serving()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return serving, server.is_serving()

    assert _run_on(eventloop.new_event_loop, scenario) == (True, False)


def _run_on(loop_factory: Callable[[], asyncio.AbstractEventLoop],
            scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    loop = loop_factory()
    try:
        return loop.run_until_complete(scenario())
    finally:
        loop.close()


async def _loop_name(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    body = type(asyncio.get_running_loop()).__name__.encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


@contextmanager
def _serving(server: uvicorn.Server, sockets: list[socket.socket] | None = None) -> Iterator[None]:
    thread = threading.Thread(target=server.run, kwargs={"sockets": sockets}, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started or not thread.is_alive():
            break
        threading.Event().wait(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.mark.parametrize("handed_a_socket", [False, True], ids=["host-port", "socket"])
def test_uvicorn_serves_the_gateways_options_on_this_loop(handed_a_socket: bool) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    options = server_options(load_settings(provider="openai", host="127.0.0.1", port=port))
    assert options["loop"] == "gateway.eventloop:new_event_loop"
    config = uvicorn.Config(_loop_name, lifespan="off", **options)
    # With GATEWAY_WORKERS > 1, uvicorn's supervisor binds the socket (not listening yet) and hands it on.
    handed = [config.bind_socket()] if handed_a_socket else None
    server = uvicorn.Server(config)
    with _serving(server, handed):
        answers = [httpx.get(f"http://127.0.0.1:{port}/") for _ in range(3)]
    assert [(a.status_code, a.text) for a in answers] == [(200, "GatewayLoop")] * 3



def test_options_it_does_not_take_keep_uvloops_own_server() -> None:
    async def scenario() -> tuple[bool, bool]:
        loop = asyncio.get_running_loop()
        made = asyncio.Event()

        class Made(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                made.set()

        server = await loop.create_server(Made, "127.0.0.1", 0, reuse_port=True)
        port = server.sockets[0].getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)):
            await asyncio.wait_for(made.wait(), 5)
        server.close()
        await server.wait_closed()
        return isinstance(server, eventloop.BatchAcceptServer), made.is_set()

    assert _run_on(eventloop.new_event_loop, scenario) == (False, True)
