"""The in-process limiter: the embedded default for one replica (and the fallback when Redis is down)."""

from __future__ import annotations

import time
from collections.abc import Callable

from gateway.limits.base import Limiter, Limits, Reservation, Windows

# Counter key: (subject, limit name, window id).
_Key = tuple[str, str, int]


class MemoryLimiter(Limiter):
    """Fixed-window counters in a dict; one event loop, so each call is atomic without a lock."""

    name = "memory"

    def __init__(self, clock: Callable[[], float] = time.time, share: int = 1) -> None:
        self.clock = clock
        self.share = share  # divide rate limits by this (per-replica share of a shared limit)
        self._counts: dict[_Key, int] = {}
        self._pruned_minute = 0

    def scaled(self, limits: Limits) -> Limits:
        """The per-replica share of the rate limits; budgets are never shared out."""
        if self.share == 1:
            return limits
        return Limits(rpm=_share(limits.rpm, self.share), tpm=_share(limits.tpm, self.share),
                      daily_tokens=limits.daily_tokens, monthly_tokens=limits.monthly_tokens)

    async def acquire(self, subject: str, limits: Limits, tokens: int) -> Reservation:
        """Reserve one request and `tokens` unless a limit would be passed."""
        now = self.clock()
        win = Windows.at(now)
        self._prune(win.minute)
        limits = self.scaled(limits)
        keys = {"rpm": (subject, "rpm", win.minute), "tpm": (subject, "tpm", win.minute),
                "daily_tokens": (subject, "daily_tokens", win.day),
                "monthly_tokens": (subject, "monthly_tokens", win.month)}
        used = {name: self._counts.get(key, 0) for name, key in keys.items()}
        denied = _denial(limits, used, tokens)
        res = Reservation(subject, limits, tokens if limits.counts_tokens else 0, now, win, denied, used)
        if denied is None:
            used["rpm"] += 1
            self._counts[keys["rpm"]] = used["rpm"]
            if res.tokens:
                for name in ("tpm", "daily_tokens", "monthly_tokens"):
                    used[name] += res.tokens
                    self._counts[keys[name]] = used[name]
        return res

    async def settle(self, reservation: Reservation, actual_tokens: int) -> None:
        """Add (actual - reserved) to the token counters the reservation used."""
        delta = actual_tokens - reservation.tokens
        if reservation.denied or not reservation.tokens or not delta:
            return
        win, subject = reservation.windows, reservation.subject
        for key in ((subject, "tpm", win.minute), (subject, "daily_tokens", win.day),
                    (subject, "monthly_tokens", win.month)):
            if key in self._counts:
                self._counts[key] += delta

    def _prune(self, minute: int) -> None:
        """Drop minute counters of past windows (at most once a minute); days and months are few."""
        if minute == self._pruned_minute:
            return
        self._pruned_minute = minute
        stale = [k for k in self._counts if k[1] in ("rpm", "tpm") and k[2] < minute]
        for key in stale:
            del self._counts[key]


def _share(limit: int | None, share: int) -> int | None:
    return None if limit is None else max(1, -(-limit // share))


def _denial(limits: Limits, used: dict[str, int], tokens: int) -> str | None:
    """The first limit that one more request with `tokens` would pass (same order as the Redis script)."""
    if limits.rpm is not None and used["rpm"] + 1 > limits.rpm:
        return "requests"
    if limits.tpm is not None and used["tpm"] + tokens > limits.tpm:
        return "tokens"
    if limits.daily_tokens is not None and used["daily_tokens"] + tokens > limits.daily_tokens:
        return "daily_tokens"
    if limits.monthly_tokens is not None and used["monthly_tokens"] + tokens > limits.monthly_tokens:
        return "monthly_tokens"
    return None
