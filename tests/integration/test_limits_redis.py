"""The Redis limiter against a real redis-server: exact counts across replicas, settling, outage and return."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis

from gateway.limits import Limits
from gateway.limits.redis import RedisLimiter
from tests.support.redisproc import RedisServer

pytestmark = pytest.mark.integration


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    srv = RedisServer(tmp_path).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
async def replicas(server: RedisServer) -> AsyncIterator[list[RedisLimiter]]:
    """Three limiters as three gateway replicas would hold them (one connection pool each)."""
    limiters = [RedisLimiter(server.url, replicas=3, retry_s=0.2) for _ in range(3)]
    for limiter in limiters:
        await limiter.start()
    try:
        yield limiters
    finally:
        for limiter in limiters:
            await limiter.close()


@pytest.mark.parametrize("limit,concurrent", [(50, 300), (7, 100), (200, 600)])
async def test_exactly_the_limit_passes_across_replicas(replicas: list[RedisLimiter], limit: int,
                                                        concurrent: int) -> None:
    subject = f"exact-{limit}"
    calls = [replicas[i % 3].acquire(subject, Limits(rpm=limit), 0) for i in range(concurrent)]
    started = time.perf_counter()
    results = await asyncio.gather(*calls)
    elapsed = time.perf_counter() - started
    allowed = sum(r.denied is None for r in results)
    print(f"rpm={limit} concurrent={concurrent} allowed={allowed} in {elapsed * 1000:.0f} ms")
    assert allowed == limit
    assert all(not r.local for r in results)


async def test_token_budget_is_consumed_to_the_token(replicas: list[RedisLimiter]) -> None:
    limits = Limits(tpm=10_000, daily_tokens=1000, monthly_tokens=5000)
    used = 0
    for i in range(100):
        res = await replicas[i % 3].acquire("budget", limits, 60)  # reserve 60, the provider reports 23
        if res.denied:
            assert res.denied == "daily_tokens"
            break
        await replicas[(i + 1) % 3].settle(res, 23)
        used += 23
    else:
        pytest.fail("the daily budget never refused")
    # Refused only when the next reservation (60) no longer fits: every counted token is an actual one.
    assert 1000 - 60 < used <= 1000
    probe = await replicas[0].acquire("budget", Limits(daily_tokens=1000), 0)
    assert probe.used["daily_tokens"] == used and probe.used["monthly_tokens"] == used


async def test_script_uses_server_time_windows(server: RedisServer, replicas: list[RedisLimiter]) -> None:
    res = await replicas[0].acquire("clock", Limits(rpm=5, tpm=100), 10)
    seconds, _micro = redis.Redis.from_url(server.url).time()
    assert abs(res.now - seconds) < 2 and res.windows.minute == int(res.now // 60)
    found = redis.Redis.from_url(server.url).keys("llmgw:limits:clock:*")  # bytes: no decode_responses
    keys = sorted(k.decode() if isinstance(k, bytes) else k for k in found)
    assert keys == sorted(f"llmgw:limits:clock:{kind}:{win}" for kind, win in (
        ("rpm", res.windows.minute), ("tpm", res.windows.minute), ("daily", res.windows.day),
        ("monthly", res.windows.month)))


async def test_redis_down_falls_back_per_replica_and_recovers(server: RedisServer,
                                                              replicas: list[RedisLimiter]) -> None:
    fallbacks = []
    replicas[0].on_fallback = lambda: fallbacks.append(1)
    assert (await replicas[0].acquire("outage", Limits(rpm=30), 0)).local is False
    server.kill()
    results = await asyncio.gather(*(replicas[0].acquire("outage", Limits(rpm=30), 0) for _ in range(40)))
    assert all(r.local for r in results) and sum(r.denied is None for r in results) == 10  # 30 / 3 replicas
    assert replicas[0].status()["degraded"] is True and len(fallbacks) == 40
    budget = await replicas[0].acquire("outage-budget", Limits(daily_tokens=100), 5)
    assert budget.denied == "unavailable"  # budgets fail closed by default
    server.start()
    await asyncio.sleep(0.3)  # past retry_s
    back = await replicas[0].acquire("outage", Limits(rpm=30), 0)
    assert back.local is False and back.denied is None and replicas[0].status()["degraded"] is False


async def test_budgets_fail_open_when_configured(server: RedisServer) -> None:
    limiter = RedisLimiter(server.url, replicas=2, budgets_fail_open=True, retry_s=5)
    try:
        server.kill()
        res = await limiter.acquire("open", Limits(rpm=10, daily_tokens=1), 50)
        assert res.local and res.denied is None
    finally:
        await limiter.close()


def _counter(server: RedisServer, subject: str, kind: str, window: int) -> int:
    return int(redis.Redis.from_url(server.url).get(f"llmgw:limits:{subject}:{kind}:{window}") or 0)


async def test_deferred_settles_leave_the_path_and_land_in_one_batch(server: RedisServer,
                                                                     replicas: list[RedisLimiter]) -> None:
    limits = Limits(tpm=1_000_000, daily_tokens=1_000_000)
    granted = [await replicas[0].acquire("deferred", limits, 50) for _ in range(40)]
    for res in granted:  # what the routes do: hand the correction over, answer the client
        await replicas[0].defer_settle(res, 20)
    day = granted[0].windows.day
    assert _counter(server, "deferred", "daily", day) == 40 * 50  # not applied on the response path
    for _ in range(500):  # the sender waits 5 ms, then sends the batch as one call (polled up to 5 s)
        if _counter(server, "deferred", "daily", day) == 40 * 20:
            break
        await asyncio.sleep(0.01)
    assert _counter(server, "deferred", "daily", day) == 40 * 20
    assert _counter(server, "deferred", "tpm", granted[0].windows.minute) == 40 * 20
    assert replicas[0].status()["unsent_settles"] == 0


async def test_deferred_settles_are_flushed_on_close_and_never_dropped_when_full(server: RedisServer) -> None:
    limiter = RedisLimiter(server.url, settle_delay_s=60)  # the sender would wait a minute: only close sends
    limiter.settles.max_pending = 3  # a full queue makes the caller wait for a send, it drops nothing
    await limiter.start()
    limits = Limits(daily_tokens=1_000_000)
    granted = [await limiter.acquire(f"shutdown-{i % 5}", limits, 30) for i in range(25)]
    for res in granted:
        await limiter.defer_settle(res, 10)
    await limiter.close()  # what the lifespan does on SIGTERM
    day = granted[0].windows.day
    assert [_counter(server, f"shutdown-{i}", "daily", day) for i in range(5)] == [5 * 10] * 5


async def test_settles_while_redis_is_down_keep_the_estimate(server: RedisServer,
                                                             replicas: list[RedisLimiter]) -> None:
    res = await replicas[0].acquire("down-settle", Limits(daily_tokens=1000), 40)
    server.kill()
    await replicas[0].defer_settle(res, 10)
    await replicas[0].flush()  # never raises: the correction is counted as unsent, the estimate stays
    assert replicas[0].status()["unsent_settles"] == 1


async def test_decisions_survive_a_flushed_script_cache(server: RedisServer, replicas: list[RedisLimiter]) -> None:
    first = await replicas[0].acquire("noscript", Limits(rpm=10), 0)
    redis.Redis.from_url(server.url).script_flush()  # what a restarted or failed-over Redis looks like
    again = await replicas[0].acquire("noscript", Limits(rpm=10), 0)
    assert not first.local and not again.local and again.used["rpm"] == 2
