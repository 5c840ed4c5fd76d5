"""The Redis limiter when Redis misbehaves without simply being down, against a real redis-server on loopback.

- A server (or a NAT / load balancer on the way) that closes idle connections: the next decisions must not be
  taken for an outage (which refuses every budget client with `budget_unavailable` for `retry_s`).
- A hung server (SIGSTOP: a long GC-like pause, a blackholed network): no request waits much longer than the
  documented timeout (1 s), and while degraded one probe at a time reaches Redis, not every request in flight.
- Counters lost to a restart without persistence or to an eviction: a settle computed before the loss must not
  land on the new counter and free budget that was really spent, and no settle takes a counter below 0.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from gateway.limits import Limits, Reservation
from gateway.limits.redis import RedisLimiter
from tests.support.redisproc import RedisServer

pytestmark = pytest.mark.integration

TIMEOUT_S = 1.0  # the documented bound on what an unanswering Redis costs a request (RedisLimiter's timeout_s)
MAX_CONNECTIONS = 32  # RedisLimiter's default bound on the decision lane's connections


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    srv = RedisServer(tmp_path).start()
    try:
        yield srv
    finally:
        if srv.proc is not None and srv.proc.poll() is None:
            os.kill(srv.proc.pid, signal.SIGCONT)  # never leave a stopped server behind (terminate needs it)
        srv.stop()


@pytest.fixture
def admin(server: RedisServer) -> Iterator[redis.Redis]:
    """An operator's connection, named so that it can be told apart from the limiter's in CLIENT LIST."""
    client = redis.Redis.from_url(server.url, socket_timeout=5, client_name="admin")
    try:
        yield client
    finally:
        client.close()


async def _until(predicate: Callable[[], bool], within_s: float, every_s: float = 0.05) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(every_s)
    return predicate()


def _limiter_clients(admin: redis.Redis) -> int:
    return sum(1 for c in admin.client_list() if c.get("name") != "admin")


def _evalsha_calls(admin: redis.Redis) -> int:
    return int(admin.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))


async def _evalsha_calls_settled(admin: redis.Redis, within_s: float = 5.0, quiet_s: float = 0.3) -> int:
    """EVALSHA calls once the count has not moved for `quiet_s` (a resumed server works through its backlog)."""
    deadline, last, since = time.monotonic() + within_s, -1, time.monotonic()
    while time.monotonic() < deadline:
        calls = _evalsha_calls(admin)
        if calls != last:
            last, since = calls, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
        await asyncio.sleep(0.05)
    return last


async def _decided_by_redis(limiter: RedisLimiter, subject: str, limits: Limits, tokens: int) -> Reservation:
    for _ in range(50):  # the fallback decides (budgets: refused) until Redis answers again (bounded: 5 s)
        res = await limiter.acquire(subject, limits, tokens)
        if not res.local:
            return res
        await asyncio.sleep(0.1)
    pytest.fail("Redis never answered again")


def _daily_key(res: Reservation) -> str:
    return f"llmgw:limits:{res.subject}:daily:{res.windows.day}"


def _int(value: object) -> int:
    assert isinstance(value, bytes | str | int), value
    return int(value)


# -- 1: connections closed while idle -------------------------------------------------------------------------


async def test_connections_the_server_closed_while_idle_are_replaced_not_taken_for_an_outage(
        server: RedisServer, admin: redis.Redis) -> None:
    fallbacks: list[int] = []
    admin.config_set("timeout", 1)  # Redis closes connections idle > 1 s (managed Redis, NAT and LB timers alike)
    limiter = RedisLimiter(server.url, retry_s=30, on_fallback=lambda: fallbacks.append(1))  # an outage would last
    await limiter.start()
    limits = Limits(rpm=1000, daily_tokens=10**9)
    try:
        first = await asyncio.gather(*(limiter.acquire("idle", limits, 10) for _ in range(8)))
        assert [r.denied for r in first] == [None] * 8 and not any(r.local for r in first)
        for res in first:
            await limiter.defer_settle(res, 4)
        await limiter.flush()  # the settle batches' connection, idle from now on too
        # Every connection the limiter holds (decisions, settles, the script loader's) is closed by the server.
        assert await _until(lambda: _limiter_clients(admin) == 0, within_s=6), admin.client_list()
        admin.config_resetstat()
        second = await asyncio.gather(*(limiter.acquire("idle", limits, 10) for _ in range(8)))
        assert [r.denied for r in second] == [None] * 8, [r.denied for r in second]  # not budget_unavailable
        assert not any(r.local for r in second) and fallbacks == [] and limiter.status()["degraded"] is False
        # The hot path stays one round trip: the dead sockets never reached Redis, no PING was sent to check them.
        stats = admin.info("commandstats")
        assert _evalsha_calls(admin) == 8 and "cmdstat_ping" not in stats, stats
        for res in second:
            await limiter.defer_settle(res, 4)
        await limiter.flush()  # on the settle connection the server closed: sent again on a new one, once
        assert limiter.status() == {"backend": "redis", "ok": True, "degraded": False, "reason": None,
                                    "unsent_settles": 0}
        assert _evalsha_calls(admin) == 9 and _int(admin.get(_daily_key(second[0]))) == 16 * 4
    finally:
        await limiter.close()


# -- 2: a hung Redis -------------------------------------------------------------------------------------------


async def test_a_hung_redis_costs_at_most_the_timeout_and_is_probed_once_at_a_time(
        server: RedisServer, admin: redis.Redis) -> None:
    fallbacks: list[int] = []
    assert server.proc is not None
    limiter = RedisLimiter(server.url, on_fallback=lambda: fallbacks.append(1))  # documented timeout and retry
    await limiter.start()
    limits = Limits(rpm=10**6)
    hang_s, clients = 2.5, 200  # first wave, a 1 s down window, then the probes' turn; more clients than slots
    latencies: list[float] = []

    async def client(i: int) -> None:
        end = time.monotonic() + hang_s
        # Arrivals spread over the first second: the first 32 take the connections, the rest queue with time
        # left on their deadlines when those fail (they must not try Redis again then).
        await asyncio.sleep(i / clients)
        while time.monotonic() < end:
            started = time.monotonic()
            await limiter.acquire("hung", limits, 0)
            latencies.append(time.monotonic() - started)
            await asyncio.sleep(0.01)

    try:
        warm = await asyncio.gather(*(limiter.acquire("hung", limits, 0) for _ in range(2 * MAX_CONNECTIONS)))
        assert not any(r.local for r in warm)
        admin.config_resetstat()
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            await asyncio.wait_for(asyncio.gather(*(client(i) for i in range(clients))), timeout=30)
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
        slowest = max(latencies)
        print(f"hung Redis: {len(latencies)} decisions, slowest {slowest:.2f} s, {len(fallbacks)} fallbacks")
        assert slowest < 2 * TIMEOUT_S, f"a request waited {slowest:.2f} s for a hung Redis"
        assert limiter.status()["degraded"] is True and len(fallbacks) > clients
        # What reached Redis while it was stopped sat in its sockets and backlog and is served now: the decisions
        # in flight when it hung, on the warm connections (one each), then the probes. A failure drops every
        # connection, so each probe opens one (and waits in its handshake): one per down window, not a wave.
        calls = await _evalsha_calls_settled(admin)
        opened = int(admin.info("stats")["total_connections_received"])
        print(f"hung Redis: {calls} decisions on warm connections, {opened} connections opened while it was stopped")
        assert calls <= MAX_CONNECTIONS, f"{calls} decisions reached Redis while it was stopped"
        assert opened <= 2, f"{opened} connections opened while it was stopped (one probe per window)"
        back = await _decided_by_redis(limiter, "hung", limits, 0)  # and it comes back once Redis answers
        assert back.denied is None and limiter.status()["degraded"] is False
    finally:
        await limiter.close()


# -- 3: counters lost to a restart or an eviction ---------------------------------------------------------------


@pytest.mark.parametrize("loss", ["restart", "eviction"])
async def test_a_settle_from_before_a_lost_counter_never_frees_budget_on_the_new_one(
        server: RedisServer, admin: redis.Redis, loss: str) -> None:
    limiter = RedisLimiter(server.url, retry_s=0.2, settle_delay_s=0.001)
    await limiter.start()
    budget = Limits(daily_tokens=1000)
    try:
        first = await limiter.acquire("lost", budget, 900)
        assert first.denied is None and not first.local
        if loss == "restart":
            server.kill()
            server.start()  # no persistence: every counter is gone
        else:
            assert admin.delete(_daily_key(first)) == 1  # what maxmemory-policy allkeys-/volatile-* does
            await asyncio.sleep(0.05)  # the next decision creates the counter again, later than `first` (ms)
        second = await _decided_by_redis(limiter, "lost", budget, 900)  # a fresh counter: admitted
        assert second.denied is None and second.used["daily_tokens"] == 900
        await limiter.settle(first, 0)  # the first call failed upstream: its 900 were on the counter that is gone
        assert _int(admin.get(_daily_key(second))) == 900  # the second's 900 are still counted
        third = await limiter.acquire("lost", budget, 900)
        assert third.denied == "daily_tokens", "admitted 2,700 tokens against a daily budget of 1,000"
        await limiter.settle(second, 400)  # a settle for the counter it was reserved on still lands
        assert _int(admin.get(_daily_key(second))) == 400
    finally:
        await limiter.close()


async def test_a_settle_never_takes_a_counter_below_zero_nor_creates_one(server: RedisServer,
                                                                         admin: redis.Redis) -> None:
    limiter = RedisLimiter(server.url, settle_delay_s=0.001)
    await limiter.start()
    budget = Limits(daily_tokens=1000)
    try:
        first = await limiter.acquire("floor", budget, 900)
        admin.set(_daily_key(first), 0)  # an operator resets the client's day while a request is in flight
        await limiter.settle(first, 100)  # -800 on a counter that holds 0
        assert _int(admin.get(_daily_key(first))) == 0  # not -800, which would add 800 to the day's budget
        second = await limiter.acquire("floor", budget, 900)
        admin.delete(_daily_key(second))
        await limiter.settle(second, 50)
        assert admin.exists(_daily_key(second)) == 0  # a lost counter stays lost: a settle creates none
    finally:
        await limiter.close()
