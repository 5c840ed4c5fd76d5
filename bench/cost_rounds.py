"""The result both per-call cost scripts (limiter_cost.py, usage_sink_cost.py) print: one shape, one place."""

from __future__ import annotations

from typing import NotRequired, TypedDict


class RoundsCost(TypedDict):
    """Times in ms: CPU per request is the median round's, p50/p99 are over every request."""

    requests: int
    concurrency: int
    cpu_ms_per_request: float
    cpu_ms_per_request_min: float
    p50_ms: float
    p99_ms: float
    requests_per_s: int
    server_cpu_ms_per_request: NotRequired[float]  # only when the script started the server itself
