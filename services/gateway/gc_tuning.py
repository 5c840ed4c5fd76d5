"""Garbage-collector settings for a long-running server process.

A gateway process holds ~200,000 objects after start-up (LangChain, the SDKs, pydantic models), and
every full collection walks all of them (~50-150 ms). Under concurrency more request objects are alive
when a young collection runs, so more are promoted and full collections come more often: CPU per
request then grows with the number of clients. Freezing the start-up objects takes them out of every
collection, and a larger young-generation threshold lets most request objects die by reference counting
before any collection sees them.
"""

from __future__ import annotations

import gc

PYTHON_DEFAULT_GEN0 = 700


def tune(gen0_threshold: int) -> None:
    """Collect once, freeze what survives start-up, and set the young-generation threshold (0: leave as is)."""
    if gen0_threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)


def untune() -> None:
    """Undo `tune` at shutdown (frozen objects become collectable again; matters where apps come and go)."""
    gc.unfreeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(PYTHON_DEFAULT_GEN0, gen1, gen2)
