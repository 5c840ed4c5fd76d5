"""IdleBound: the bound on an upstream stream's silence (GATEWAY_STREAM_IDLE_TIMEOUT_S)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gateway.errors import UpstreamTimeoutError
from gateway.stream_idle import WAITING, IdleBound
from tests.unit.gated import Gated


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
    # 0.2 s of slack per wait: a loaded machine (a parallel suite beside it) delays the loop by tens of ms.
    bound = IdleBound(0.4)
    upstream = _source(["a", "b", "c", "d"], gap=0.2)  # every gap under the bound, their sum well over it
    got = []
    while (item := await bound.next(upstream)) is not None:
        got.append(item)
        await asyncio.sleep(0.45)  # a slow client: the task is not waiting for the upstream meanwhile
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


async def test_poll_gives_what_has_arrived_and_waiting_for_the_rest() -> None:
    bound, source = IdleBound(5), Gated(["a", "b", "c"], ready=2)
    upstream = source.stream()
    assert [bound.poll(upstream), bound.poll(upstream)] == ["a", "b"]
    assert bound.poll(upstream) is WAITING
    source.gate.set()
    assert await bound.rest() == "c"
    assert bound.poll(upstream) is WAITING  # the end, after the source's cleanup awaits
    assert await bound.rest() is None and source.cleaned
    assert bound.poll(_source([])) is None  # an end reached without waiting
    bound.close()


async def test_the_time_between_poll_and_rest_is_not_upstream_silence_but_rest_is_bounded() -> None:
    bound, source = IdleBound(0.1), Gated(["a", "b"], ready=1)
    upstream = source.stream()
    assert bound.poll(upstream) == "a"
    assert bound.poll(upstream) is WAITING
    await asyncio.sleep(0.25)  # the events at hand being written to a slow client
    source.gate.set()
    assert await bound.rest() == "b"  # not a timeout: the wait began at rest()
    silent = Gated(["a"], ready=0).stream()
    assert bound.poll(silent) is WAITING
    with pytest.raises(UpstreamTimeoutError):
        await bound.rest()
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    bound.close()


async def test_abandon_cancels_the_parked_read_where_it_waits_and_runs_its_cleanup() -> None:
    bound, source = IdleBound(5), Gated(["a", "b"], ready=1)
    upstream = source.stream()
    assert bound.poll(upstream) == "a"
    assert bound.poll(upstream) is WAITING
    await bound.abandon()
    assert source.cleaned
    with pytest.raises(StopAsyncIteration):
        await anext(upstream)  # the read ended the source: nothing is left half-run
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await bound.abandon()  # none parked: nothing to do
    bound.close()


async def test_a_cancellation_during_rest_from_outside_stays_one() -> None:
    bound, source = IdleBound(5), Gated(["a"], ready=0)
    upstream = source.stream()

    async def read() -> object:
        assert bound.poll(upstream) is WAITING
        return await bound.rest()

    task = asyncio.ensure_future(read())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert source.cleaned
    bound.close()


async def test_a_read_that_waits_more_than_once_is_followed_to_its_end_and_bounded_throughout() -> None:
    gate = asyncio.Event()

    async def twice() -> AsyncIterator[str]:
        await asyncio.sleep(0)  # poll stops here; rest() resumes the read, which then waits again
        await gate.wait()
        yield "a"

    bound = IdleBound(0.05)
    assert bound.poll(twice()) is WAITING
    with pytest.raises(UpstreamTimeoutError):  # the bound reaches the second wait too
        await bound.rest()
    upstream = twice()
    assert bound.poll(upstream) is WAITING
    asyncio.get_running_loop().call_later(0.01, gate.set)
    assert await bound.rest() == "a"
    bound.close()
