"""The gateway's event loop: uvloop, whose listening sockets take a batch of queued connections per wakeup.

libuv, under uvloop, accepts one connection per loop iteration (libuv PR #3696). Under load an iteration
takes tens of milliseconds, so a burst of new connections waits in the kernel's accept queue: on a 2-core
host, 256 new streams through the edge (nginx's keep-alive pool cold) were accepted at about 20 per second,
and the last of their auth_request calls hit nginx's 10 s timeout (a 502). Here the listening socket is
polled by the loop and each wakeup accepts up to ACCEPT_BATCH connections, as asyncio's own loop does; a
bounded batch leaves a share of a burst to the other workers when GATEWAY_WORKERS > 1 share one socket.
Everything after the accept (the transport, the protocol, HTTP) is uvloop's own.

uvicorn takes it as its loop: `loop="gateway.eventloop:new_event_loop"` (gateway/__main__.py).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Sequence
from typing import Any

import uvloop

log = logging.getLogger("gateway.eventloop")

ACCEPT_BATCH = 32
ACCEPT_RETRY_S = 1.0  # after a failed accept (EMFILE, ENOBUFS, ...): pause accepting, as asyncio does


class BatchAcceptServer(asyncio.AbstractServer):
    """Listening sockets whose queued connections are taken up to ACCEPT_BATCH at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sockets: list[socket.socket],
                 protocol_factory: Callable[[], asyncio.BaseProtocol], batch: int = ACCEPT_BATCH) -> None:
        self._loop = loop
        self._sockets = sockets
        self._factory = protocol_factory
        self._batch = batch
        self._serving = False
        self._closed = False
        self._pending: set[asyncio.Task[Any]] = set()  # connections being set up (strong references)
        self._drained = asyncio.Event()
        self._drained.set()

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(self._sockets)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        self._resume()

    async def serve_forever(self) -> None:
        """Serve until cancelled, then close, as asyncio.Server.serve_forever does."""
        self._resume()
        try:
            await self._loop.create_future()
        finally:
            self.close()
            await self.wait_closed()

    def close(self) -> None:
        """Stop accepting and close the listening sockets; accepted connections carry on."""
        if self._closed:
            return
        self._pause()
        self._closed = True
        for sock in self._sockets:
            sock.close()

    async def wait_closed(self) -> None:
        await self._drained.wait()

    def _resume(self) -> None:
        if self._serving or self._closed:
            return
        self._serving = True
        for sock in self._sockets:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    def _pause(self) -> None:
        if not self._serving:
            return
        self._serving = False
        for sock in self._sockets:
            self._loop.remove_reader(sock.fileno())

    def _accept(self, listener: socket.socket) -> None:
        for _ in range(self._batch):
            try:
                conn, _ = listener.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return  # the queue is empty, or a client gave up before its turn
            except OSError as exc:  # out of descriptors or memory, most likely: a retry later, not a busy loop
                log.error("accept failed (%s), paused for %.0f s", exc, ACCEPT_RETRY_S)
                self._pause()
                self._loop.call_later(ACCEPT_RETRY_S, self._resume)
                return
            conn.setblocking(False)
            if conn.family in (socket.AF_INET, socket.AF_INET6):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as uvloop sets on its own accepts
            task = self._loop.create_task(self._connect(conn))
            self._pending.add(task)
            self._drained.clear()
            task.add_done_callback(self._settled)

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._factory, conn)
        except OSError as exc:  # reset before its transport existed: nothing to answer
            log.debug("dropped an accepted connection: %s", exc)
            conn.close()

    def _settled(self, task: asyncio.Task[Any]) -> None:
        self._pending.discard(task)
        if not self._pending:
            self._drained.set()


def listening_sockets(host: str | Sequence[str] | None, port: int, backlog: int) -> list[socket.socket]:
    """Bound, listening sockets for host:port, one per address, as asyncio's create_server binds them."""
    hosts = [host] if host is None or isinstance(host, str) else list(host)
    addresses = {info[4][:2]: info[0] for h in hosts for info in socket.getaddrinfo(
        h or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)}
    sockets: list[socket.socket] = []
    try:
        for address, family in addresses.items():
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(backlog)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class GatewayLoop(uvloop.Loop):
    """uvloop with BatchAcceptServer behind create_server; TLS or other options keep uvloop's own server."""

    async def create_server(self, protocol_factory: Callable[[], asyncio.BaseProtocol],
                            host: str | Sequence[str] | None = None, port: int | None = None, *,
                            sock: socket.socket | None = None, backlog: int = 100, ssl: Any = None,
                            start_serving: bool = True, **options: Any) -> asyncio.AbstractServer:
        if (ssl is not None or options) and sock is not None:
            return await super().create_server(protocol_factory, sock=sock, backlog=backlog, ssl=ssl,
                                               start_serving=start_serving, **options)
        if ssl is not None or options:
            return await super().create_server(protocol_factory, host, port or 0, backlog=backlog, ssl=ssl,
                                               start_serving=start_serving, **options)
        if sock is not None:  # uvicorn's workers are handed a bound socket: listening is the server's to start
            sock.listen(backlog)
            sock.setblocking(False)
            sockets = [sock]
        else:
            sockets = listening_sockets(host, port or 0, backlog)
        server = BatchAcceptServer(self, sockets, protocol_factory)
        if start_serving:
            await server.start_serving()
        return server


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvicorn's loop factory (its `loop` option takes "module:callable")."""
    return GatewayLoop()
