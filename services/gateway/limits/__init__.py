"""Per-client request and token limits and token budgets: in-process or shared through Redis/Valkey."""

from __future__ import annotations

from collections.abc import Callable

from gateway.limits.base import Limiter, Limits, Reservation, Windows
from gateway.limits.memory import MemoryLimiter

__all__ = ["Limiter", "Limits", "MemoryLimiter", "Reservation", "Windows",
           "build_limiter"]


def build_limiter(backend: str, redis_url: str | None, *, replicas: int = 1, budgets_fail_open: bool = False,
                  on_fallback: Callable[[], None] | None = None) -> Limiter:
    """Create the configured limiter (Redis is imported only when used)."""
    if backend == "redis":
        from gateway.limits.redis import RedisLimiter

        assert redis_url, "GATEWAY_REDIS_URL is required when GATEWAY_LIMITS_BACKEND=redis"
        return RedisLimiter(redis_url, replicas=replicas, budgets_fail_open=budgets_fail_open,
                            on_fallback=on_fallback)
    return MemoryLimiter()
