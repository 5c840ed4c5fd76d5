"""Reading an upstream stream: the bound on its silence (GATEWAY_STREAM_IDLE_TIMEOUT_S between two chunks, every
provider), and `poll`, which tells the chunks already received from those still to wait for."""

from __future__ import annotations

import asyncio
import enum
import types
from collections.abc import AsyncIterator, Awaitable, Coroutine, Generator
from typing import Any, Final, Literal, TypeVar

from gateway.errors import UpstreamTimeoutError

T = TypeVar("T")


class _Waiting(enum.Enum):
    WAITING = "WAITING"


WAITING: Final = _Waiting.WAITING  # what `poll` returns when the next chunk has not arrived yet
# The most a stream holds of the events at hand before it writes them, chunks ready or not: a long run of
# received chunks (an upstream far ahead of a busy process) still reaches the client in pieces.
AT_HAND_MAX: Final = 64 * 1024


class IdleBound:
    """One stream's reads, each bounded by `idle_s` of upstream silence, with one timer for the whole stream.

    `next()` notes when its wait began. The timer, once due, cancels the waiting task if the current wait
    has lasted `idle_s` (as `asyncio.timeout` does, and the cancellation becomes UpstreamTimeoutError), or
    re-arms for that wait's deadline. Per chunk that is a clock read: a timer armed and disarmed per chunk
    costs ~5 µs, a task per chunk (`asyncio.wait_for`, LangChain's own bound) more (#18). Time the task
    spends elsewhere (sending a chunk to a slow client) is not upstream silence and does not count.
    SSE comments never reach here (the SDKs' parsers drop them); Anthropic's `ping` events do, and count as
    the upstream's (messages.EventsWithPings). Call `close()` when done.

    `poll()` then `rest()` is `next()` in two steps, for a stream that writes what it has before it waits:
    several chunks that arrive in one read (a busy process reads a stream less often than its chunks come)
    then go to the client in one write, and a chunk that has to be waited for delays nothing (#18).
    """

    def __init__(self, idle_s: float) -> None:
        self.idle_s = idle_s
        self._loop = asyncio.get_running_loop()
        self._since: float | None = None  # when the current wait began; None while not waiting
        self._task: asyncio.Task[object] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._fired = False
        self._parked: tuple[Any, Any] | None = None  # a read `poll` began: its `__anext__()` and what it awaits

    def next(self, upstream: AsyncIterator[T]) -> Coroutine[Any, Any, T | None]:
        """Await the next item of `upstream` (None at its end); UpstreamTimeoutError after `idle_s` s without one."""
        return self._bounded(anext(upstream, None))  # returned, not awaited here: one coroutine per read

    def poll(self, upstream: AsyncIterator[T]) -> T | Literal[_Waiting.WAITING] | None:
        """The next item of `upstream` if it has arrived (None at the end), else WAITING: the read has begun
        and waits for `rest()` (or `abandon()`), with no time counted against the bound until then."""
        read: Any = upstream.__anext__()  # a coroutine, stepped here as `await` would
        try:
            awaited = read.send(None)  # runs the read up to its first wait, if it has one
        except StopIteration as done:
            return done.value
        except StopAsyncIteration:
            return None
        self._parked = (read, awaited)
        return WAITING

    def rest(self) -> Coroutine[Any, Any, Any]:
        """Await the read `poll()` began (it returned WAITING), within the bound from now on."""
        assert self._parked is not None, "rest() follows a poll() that returned WAITING"
        read, awaited = self._parked
        self._parked = None
        return self._bounded(_resume(read, awaited))

    async def abandon(self) -> None:
        """Unwind a read `poll()` began that `rest()` will not wait for (the stream is closing): it is cancelled
        where it waits, as a cancelled task's would be, and its cleanup runs. Nothing when there is none."""
        if self._parked is None:
            return
        read, awaited = self._parked
        self._parked = None
        if isinstance(awaited, asyncio.Future):
            awaited.cancel()
        try:
            awaited = read.throw(asyncio.CancelledError())
        except (StopIteration, StopAsyncIteration, asyncio.CancelledError):
            return
        task = asyncio.current_task()
        before = task.cancelling() if task is not None else 0
        try:
            await _resume(read, awaited)  # its cleanup awaits (e.g. closing the upstream response)
        except asyncio.CancelledError:
            if task is None or task.cancelling() > before:
                raise  # a cancellation from outside, meanwhile: it stays one

    async def _bounded(self, read: Awaitable[T | None]) -> T | None:
        self._since = now = self._loop.time()
        if self._task is None:  # a stream is read by one task, start to end
            self._task = asyncio.current_task()
        if self._timer is None:
            self._timer = self._loop.call_at(now + self.idle_s, self._check)
        try:
            return await read
        except asyncio.CancelledError:
            if self._fired and self._task is not None:
                self._fired = False
                if self._task.uncancel() == 0:  # ours alone: a cancellation from outside stays one
                    raise UpstreamTimeoutError(f"the upstream stream sent nothing for {self.idle_s:g} s") from None
            raise
        finally:
            self._since = None

    def _check(self) -> None:
        self._timer = None
        if self._since is None or self._task is None:
            return  # not waiting: the next wait arms the timer again
        due = self._since + self.idle_s
        if self._loop.time() >= due:
            self._fired = True
            self._task.cancel()
        else:
            self._timer = self._loop.call_at(due, self._check)

    def close(self) -> None:
        """Drop the timer (the stream ended)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


@types.coroutine
def _resume(read: Any, awaited: Any) -> Generator[Any, Any, Any]:
    """The rest of `await read` from the wait where `poll` left it: what `await` itself would have done."""
    while True:  # until `read` is resumed where it waits (a throw, e.g. a cancellation, may come first)
        try:
            yield awaited
            break
        except GeneratorExit:
            read.close()
            raise
        except BaseException as exc:  # noqa: BLE001 - delivered where the read waits, as `await` would
            try:
                awaited = read.throw(exc)
            except StopIteration as done:
                return done.value
            except StopAsyncIteration:
                return None
    try:
        return (yield from read)  # then the rest, delegated as `await` does (first resumed with the task's None)
    except StopAsyncIteration:
        return None
