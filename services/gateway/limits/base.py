"""The limiter interface: per-client request and token limits and token budgets, in fixed windows.

A client's `Limits` come with its key record. Before the upstream call the route *reserves* one
request and an estimate of the tokens (`acquire`); after it, the reservation is *settled* with the
tokens the provider reported (`settle`), so counters hold actual usage, streams included.

Windows are fixed and aligned to UTC: the minute (requests, tokens), the day and the calendar month
(budgets). Every backend derives them from one clock (Redis: the server's `TIME`), so replicas with
skewed clocks still count into the same windows.
"""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime

MINUTE, DAY = 60, 86400
LIMIT_NAMES = ("rpm", "tpm", "daily_tokens", "monthly_tokens")


@dataclass(frozen=True, slots=True)
class Limits:
    """A client's limits; None means unlimited."""

    rpm: int | None = None
    tpm: int | None = None
    daily_tokens: int | None = None
    monthly_tokens: int | None = None

    @classmethod
    def from_dict(cls, data: object) -> Limits | None:
        """Build limits from their stored form (`{"rpm": 50, ...}`); None when nothing is limited."""
        if not isinstance(data, dict):
            return None
        values: dict[str, int | None] = {}
        for name in LIMIT_NAMES:
            raw = data.get(name)
            if raw is not None and (isinstance(raw, bool) or not isinstance(raw, int) or raw < 1):
                raise ValueError(f"limit {name} must be a positive integer, got {raw!r}")
            values[name] = raw
        limits = cls(**values)
        return limits if limits.any() else None

    def to_dict(self) -> dict[str, int]:
        """Return the stored form (only the limits that are set)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def any(self) -> bool:
        """Whether anything is limited."""
        return any(getattr(self, name) is not None for name in LIMIT_NAMES)

    @property
    def counts_tokens(self) -> bool:
        """Whether token usage must be counted for this client."""
        return self.tpm is not None or self.daily_tokens is not None or self.monthly_tokens is not None


@dataclass(frozen=True, slots=True)
class Windows:
    """The window ids one decision counted into (so settling corrects the same counters)."""

    minute: int
    day: int
    month: int

    @classmethod
    def at(cls, epoch_s: float) -> Windows:
        """The windows containing the instant `epoch_s` (UTC)."""
        day = int(epoch_s // DAY)
        return cls(int(epoch_s // MINUTE), day, _month_of_day(day))


@functools.lru_cache(maxsize=8)
def _month_of_day(day: int) -> int:
    """The month window (months since year 0) of UTC day `day`: a calendar lookup once a day, not per request."""
    moment = datetime.fromtimestamp(day * DAY, UTC)
    return moment.year * 12 + moment.month - 1


@dataclass(slots=True)
class Reservation:
    """The outcome of `acquire`: allowed or denied (and why), counters after it, and what to settle."""

    subject: str
    limits: Limits
    tokens: int  # reserved estimate (0 when tokens are not counted)
    now: float  # the limiter clock's time of the decision (epoch seconds)
    windows: Windows
    denied: str | None = None  # "requests" | "tokens" | "daily_tokens" | "monthly_tokens" | "unavailable"
    used: dict[str, int] = field(default_factory=dict)  # counters after the decision, by limit name
    local: bool = False  # decided by the per-replica fallback (shared engine unreachable)

    def remaining(self, name: str) -> int | None:
        """What is left of a limit in its window (None when not limited)."""
        limit = getattr(self.limits, name)
        return None if limit is None else max(0, limit - self.used.get(name, 0))

    def reset_s(self, name: str) -> float:
        """Seconds until the window of limit `name` starts over."""
        if name in ("rpm", "tpm"):
            return MINUTE - self.now % MINUTE
        if name == "daily_tokens":
            return DAY - self.now % DAY
        year, month = divmod(self.windows.month + 1, 12)
        return datetime(year, month + 1, 1, tzinfo=UTC).timestamp() - self.now

    def retry_after(self) -> int:
        """Whole seconds a denied client should wait."""
        return max(1, math.ceil(self.retry_after_ms() / 1000))

    def retry_after_ms(self) -> int:
        """Milliseconds a denied client should wait: until the window of the limit that refused it starts over."""
        name = {"requests": "rpm", "tokens": "tpm"}.get(self.denied or "", self.denied or "rpm")
        if name not in LIMIT_NAMES:
            return 5000
        return max(1, math.ceil(self.reset_s(name) * 1000))


class Limiter(ABC):
    """Counts requests and tokens per client; check and update are one atomic operation."""

    name = "abstract"

    @abstractmethod
    async def acquire(self, subject: str, limits: Limits, tokens: int) -> Reservation:
        """Reserve one request and `tokens` for `subject` unless a limit would be passed."""

    @abstractmethod
    async def settle(self, reservation: Reservation, actual_tokens: int) -> None:
        """Correct a granted reservation's token counters with the tokens actually used (applied on return)."""

    async def defer_settle(self, reservation: Reservation, actual_tokens: int) -> None:
        """Hand the correction over to be applied soon (off the response path); never lost, see `flush`."""
        await self.settle(reservation, actual_tokens)

    def status(self) -> dict[str, object]:
        """What /readyz reports about the limiter."""
        return {"backend": self.name, "ok": True, "degraded": False}

    async def start(self) -> None:
        """Prepare the backend (never raises: an unreachable engine is reported by `status`)."""
        return None

    async def flush(self) -> None:
        """Wait until every deferred settle has been applied."""
        return None

    async def close(self) -> None:
        """Release connections."""
        return None
