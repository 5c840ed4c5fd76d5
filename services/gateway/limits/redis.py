"""The Redis/Valkey limiter: one shared count for every replica, with a per-replica fallback.

When Redis does not answer, the replica decides alone: rate limits (rpm, tpm) fall back to its
share of the limit (limit / replicas, rounded up), budgets fail closed (or open, if configured),
`status()` reports degraded and `fallbacks` counts each local decision. A decision waits at most `timeout_s`
for Redis (a connection, then the round trip: `ScriptLane`). Once degraded, Redis is left alone for `retry_s`,
then one probe at a time asks it (a decision or a settle batch) while every other request decides locally at
once; the probe's answer ends the outage or starts the next `retry_s`. So a refused Redis costs one refused
connection per `retry_s`; a hung one stalls the decisions in flight when it hung, then one probe per
`retry_s` + `timeout_s`, each by at most `timeout_s`.

Settles from the routes are deferred (`SettleQueue`): the response does not wait for them and a burst's
corrections travel as one script call, so a request costs one round trip on its path instead of two.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from gateway.limits.base import Limiter, Limits, Reservation, Windows
from gateway.limits.lane import LaneBusy, ScriptLane
from gateway.limits.memory import MemoryLimiter
from gateway.limits.scripts import ACQUIRE, SETTLE
from gateway.limits.settles import SettleQueue

log = logging.getLogger("gateway.limits")
_NAMES = ("rpm", "tpm", "daily_tokens", "monthly_tokens")
_FAILURES = (RedisError, OSError, TimeoutError)
# TCP keepalive: probes after 30 s idle, every 5 s, 3 of them (the options this platform has).
_KEEPALIVE = {getattr(socket, name): value for name, value in (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 5),
                                                              ("TCP_KEEPCNT", 3)) if hasattr(socket, name)}


class RedisLimiter(Limiter):
    """Counts in Redis with atomic Lua scripts; falls back to a per-replica share when Redis is down."""

    name = "redis"

    def __init__(self, url: str, *, prefix: str = "llmgw:limits", replicas: int = 1,
                 budgets_fail_open: bool = False, timeout_s: float = 1.0, retry_s: float = 1.0,
                 max_connections: int = 32, pool_wait_s: float = 5.0, settle_delay_s: float = 0.005,
                 on_fallback: Callable[[], None] | None = None) -> None:
        self.prefix = prefix
        # A bounded pool: a burst waits for a connection instead of opening hundreds at once (which
        # made connects time out and pushed sound decisions into the fallback). A refused connection
        # (Redis down) fails at once; only a hung Redis costs up to timeout_s, once per retry_s.
        # No client-side retries: an unanswered decision goes to the fallback at once (the lane retries
        # only a reused connection found closed). TCP keepalive (probes after 30 s idle) keeps NAT and
        # load-balancer idle timers from dropping quiet connections and finds dead peers.
        tcp = {} if url.startswith("unix://") else {"socket_keepalive": True, "socket_keepalive_options": _KEEPALIVE}
        pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=pool_wait_s,
                                                        socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                                        retry=Retry(NoBackoff(), 0), **tcp)
        self.client = aioredis.Redis(connection_pool=pool, retry=Retry(NoBackoff(), 0))
        # Decisions (one per request) take the lean lane, each within timeout_s overall (waiting for one of
        # its connections included); settle batches (one at a time) a lane of their own, so a connection closed
        # while idle is replaced there too. The client only loads the scripts at start.
        self._acquire = ScriptLane(pool, ACQUIRE, max_connections=max_connections, timeout_s=timeout_s)
        self._settle = ScriptLane(pool, SETTLE, max_connections=1, timeout_s=timeout_s)
        self.local = MemoryLimiter(share=replicas)
        self.budgets_fail_open = budgets_fail_open
        self.timeout_s = timeout_s
        self.retry_s = retry_s
        self.on_fallback = on_fallback or (lambda: None)
        self._down_until = 0.0
        self._down_reason: str | None = None
        self._probing = False  # degraded: a probe is out, every other caller decides locally
        self._healthy = self._is_healthy  # the lane's gate for a call that waited (bound once, not per call)
        self.settles = SettleQueue(self._send_settles, delay_s=settle_delay_s)

    async def start(self) -> None:
        """Start the settle sender; load the scripts once, so a burst does not meet NOSCRIPT on every call."""
        self.settles.start()
        try:
            for script in (ACQUIRE, SETTLE):
                await self.client.script_load(script)
        except _FAILURES as exc:
            await self._went_down(exc)

    @property
    def degraded(self) -> bool:
        """Whether the last attempt to reach Redis failed."""
        return self._down_reason is not None

    def _is_healthy(self) -> bool:
        return self._down_reason is None

    def _take_probe(self) -> bool:
        """Degraded: whether this caller may ask Redis now (past `retry_s`, no other probe out); if so it must
        hand the probe back with `self._probing = False`."""
        if self._probing or time.monotonic() < self._down_until:
            return False
        self._probing = True
        return True

    async def acquire(self, subject: str, limits: Limits, tokens: int) -> Reservation:
        """Decide in Redis; when it is unreachable, decide locally (see the module docstring)."""
        tokens = tokens if limits.counts_tokens else 0
        probe = self._down_reason is not None
        if probe and not self._take_probe():
            return await self._fallback(subject, limits, tokens)
        try:
            reply = await self._acquire.call(f"{self.prefix}:{subject}", limits.rpm or 0, limits.tpm or 0,
                                             limits.daily_tokens or 0, limits.monthly_tokens or 0, tokens,
                                             gate=None if probe else self._healthy)
        except LaneBusy:  # no connection within the deadline, or Redis failed meanwhile: decide locally
            pass
        except _FAILURES as exc:
            await self._went_down(exc)
        else:
            self._came_back()
            return _reservation(subject, limits, tokens, reply)
        finally:
            if probe:
                self._probing = False
        return await self._fallback(subject, limits, tokens)

    async def settle(self, reservation: Reservation, actual_tokens: int) -> None:
        """Correct the token counters the reservation used, applied when this returns."""
        await self.defer_settle(reservation, actual_tokens)
        await self.settles.flush()

    async def defer_settle(self, reservation: Reservation, actual_tokens: int) -> None:
        """Queue the correction for the next batch (a local reservation is corrected locally at once)."""
        delta = actual_tokens - reservation.tokens
        if reservation.denied or not reservation.tokens or not delta:
            return
        if reservation.local:
            await self.local.settle(reservation, actual_tokens)
            return
        win = reservation.windows
        await self.settles.put((f"{self.prefix}:{reservation.subject}", win.minute, win.day, win.month), delta,
                               _ms(reservation.now))

    async def flush(self) -> None:
        """Send the deferred settles now."""
        await self.settles.flush()

    async def _send_settles(self, args: list[str | int]) -> bool:
        probe = self._down_reason is not None  # degraded: the batch is the probe, or it is not sent
        if probe and not self._take_probe():
            return False
        try:
            await self._settle.call(*args)
        except LaneBusy:
            return False
        except _FAILURES as exc:  # the estimates stay counted: conservative, never an error to the client
            await self._went_down(exc)
            return False
        finally:
            if probe:
                self._probing = False
        self._came_back()
        return True

    async def _fallback(self, subject: str, limits: Limits, tokens: int) -> Reservation:
        self.on_fallback()
        has_budget = limits.daily_tokens is not None or limits.monthly_tokens is not None
        if has_budget and not self.budgets_fail_open:
            now = time.time()
            return Reservation(subject, limits, 0, now, Windows.at(now), denied="unavailable", local=True)
        if self.budgets_fail_open:
            limits = Limits(rpm=limits.rpm, tpm=limits.tpm)
        res = await self.local.acquire(subject, limits, tokens)
        res.local = True
        return res

    async def _went_down(self, exc: BaseException) -> None:
        if self._down_reason is None:
            log.warning("limiter: Redis unreachable, deciding per replica", extra={"error_type": type(exc).__name__})
        self._down_reason = type(exc).__name__
        self._down_until = time.monotonic() + self.retry_s
        # Drop every pooled connection: after a Redis restart each stale one would fail once more, one
        # probe per retry_s, and keep the replica in fallback for many seconds after Redis is back.
        with contextlib.suppress(*_FAILURES):  # closing sockets to a server that is gone
            await self.client.connection_pool.disconnect()
        await self._acquire.reset()
        await self._settle.reset()

    def _came_back(self) -> None:
        if self._down_reason is not None:
            log.info("limiter: Redis reachable again")
        self._down_reason = None

    def status(self) -> dict[str, object]:
        """Backend, whether Redis answered last, and why not."""
        return {"backend": self.name, "ok": not self.degraded, "degraded": self.degraded,
                "reason": self._down_reason, "unsent_settles": self.settles.unsent}

    async def close(self) -> None:
        """Send the deferred settles (shutdown), then close the connection pool."""
        await self.settles.close()
        await self._acquire.reset()
        await self._settle.reset()
        await self.client.aclose()


def _ms(now: float) -> int:
    """Redis' TIME of a decision (seconds, to the microsecond) as whole milliseconds, rounded down exactly."""
    return round(now * 1_000_000) // 1000


def _reservation(subject: str, limits: Limits, tokens: int, reply: list) -> Reservation:
    denied, now, minute, day, month, *counts = reply
    denied = denied.decode() if isinstance(denied, bytes) else str(denied)
    now_s = float(now.decode() if isinstance(now, bytes) else now)
    used = {name: int(value) for name, value in zip(_NAMES, counts, strict=True)}
    return Reservation(subject, limits, tokens, now_s, Windows(int(minute), int(day), int(month)),
                       denied or None, used)
