"""The in-process limiter and the limit enforcement, with a controlled clock (no process started)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from gateway import errors
from gateway.app import create_app
from gateway.auth import keys
from gateway.config import Settings
from gateway.errors import QuotaExceededError, RateLimitedError, retry_headers
from gateway.limits import Limits, MemoryLimiter, Reservation, Windows, enforce
from gateway.secrets.base import ClientKeyRecord, SecretsError
from gateway.secrets.env import EnvSecretsBackend

NOON = datetime(2026, 12, 2, 12, 0, 10, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_rpm_admits_exactly_the_limit_under_concurrency() -> None:
    limiter = MemoryLimiter(Clock(NOON))
    results = await asyncio.gather(*(limiter.acquire("c", Limits(rpm=50), 0) for _ in range(300)))
    assert sum(r.denied is None for r in results) == 50
    assert {r.denied for r in results if r.denied} == {"requests"}


async def test_the_minute_window_starts_over() -> None:
    clock = Clock(NOON)
    limiter = MemoryLimiter(clock)
    assert (await limiter.acquire("c", Limits(rpm=1), 0)).denied is None
    denied = await limiter.acquire("c", Limits(rpm=1), 0)
    assert denied.denied == "requests" and denied.retry_after() == 50  # 10 s into the minute
    clock.now += 50
    assert (await limiter.acquire("c", Limits(rpm=1), 0)).denied is None


async def test_tokens_are_reserved_then_settled_to_actual_usage() -> None:
    limiter = MemoryLimiter(Clock(NOON))
    limits = Limits(tpm=1000, daily_tokens=5000)
    first = await limiter.acquire("c", limits, 400)
    assert first.denied is None and first.remaining("tpm") == 600
    await limiter.settle(first, 37)  # the provider reported 37 tokens
    second = await limiter.acquire("c", limits, 963)  # exactly fills the minute: 37 + 963 = 1000
    assert second.denied is None and second.remaining("tpm") == 0 and second.used["daily_tokens"] == 1000
    assert (await limiter.acquire("c", limits, 1)).denied == "tokens"


async def test_budgets_refuse_past_the_last_token_and_name_the_period() -> None:
    limiter = MemoryLimiter(Clock(NOON))
    limits = Limits(daily_tokens=100, monthly_tokens=150)
    res = await limiter.acquire("c", limits, 100)
    await limiter.settle(res, 100)
    with pytest.raises(QuotaExceededError) as daily:
        await enforce.admit(limiter, "c", limits, 1)
    assert daily.value.status == 429 and daily.value.code == "insufficient_quota"
    assert "daily" in daily.value.message and daily.value.retry_after == 86400 - 12 * 3600 - 10
    # spent until midnight: the SDKs are told not to retry it (seconds apart, every retry would be refused)
    assert daily.value.retryable is False
    assert errors.retry_headers(daily.value) == {"Retry-After": str(daily.value.retry_after), "x-should-retry": "false"}


async def test_admit_raises_openai_shaped_rate_limit_errors() -> None:
    limiter = MemoryLimiter(Clock(NOON))
    await enforce.admit(limiter, "c", Limits(rpm=1), 0)
    with pytest.raises(RateLimitedError) as exc:
        await enforce.admit(limiter, "c", Limits(rpm=1), 0)
    assert exc.value.code == "rate_limit_exceeded" and exc.value.retry_after == 50
    assert exc.value.retryable is None and "x-should-retry" not in errors.retry_headers(exc.value)  # the SDK decides
    with pytest.raises(RateLimitedError, match="request too large") as too_large:
        await enforce.admit(limiter, "d", Limits(tpm=10), 11)
    assert too_large.value.retryable is False  # no minute admits it
    with pytest.raises(RateLimitedError, match="rate limit reached") as full_minute:
        await enforce.admit(limiter, "d", Limits(tpm=10), 10)
        await enforce.admit(limiter, "d", Limits(tpm=10), 1)
    assert full_minute.value.retryable is None  # the next minute admits it
    assert await enforce.admit(limiter, "c", None, 10**9) is None  # an unlimited client is not counted


async def test_headers_follow_openai_names() -> None:
    res = await MemoryLimiter(Clock(NOON)).acquire("c", Limits(rpm=60, tpm=1000), 100)
    assert enforce.headers(res) == [
        (b"x-ratelimit-limit-requests", b"60"), (b"x-ratelimit-remaining-requests", b"59"),
        (b"x-ratelimit-reset-requests", b"50s"),
        (b"x-ratelimit-limit-tokens", b"1000"), (b"x-ratelimit-remaining-tokens", b"900"),
        (b"x-ratelimit-reset-tokens", b"50s"),
    ]
    only_tokens = await MemoryLimiter(Clock(NOON)).acquire("c", Limits(tpm=1000), 100)
    assert [name for name, _ in enforce.headers(only_tokens)] == [
        b"x-ratelimit-limit-tokens", b"x-ratelimit-remaining-tokens", b"x-ratelimit-reset-tokens"]
    assert enforce.headers(None) == []


async def test_anthropic_headers_give_the_reset_as_an_instant() -> None:
    res = await MemoryLimiter(Clock(NOON)).acquire("c", Limits(rpm=60, tpm=1000), 100)
    assert enforce.anthropic_headers(res) == [  # NOON is 12:00:10: both windows start over at 12:01
        (b"anthropic-ratelimit-requests-limit", b"60"), (b"anthropic-ratelimit-requests-remaining", b"59"),
        (b"anthropic-ratelimit-requests-reset", b"2026-12-02T12:01:00Z"),
        (b"anthropic-ratelimit-tokens-limit", b"1000"), (b"anthropic-ratelimit-tokens-remaining", b"900"),
        (b"anthropic-ratelimit-tokens-reset", b"2026-12-02T12:01:00Z"),
    ]
    only_requests = await MemoryLimiter(Clock(NOON)).acquire("c", Limits(rpm=5, daily_tokens=10**6), 100)
    assert [name for name, _ in enforce.anthropic_headers(only_requests)] == [
        b"anthropic-ratelimit-requests-limit", b"anthropic-ratelimit-requests-remaining",
        b"anthropic-ratelimit-requests-reset"]
    assert enforce.anthropic_headers(None) == []


async def test_a_refusal_carries_the_limit_headers_a_granted_request_gets() -> None:
    limiter = MemoryLimiter(Clock(NOON))
    limits = Limits(rpm=1, tpm=1000)
    await enforce.admit(limiter, "c", limits, 100)
    with pytest.raises(RateLimitedError) as refused:
        await enforce.admit(limiter, "c", limits, 100)
    assert enforce.refusal_headers(refused.value) == {  # nothing of the refused request was counted
        "x-ratelimit-limit-requests": "1", "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "50s",
        "x-ratelimit-limit-tokens": "1000", "x-ratelimit-remaining-tokens": "900", "x-ratelimit-reset-tokens": "50s"}
    anthropic = enforce.refusal_headers(refused.value, anthropic=True)
    assert anthropic["anthropic-ratelimit-requests-remaining"] == "0"
    assert anthropic["x-ratelimit-limit-tokens"] == "1000"  # both families, as the Messages route answers
    assert anthropic["anthropic-ratelimit-tokens-reset"] == "2026-12-02T12:01:00Z"
    with pytest.raises(QuotaExceededError) as budget:  # a budget's 429 reports the rate limits it has too
        await enforce.admit(limiter, "d", Limits(rpm=5, daily_tokens=10), 11)
    assert enforce.refusal_headers(budget.value)["x-ratelimit-remaining-requests"] == "5"
    # any other error, an upstream's 429 among them, has no limit state of the client's to report
    assert enforce.refusal_headers(RateLimitedError("upstream rate limit", retry_after=3)) == {}


async def test_a_rate_refusal_says_how_long_to_wait_to_the_millisecond() -> None:
    limiter = MemoryLimiter(Clock(NOON + 0.25))  # 49.75 s before the minute starts over
    await enforce.admit(limiter, "c", Limits(rpm=1), 1)
    with pytest.raises(RateLimitedError) as refused:
        await enforce.admit(limiter, "c", Limits(rpm=1), 1)
    assert retry_headers(refused.value) == {"Retry-After": "50", "retry-after-ms": "49750"}
    await enforce.admit(limiter, "t", Limits(tpm=100), 60)
    with pytest.raises(RateLimitedError) as busy:  # the tokens of this minute are gone: the next one admits it
        await enforce.admit(limiter, "t", Limits(tpm=100), 60)
    assert retry_headers(busy.value) == {"Retry-After": "50", "retry-after-ms": "49750"}
    with pytest.raises(RateLimitedError) as too_large:  # no minute admits it: nothing to wait for
        await enforce.admit(limiter, "l", Limits(tpm=100), 101)
    assert retry_headers(too_large.value) == {"Retry-After": "50", "x-should-retry": "false"}
    with pytest.raises(QuotaExceededError) as spent:  # a budget: past any SDK's retries
        await enforce.admit(limiter, "d", Limits(daily_tokens=10), 11)
    assert "retry-after-ms" not in retry_headers(spent.value)


class Unreachable(MemoryLimiter):
    """A shared engine that could not be asked (RedisLimiter's answer then): nothing counted."""

    async def acquire(self, subject: str, limits: Limits, tokens: int) -> Reservation:
        return Reservation(subject, limits, 0, NOON, Windows.at(NOON), denied="unavailable", local=True)


async def test_a_budget_that_cannot_be_checked_reports_no_counts() -> None:
    with pytest.raises(QuotaExceededError) as refused:
        await enforce.admit(Unreachable(Clock(NOON)), "c", Limits(rpm=5, daily_tokens=10), 1)
    assert refused.value.code == "budget_unavailable" and refused.value.retry_after == 5
    assert enforce.refusal_headers(refused.value) == {}  # not "5 of 5 requests remaining": nothing was counted


def test_windows_are_utc_calendar_aligned() -> None:
    last = datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()
    assert Windows.at(last).month == 2026 * 12 + 11
    assert Windows.at(last + 1).month == 2027 * 12 + 0
    assert Windows.at(last + 1).day == Windows.at(last).day + 1


def test_windows_match_the_calendar_at_every_hour_across_a_leap_year() -> None:
    start = datetime(2027, 12, 31, 12, tzinfo=UTC).timestamp()
    for hour in range(0, 24 * 400, 5):  # every fifth hour over 400 days, 2028's 29 February included
        t = start + hour * 3600 + 0.5
        moment = datetime.fromtimestamp(t, UTC)
        assert Windows.at(t) == Windows(int(t // 60), int(t // 86400), moment.year * 12 + moment.month - 1), moment
    leap = datetime(2028, 2, 29, 23, 59, 59, tzinfo=UTC).timestamp()
    assert (Windows.at(leap).month, Windows.at(leap + 1).month) == (2028 * 12 + 1, 2028 * 12 + 2)


async def test_fallback_share_divides_rate_limits_not_budgets() -> None:
    limiter = MemoryLimiter(Clock(NOON), share=3)
    assert limiter.scaled(Limits(rpm=50, tpm=1000, daily_tokens=10)) == Limits(rpm=17, tpm=334, daily_tokens=10)
    results = await asyncio.gather(*(limiter.acquire("c", Limits(rpm=50), 0) for _ in range(100)))
    assert sum(r.denied is None for r in results) == 17


@pytest.mark.parametrize("bad", [{"rpm": 0}, {"tpm": -5}, {"daily_tokens": "10"}, {"rpm": True}])
def test_bad_stored_limits_are_refused_by_name(bad: dict) -> None:
    with pytest.raises(SecretsError, match=next(iter(bad))):
        ClientKeyRecord.from_dict("abc", {"hash": "0" * 64, "limits": bad})


def test_limits_round_trip_with_the_key_record() -> None:
    record = ClientKeyRecord.from_dict("abc", {"hash": "0" * 64, "limits": {"rpm": 5, "monthly_tokens": 9}})
    assert record.limits == Limits(rpm=5, monthly_tokens=9)
    assert record.to_dict()["limits"] == {"rpm": 5, "monthly_tokens": 9}
    assert ClientKeyRecord.from_dict("abc", {"hash": "0" * 64, "limits": {}}).limits is None


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    full, key_id, digest = keys.generate()
    path = tmp_path / "clients.json"
    path.write_text(json.dumps({"keys": {key_id: {"hash": digest, "providers": ["openai"], "name": "team-a",
                                                  "limits": {"rpm": 2}}}}))
    cfg = Settings(provider="openai", client_keys_file=path, upstream_base_url="http://127.0.0.1:9/v1",
                   max_retries=0, upstream_timeout_s=5)
    app = create_app(cfg, EnvSecretsBackend("openai", None, path, environ={"OPENAI_API_KEY": "sk-upstream"}))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw",
                                     headers={"Authorization": f"Bearer {full}"}) as client:
            yield client


async def test_the_route_refuses_past_rpm_with_retry_after_and_counts_it(limited: httpx.AsyncClient) -> None:
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
    first = [await limited.post("/v1/chat/completions", json=body) for _ in range(2)]
    assert [r.status_code for r in first] == [502, 502]  # nothing listens upstream: still a request
    refused = await limited.post("/v1/chat/completions", json=body)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert (refused.headers["x-ratelimit-limit-requests"], refused.headers["x-ratelimit-remaining-requests"]) == (
        "2", "0")
    metrics = (await limited.get("/metrics")).text
    assert 'llm_gateway_limited_total{limit="rate_limit_exceeded",provider="openai"} 1.0' in metrics
    ready = (await limited.get("/readyz")).json()
    assert ready["checks"]["limits"] == {"backend": "memory", "ok": True, "degraded": False}


async def test_agent_requests_count_against_the_same_limit(limited: httpx.AsyncClient) -> None:
    for _ in range(2):
        assert (await limited.post("/v1/agent", json={"input": "what time is it?"})).status_code == 502
    refused = await limited.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limit_exceeded"
