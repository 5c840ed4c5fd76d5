"""The bound on an upstream stream's silence: GATEWAY_STREAM_IDLE_TIMEOUT_S between two chunks, every provider."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypeVar

from gateway.errors import UpstreamTimeoutError

T = TypeVar("T")


class IdleBound:
    """One stream's bound on the wait for its next chunk, with one timer for the whole stream.

    `next()` notes when its wait began. The timer, once due, cancels the waiting task if the current wait
    has lasted `idle_s` (as `asyncio.timeout` does, and the cancellation becomes UpstreamTimeoutError), or
    re-arms for that wait's deadline. Per chunk that is a clock read: a timer armed and disarmed per chunk
    costs ~5 µs, a task per chunk (`asyncio.wait_for`, LangChain's own bound) more (#18). Time the task
    spends elsewhere (sending a chunk to a slow client) is not upstream silence and does not count.
    Keep-alive bytes never reach here (the SDKs' SSE parsers drop them). Call `close()` when done.
    """

    def __init__(self, idle_s: float) -> None:
        self.idle_s = idle_s
        self._loop = asyncio.get_running_loop()
        self._since: float | None = None  # when the current wait began; None while not waiting
        self._task: asyncio.Task[object] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._fired = False

    async def next(self, upstream: AsyncIterator[T]) -> T | None:
        """The next item of `upstream` (None at its end); UpstreamTimeoutError after `idle_s` s without one."""
        self._since = now = self._loop.time()
        if self._task is None:  # a stream is read by one task, start to end
            self._task = asyncio.current_task()
        if self._timer is None:
            self._timer = self._loop.call_at(now + self.idle_s, self._check)
        try:
            return await anext(upstream, None)
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
