"""IdleBound: the bound on an upstream stream's silence (GATEWAY_STREAM_IDLE_TIMEOUT_S)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gateway.errors import UpstreamTimeoutError
from gateway.stream_idle import IdleBound


async def _source(items: list[str], then: float | BaseException | None = None,
                  gap: float = 0) -> AsyncIterator[str]:
    for item in items:
        if gap:
            await asyncio.sleep(gap)
        yield item
    if isinstance(then, BaseException):
        raise then
    if then is not None:
        await asyncio.sleep(then)


async def test_items_then_none_at_the_end_and_no_timer_left() -> None:
    bound, upstream = IdleBound(1), _source(["a", "b"])
    assert [await bound.next(upstream) for _ in range(3)] == ["a", "b", None]
    bound.close()
    assert bound._timer is None


async def test_silence_past_the_bound_is_an_upstream_timeout_and_the_task_is_not_left_cancelled() -> None:
    bound, upstream = IdleBound(0.05), _source(["a"], then=30)
    assert await bound.next(upstream) == "a"
    with pytest.raises(UpstreamTimeoutError, match=r"sent nothing for 0\.05 s") as caught:
        await bound.next(upstream)
    assert caught.value.status == 504 and caught.value.code == "upstream_timeout"
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0)  # the task goes on normally
    bound.close()


async def test_each_wait_gets_the_whole_bound_and_time_spent_elsewhere_does_not_count() -> None:
    bound = IdleBound(0.2)
    upstream = _source(["a", "b", "c", "d"], gap=0.12)  # every gap under the bound, their sum well over it
    got = []
    while (item := await bound.next(upstream)) is not None:
        got.append(item)
        await asyncio.sleep(0.25)  # a slow client: the task is not waiting for the upstream meanwhile
    bound.close()
    assert got == ["a", "b", "c", "d"]


async def test_an_sdk_timeout_error_passes_unchanged() -> None:
    bound, upstream = IdleBound(5), _source([], then=TimeoutError("the SDK's own read timeout"))
    with pytest.raises(TimeoutError, match="the SDK's own read timeout") as caught:
        await bound.next(upstream)  # aiohttp's timeouts are TimeoutErrors too
    assert not isinstance(caught.value, UpstreamTimeoutError)
    bound.close()


async def test_cancellation_from_outside_is_not_a_timeout() -> None:
    bound = IdleBound(5)
    task = asyncio.ensure_future(bound.next(_source([], then=30)))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    bound.close()
