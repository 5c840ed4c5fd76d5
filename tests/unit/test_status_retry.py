"""The status retry policy given to langchain-mistralai: what the openai and anthropic SDKs retry, and how long
they wait (their `_should_retry` and `_calculate_retry_timeout`)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from gateway.providers.status_retry import SdkRetry, retrying_transport


@pytest.mark.parametrize(("status", "retried"), [
    (408, True), (409, True), (429, True), (500, True), (502, True), (503, True), (504, True), (529, True),
    (400, False), (401, False), (402, False), (403, False), (404, False), (413, False), (422, False),
])
def test_the_sdks_retryable_statuses(status: int, retried: bool) -> None:
    assert SdkRetry().is_retryable_status_code(status) is retried


@pytest.mark.parametrize(("attempt", "low", "high"), [(1, 0.375, 0.5), (2, 0.75, 1.0), (3, 1.5, 2.0),
                                                      (5, 6.0, 8.0), (9, 6.0, 8.0)])
def test_the_backoff_doubles_from_half_a_second_up_to_8_s_less_a_quarter_of_jitter(attempt: int, low: float,
                                                                                   high: float) -> None:
    delays = [SdkRetry(attempts_made=attempt).backoff_strategy() for _ in range(200)]
    assert low <= min(delays) and max(delays) <= high


def _replies(*statuses: int, retry_after: str | None = None) -> tuple[httpx.MockTransport, list[int]]:
    sent: list[int] = []

    def reply(request: httpx.Request) -> httpx.Response:
        sent.append(len(sent))
        status = statuses[min(len(sent) - 1, len(statuses) - 1)]
        return httpx.Response(status, headers={"retry-after": retry_after} if retry_after else {})

    return httpx.MockTransport(reply), sent


@pytest.mark.parametrize(("retries", "statuses", "final", "sent"), [
    (2, (429, 503, 200), 200, 3), (2, (503,), 503, 3), (0, (503,), 503, 1), (2, (402,), 402, 1), (2, (400,), 400, 1),
])
def test_a_post_is_sent_once_plus_its_retries_on_a_retryable_status(monkeypatch: pytest.MonkeyPatch, retries: int,
                                                                    statuses: tuple[int, ...], final: int,
                                                                    sent: int) -> None:
    slept: list[float] = []

    async def no_wait(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", no_wait)
    upstream, replies = _replies(*statuses, retry_after="3")
    transport = retrying_transport(retries, upstream)  # the policy, over a wire that answers `statuses`

    async def post() -> int:
        async with httpx.AsyncClient(transport=transport, base_url="http://upstream") as client:
            return (await client.post("/chat/completions", json={})).status_code

    assert asyncio.run(post()) == final
    assert len(replies) == sent
    assert slept == [3.0] * (sent - 1)  # the reply's Retry-After, as the SDKs honour it


@pytest.mark.parametrize(("retry_after", "low", "high"), [("60", 60.0, 60.0), ("61", 0.375, 0.5), (None, 0.375, 0.5)])
def test_a_long_or_missing_retry_after(monkeypatch: pytest.MonkeyPatch, retry_after: str | None, low: float,
                                       high: float) -> None:
    slept: list[float] = []

    async def no_wait(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", no_wait)
    upstream, _ = _replies(429, 200, retry_after=retry_after)

    async def post() -> int:
        async with httpx.AsyncClient(transport=retrying_transport(1, upstream), base_url="http://upstream") as client:
            return (await client.post("/chat/completions", json={})).status_code

    assert asyncio.run(post()) == 200
    assert len(slept) == 1 and low <= slept[0] <= high


@pytest.mark.parametrize(("error", "sent"), [(httpx.ConnectError("refused"), 3), (httpx.ReadTimeout("late"), 3),
                                             (httpx.RemoteProtocolError("closed before the reply"), 3),
                                             (httpx.UnsupportedProtocol("ftp"), 1)])
def test_a_timeout_or_a_lost_connection_is_retried_too(monkeypatch: pytest.MonkeyPatch, error: Exception,
                                                       sent: int) -> None:
    attempts: list[int] = []

    async def no_wait(seconds: float) -> None:
        pass

    def fail(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        raise error

    monkeypatch.setattr(asyncio, "sleep", no_wait)

    async def post() -> None:
        async with httpx.AsyncClient(transport=retrying_transport(2, httpx.MockTransport(fail)),
                                     base_url="http://upstream") as client:
            await client.post("/chat/completions", json={})

    with pytest.raises(type(error)):
        asyncio.run(post())
    assert len(attempts) == sent
