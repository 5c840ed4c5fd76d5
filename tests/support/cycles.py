"""What a piece of async work leaves in reference cycles: the objects only a garbage collection would free."""

from __future__ import annotations

import asyncio
import gc
from collections import Counter
from collections.abc import Awaitable, Callable


async def left_in_cycles(run: Callable[[], Awaitable[object]], times: int = 1, settle_s: float = 0.05) -> Counter[str]:
    """Objects per type that `times` runs of `run` left in cycles, with the collector off while they ran.

    `settle_s` lets what the last run scheduled (a cancelled task's last step) run first; `gc.DEBUG_SAVEALL`
    then keeps what the collection finds, so it can be counted, and it is dropped afterwards.
    """
    gc.collect()
    gc.disable()
    try:
        for _ in range(times):
            await run()
        await asyncio.sleep(settle_s)
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        return Counter(type(o).__name__ for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
