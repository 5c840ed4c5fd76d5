"""The hot path of the Redis limiter: one script call per request on redis-py's own connections.

(The deferred settle batches take a lane of their own, one connection: the same rules below.)

The decision script runs once per request, so its client-side cost is the limiter's cost. redis-py's
`Redis.execute_command` wraps each command in a retry runner, observability hooks and a pool condition; for
this single command they cost more CPU than the socket work (bench/limiter_cost.py measured ~0.24 ms per call
through the client, ~0.16 ms here). `ScriptLane` keeps what matters: redis-py's `Connection` (URL settings,
auth, TLS, the hiredis reply parser; hiredis packs the command too), a bound on connections (a burst waits for
one, like the blocking pool), NOSCRIPT recovery, and a connection that failed or was interrupted is dropped,
never reused.

Two rules make an unanswering Redis cheap and a healthy one never look down:

- **One deadline per call** (`timeout_s`) covers the wait for a connection and the whole round trip
  (connect, send, reply, a NOSCRIPT reload), as one `asyncio.timeout`: the lane's connections carry no socket
  timeout of their own, so a call arms one timer instead of redis-py's `wait_for` on the send plus a timer per
  read. A call that had to wait for a connection gives up (`LaneBusy`, not a Redis failure) when its deadline
  passes first, when a call failed while it waited, or when its `gate` says Redis is down meanwhile: the
  failure is news the waiter should not pay for again.
- **A reused connection that fails with a connection error** (not a timeout) is retried once on a fresh one:
  Redis' `timeout` setting, NAT and load-balancer idle timers close idle connections, and the first sign is the
  next command meeting a closed socket. A refused fresh connection is an outage; a timeout is never retried.
  TCP keepalive (set on the connections by `RedisLimiter`) keeps middleboxes' idle timers from firing silently.
  A socket closed while idle never carried the command, so resending it is safe; only a connection broken
  after Redis ran the command and before its reply came would run it twice (a decision counted twice, the
  conservative side; a settle batch applied twice, its negative corrections floored at 0 by the script).
  No PING before a reuse: that would be a second round trip on every request.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable
from typing import Any, cast

import hiredis
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError

# hiredis' stub types the argument as a 1-tuple (`Tuple[X]`); it packs a tuple of any length.
_pack = cast("Callable[[tuple[str | int, ...]], bytes]", hiredis.pack_command)
_FAILURES = (RedisError, OSError, TimeoutError)
_CLOSED = (RedisConnectionError, ConnectionError)  # a socket closed or reset under a reused connection


class LaneBusy(Exception):
    """No connection came free in time, or Redis failed while this call waited for one: decide without it."""


class ScriptLane:
    """Run one Lua script by its SHA over a bounded set of reusable connections."""

    def __init__(self, pool: ConnectionPool, script: str, *, max_connections: int, timeout_s: float) -> None:
        # Only the pool's connection settings (the URL's): the deadline replaces the socket timeout.
        self._connection_kwargs = {**pool.connection_kwargs, "socket_timeout": None}
        self._connection_class = pool.connection_class
        self._script = script
        self._sha = hashlib.sha1(script.encode()).hexdigest()  # noqa: S324 — Redis names scripts by SHA-1
        self._idle: list[AbstractConnection] = []
        self._slots = asyncio.Semaphore(max_connections)
        self._timeout_s = timeout_s
        self._failures = 0  # calls that failed; a waiter that sees it move gives up

    async def call(self, *args: str | int, gate: Callable[[], bool] | None = None) -> Any:
        """EVALSHA the script with `args` (no keys: the script builds them) within `timeout_s`.

        Raises what Redis or the socket did (a timeout as `TimeoutError`), or `LaneBusy` (see the module doc).
        """
        failures = self._failures
        holding = False
        try:
            async with asyncio.timeout(self._timeout_s):
                waited = self._slots.locked()
                await self._slots.acquire()  # returns at once, without yielding, when a slot is free
                holding = True
                if waited and (self._failures != failures or (gate is not None and not gate())):
                    raise LaneBusy("Redis failed while this call waited for a connection")
                return await self._run(args)
        except _FAILURES as exc:
            if not holding:  # the deadline passed while waiting for a connection: not Redis' failure
                raise LaneBusy("no connection came free within the deadline") from exc
            self._failures += 1  # before the slot is released: the next waiter must see it
            raise
        finally:
            if holding:
                self._slots.release()

    async def _run(self, args: tuple[str | int, ...]) -> Any:
        reused = bool(self._idle)
        conn = self._idle.pop() if reused else self._connect()
        try:
            reply = await self._evalsha(conn, args)
        except _CLOSED:
            await _drop(conn)
            if not reused:
                raise
            conn = self._connect()  # closed while idle (server or middlebox timeout): once more, on a new one
            try:
                reply = await self._evalsha(conn, args)
            except BaseException:
                await _drop(conn)
                raise
        except BaseException:  # failed or cancelled mid-reply: its stream position is unknown
            await _drop(conn)
            raise
        self._idle.append(conn)
        return reply

    def _connect(self) -> AbstractConnection:
        return self._connection_class(**self._connection_kwargs)

    async def _evalsha(self, conn: AbstractConnection, args: tuple[str | int, ...]) -> Any:
        command = _pack(("EVALSHA", self._sha, 0, *args))
        await conn.send_packed_command(command, check_health=False)
        try:
            return await conn.read_response()
        except NoScriptError:  # a restarted or failed-over Redis has lost its script cache
            await conn.send_packed_command(_pack(("SCRIPT", "LOAD", self._script)), check_health=False)
            await conn.read_response()
            await conn.send_packed_command(command, check_health=False)
            return await conn.read_response()

    async def reset(self) -> None:
        """Drop the idle connections (after a failure each would fail once more)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            await _drop(conn)


async def _drop(conn: AbstractConnection) -> None:
    with contextlib.suppress(RedisError, OSError, TimeoutError):
        await conn.disconnect()
