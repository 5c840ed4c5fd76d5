"""Soak: a few minutes of moderate load through the edge (all providers, plain and streamed, a few
upstream faults) → each gateway's RSS and open fds stay flat.

The first sample is taken after a warm-up at the same concurrency (imports, model caches, the
edge's keepalive pool to each gateway are then in place); growth from there to the end must stay
under generous bounds: a leak of one fd or a few KiB per request would exceed them.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

import catalogue
from tests.reliability.conftest import show
from tests.reliability.helpers import pid_of, usage
from tests.support.load import Load, chat_targets
from tests.support.stack import RunningStack

pytestmark = [pytest.mark.integration, pytest.mark.local_stack]

PROVIDERS = catalogue.names()
SOAK_S = float(os.environ.get("RELIABILITY_SOAK_S", "110"))
WARMUP_S = 10.0
SAMPLE_EVERY_S = 10.0
CLIENTS = 16
MAX_RSS_GROWTH_MB = 40.0
MAX_FD_GROWTH = 15


def test_soak_memory_and_fds_flat(shared_stack: RunningStack, figures: dict[str, Any]) -> None:
    stack = shared_stack
    targets = []
    for p in PROVIDERS:
        base = f"{stack.url}/{p}"
        targets += chat_targets(base, p, stack.keys[p], stack.model(p))
        targets += chat_targets(base, p, stack.keys[p], stack.model(p), text="soak [[mock:fault=429]]",
                                stream_too=False, label=f"{p}/fault429")
    pids = {p: pid_of(stack, f"gateway-{p}") for p in PROVIDERS}
    samples: dict[str, list[dict[str, float]]] = {p: [] for p in PROVIDERS}
    load = Load(targets, clients=CLIENTS, duration_s=WARMUP_S + SOAK_S + 5, max_requests=500_000, ca=stack.ca)
    with load:
        time.sleep(WARMUP_S)
        end = time.monotonic() + SOAK_S
        while True:
            for p, pid in pids.items():
                samples[p].append(usage(pid))
            if time.monotonic() >= end:
                break
            time.sleep(min(SAMPLE_EVERY_S, max(0.0, end - time.monotonic())))
        result = load.stop()

    def faulty(label: str) -> bool:
        return label.endswith("/fault429/plain")

    rows = {p: {"start": s[0], "end": s[-1], "max_rss_mb": max(x["rss_mb"] for x in s),
                "max_fds": max(x["fds"] for x in s),
                "rss_growth_mb": round(s[-1]["rss_mb"] - s[0]["rss_mb"], 1), "fd_growth": s[-1]["fds"] - s[0]["fds"]}
            for p, s in samples.items()}
    show(figures, "soak", {"seconds": SOAK_S, "clients": CLIENTS, "summary": result.summary(), "gateways": rows,
                           "bounds": {"rss_growth_mb": MAX_RSS_GROWTH_MB, "fd_growth": MAX_FD_GROWTH}})
    assert result.failures(lambda label: not faulty(label)) == [], result.kinds()
    assert {o.status for o in result.outcomes if faulty(o.label)} <= {429}
    for p, row in rows.items():
        assert row["rss_growth_mb"] <= MAX_RSS_GROWTH_MB, (p, row)
        assert row["fd_growth"] <= MAX_FD_GROWTH, (p, row)
