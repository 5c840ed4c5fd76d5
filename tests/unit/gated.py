"""An upstream stream whose later items have not arrived yet: the stream tests' stand-in for a provider."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Gated(Generic[T]):
    """Streams `items`, those from index `ready` on only once `gate` is set; `cleaned` once its cleanup (which
    awaits, as closing an upstream response does) ran."""

    def __init__(self, items: list[T], ready: int) -> None:
        self.items, self.ready = items, ready
        self.gate = asyncio.Event()
        self.cleaned = False

    async def stream(self) -> AsyncIterator[T]:
        try:
            for n, item in enumerate(self.items):
                if n >= self.ready:
                    await self.gate.wait()
                yield item
        finally:
            await asyncio.sleep(0)
            self.cleaned = True
