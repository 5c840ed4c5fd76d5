"""Apply a client's limits to one request: estimate, reserve, refuse (429), report headers, settle."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from gateway import context
from gateway.errors import GatewayError, QuotaExceededError, RateLimitedError
from gateway.limits.base import Limiter, Limits, Reservation

log = logging.getLogger("gateway.limits")
_CHARS_PER_TOKEN = 4  # a deliberate over-estimate for English text; settled with the real count afterwards
_PER_MESSAGE = 4
_pending: set[asyncio.Task[None]] = set()  # settlements scheduled from stream teardown (kept alive until done)


def estimate_tokens(texts: Sequence[str], max_tokens: int | None, default_completion: int) -> int:
    """Prompt tokens (by length) plus the completion allowance reserved before the upstream call."""
    prompt = sum(math.ceil(len(t) / _CHARS_PER_TOKEN) + _PER_MESSAGE for t in texts)
    return prompt + (max_tokens if max_tokens is not None else default_completion)


async def admit(limiter: Limiter, subject: str, limits: Limits | None, tokens: int) -> Reservation | None:
    """Reserve the request for `subject`, or raise 429 naming the limit; None for an unlimited client."""
    if limits is None:
        return None
    res = await limiter.acquire(subject, limits, tokens)
    if res.denied is None:
        return res
    retry = res.retry_after()
    ctx = context.get()
    if ctx is not None:  # the gateway's own refusal: the metrics do not count it as the provider's throttling
        ctx.limited = True
    if res.denied == "unavailable":  # nothing was counted: no limit state to report
        raise QuotaExceededError("the token budget cannot be checked right now; retry shortly",
                                 code="budget_unavailable", retry_after=retry)
    err: GatewayError
    if res.denied == "requests":
        err = RateLimitedError(f"rate limit reached: {limits.rpm} requests per minute", retry_after=retry,
                               retry_after_ms=res.retry_after_ms())
    elif res.denied == "tokens":
        assert limits.tpm is not None
        too_large = tokens > limits.tpm  # no minute will ever admit it: the SDKs are told not to retry
        what = "request too large for" if too_large else "rate limit reached:"
        err = RateLimitedError(f"{what} {limits.tpm} tokens per minute (this request reserves {tokens})",
                               retry_after=retry, retry_after_ms=None if too_large else res.retry_after_ms(),
                               retryable=False if too_large else None)
    else:  # a budget: spent until the next day or month, past any SDK's retries (seconds apart)
        period = "daily" if res.denied == "daily_tokens" else "monthly"
        err = QuotaExceededError(f"{period} token budget exhausted ({getattr(limits, res.denied)} tokens)",
                                 retry_after=retry, retryable=False)
    err.reservation = res  # the 429 reports the limits as a granted request's answer does (`refusal_headers`)
    raise err


# OpenAI's x-ratelimit-* header names for each rate limit: limit, remaining, reset (a duration).
_HEADER_NAMES = (
    ("rpm", b"x-ratelimit-limit-requests", b"x-ratelimit-remaining-requests", b"x-ratelimit-reset-requests"),
    ("tpm", b"x-ratelimit-limit-tokens", b"x-ratelimit-remaining-tokens", b"x-ratelimit-reset-tokens"),
)
# Anthropic's names for the same limits (the Messages API): its reset is the instant the window starts over, in
# RFC 3339. Its `tokens-*` is "the most restrictive limit in effect": ours is one.
_ANTHROPIC_HEADER_NAMES = (
    ("rpm", b"anthropic-ratelimit-requests-limit", b"anthropic-ratelimit-requests-remaining",
     b"anthropic-ratelimit-requests-reset"),
    ("tpm", b"anthropic-ratelimit-tokens-limit", b"anthropic-ratelimit-tokens-remaining",
     b"anthropic-ratelimit-tokens-reset"),
)


def _seconds_left(res: Reservation, name: str) -> bytes:
    return b"%ds" % math.ceil(res.reset_s(name))


def _instant(res: Reservation, name: str) -> bytes:
    moment = datetime.fromtimestamp(math.ceil(res.now + res.reset_s(name)), UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ").encode()


def _rate_headers(res: Reservation | None, names: tuple[tuple[str, bytes, bytes, bytes], ...],
                  reset: Callable[[Reservation, str], bytes]) -> list[tuple[bytes, bytes]]:
    if res is None:
        return []
    out: list[tuple[bytes, bytes]] = []
    for name, limit_name, remaining_name, reset_name in names:
        limit = getattr(res.limits, name)
        if limit is not None:
            out += ((limit_name, b"%d" % limit), (remaining_name, b"%d" % res.remaining(name)),
                    (reset_name, reset(res, name)))
    return out


def headers(res: Reservation | None) -> list[tuple[bytes, bytes]]:
    """OpenAI's x-ratelimit-* headers for the limits the client has, as raw ASGI header pairs."""
    return _rate_headers(res, _HEADER_NAMES, _seconds_left)


def anthropic_headers(res: Reservation | None) -> list[tuple[bytes, bytes]]:
    """Anthropic's anthropic-ratelimit-* headers for the limits the client has, as raw ASGI header pairs."""
    return _rate_headers(res, _ANTHROPIC_HEADER_NAMES, _instant)


def refusal_headers(exc: GatewayError, *, anthropic: bool = False) -> dict[str, str]:
    """The rate-limit headers of a 429 the client's own limits gave (OpenAI's, and Anthropic's too for the
    Messages route), as a granted request's answer has them; none for any other error."""
    res = exc.reservation
    if not isinstance(res, Reservation):
        return {}
    pairs = headers(res) + (anthropic_headers(res) if anthropic else [])
    return {name.decode(): value.decode() for name, value in pairs}


async def settle(limiter: Limiter, res: Reservation | None, actual_tokens: int | None) -> None:
    """Hand the correction to the limiter (None: not reported, the estimate stays); applied off the path."""
    if res is None or actual_tokens is None:
        return
    try:
        await limiter.defer_settle(res, actual_tokens)
    except Exception as exc:  # noqa: BLE001 — a failed correction must never fail the request
        log.warning("limiter: settling failed", extra={"error_type": type(exc).__name__})


def settle_later(limiter: Limiter, res: Reservation | None, actual_tokens: int | None) -> None:
    """Schedule `settle` from code that must not await (a stream's teardown)."""
    if res is None or actual_tokens is None:
        return
    task = asyncio.get_running_loop().create_task(settle(limiter, res, actual_tokens))
    _pending.add(task)
    task.add_done_callback(_pending.discard)

