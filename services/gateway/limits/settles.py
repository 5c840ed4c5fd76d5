"""Deferred settles for the Redis limiter: corrections leave the response path and travel in batches.

A route hands the correction (actual - reserved tokens) over and returns its response at once; a background
task sends what has gathered after `delay_s` as one script call (one atomic operation per batch, deltas of the
same counters summed first, with the earliest decision time among them: the script applies a group only to
counters that existed when its earliest reservation was made, see `scripts.SETTLE`). Nothing is dropped: past
`max_pending` the caller waits for a send (backpressure), and `flush()` (awaited by `close()` on shutdown) sends
everything still queued. A batch Redis does not take is counted in `unsent` and its reservations keep their
estimates (conservative, as an inline settle that failed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("gateway.limits")

# (counter prefix of the client, minute, day, month) -> [summed delta, earliest decision time (Redis ms)]
_Counters = tuple[str, int, int, int]
_BATCH = 500  # entries per script call: keeps each atomic call short for Redis


class SettleQueue:
    """Collects settle deltas and sends them in batches with `send(flat_args)`."""

    def __init__(self, send: Callable[[list[str | int]], Awaitable[bool]], *, delay_s: float = 0.005,
                 max_pending: int = 10_000) -> None:
        self._send = send  # returns False when Redis did not take the batch
        self.delay_s = delay_s
        self.max_pending = max_pending
        self.unsent = 0  # counter sets Redis did not take (their estimates stay counted)
        self._pending: dict[_Counters, list[int]] = {}
        self._lock = asyncio.Lock()  # one send at a time: flush() returns only after in-flight batches land
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run the background sender on the current event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="limiter-settles")

    async def put(self, counters: _Counters, delta: int, since_ms: int) -> None:
        """Queue a delta of a reservation made at `since_ms` (Redis time); waits for a send only when
        `max_pending` counters are already queued."""
        if counters not in self._pending and len(self._pending) >= self.max_pending:
            await self.flush()
        entry = self._pending.get(counters)
        if entry is None:
            self._pending[counters] = [delta, since_ms]
        else:
            entry[0] += delta
            entry[1] = min(entry[1], since_ms)
        if self._task is None:  # not started (no event loop at construction): send inline
            await self.flush()
        else:
            self._wake.set()

    async def flush(self) -> None:
        """Send everything queued, and wait for a send already in flight."""
        async with self._lock:
            while self._pending:
                await self._send_queued()

    async def _send_queued(self) -> None:
        """Send what is queued now (the lock held); what arrives meanwhile waits for the next batch."""
        queued, self._pending = list(self._pending.items()), {}
        for start in range(0, len(queued), _BATCH):
            batch = queued[start:start + _BATCH]
            args: list[str | int] = []
            for (prefix, minute, day, month), (delta, since_ms) in batch:
                if delta:
                    args += [prefix, minute, day, month, delta, since_ms]
            if args and not await self._sent(args):
                self.unsent += len(batch)

    async def _sent(self, args: list[str | int]) -> bool:
        try:
            return await self._send(args)
        except Exception as exc:  # noqa: BLE001 — the sender must outlive any one batch
            log.warning("limiter: a settle batch failed", extra={"error_type": type(exc).__name__})
            return False

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(self.delay_s)  # let a burst gather into one call
            async with self._lock:
                await self._send_queued()

    async def close(self) -> None:
        """Send what is queued, then stop the background sender."""
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
