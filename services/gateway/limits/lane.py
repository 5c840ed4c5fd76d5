"""The hot path of the Redis limiter: one script call per request on redis-py's own connections.

The decision script runs once per request, so its client-side cost is the limiter's cost. redis-py's
`Redis.execute_command` wraps each command in a retry runner, observability hooks and a pool condition; for
this single command they cost more CPU than the socket work (bench/limiter_cost.py measured ~0.24 ms per call
through the client, ~0.16 ms here). `ScriptLane` keeps what matters: redis-py's `Connection` (URL settings,
auth, TLS, timeouts, the hiredis reply parser; hiredis packs the command too), a bound on connections (a
burst waits for one, like the blocking pool), NOSCRIPT recovery, and a connection that failed or was
interrupted is dropped, never reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable
from typing import Any, cast

import hiredis
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.exceptions import NoScriptError, RedisError

# hiredis' stub types the argument as a 1-tuple (`Tuple[X]`); it packs a tuple of any length.
_pack = cast("Callable[[tuple[str | int, ...]], bytes]", hiredis.pack_command)


class ScriptLane:
    """Run one Lua script by its SHA over a bounded set of reusable connections."""

    def __init__(self, pool: ConnectionPool, script: str, *, max_connections: int, wait_s: float) -> None:
        self._pool = pool  # only its connection factory: the URL's settings
        self._script = script
        self._sha = hashlib.sha1(script.encode()).hexdigest()  # noqa: S324 — Redis names scripts by SHA-1
        self._idle: list[AbstractConnection] = []
        self._slots = asyncio.Semaphore(max_connections)
        self._wait_s = wait_s

    async def call(self, *args: str | int) -> Any:
        """EVALSHA the script with `args` (no keys: the script builds them); raise what Redis or the socket did."""
        if self._slots.locked():  # only a burst pays for the timeout machinery
            async with asyncio.timeout(self._wait_s):
                await self._slots.acquire()
        else:
            await self._slots.acquire()
        conn = self._idle.pop() if self._idle else self._pool.make_connection()
        try:
            reply = await self._evalsha(conn, args)
        except BaseException:  # failed or cancelled mid-reply: its stream position is unknown
            self._slots.release()
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                await conn.disconnect()
            raise
        self._idle.append(conn)
        self._slots.release()
        return reply

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
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                await conn.disconnect()
