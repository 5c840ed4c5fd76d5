"""The openai and anthropic SDKs' retry policy as an httpx transport, for integrations whose clients retry less.

Those SDKs retry a 408, 409, 429 or 5xx reply, a timeout or a connection lost before the reply up to `max_retries`
times: after the reply's Retry-After (up to 60 s), or else after 0.5 s doubling up to 8 s, less up to a quarter of
jitter. The Cohere SDK retries no stream and no lost connection; langchain-mistralai retries no status at all and
counts its `max_retries` as attempts. Under their clients (their own loops off), this transport makes
GATEWAY_MAX_RETRIES mean the same on every provider, streams included (before their first byte).
"""

from __future__ import annotations

import random

import httpx
from httpx_retries import Retry, RetryTransport

_FIRST_DELAY_S = 0.5
_MAX_DELAY_S = 8.0
_MAX_RETRY_AFTER_S = 60.0


class SdkRetry(Retry):
    """The openai/anthropic SDKs' retryable statuses and backoff (httpx-retries' documented overrides)."""

    def is_retryable_status_code(self, status_code: int) -> bool:
        return status_code in (408, 409, 429) or status_code >= 500

    def parse_retry_after(self, retry_after: str) -> float:
        seconds = super().parse_retry_after(retry_after)
        return seconds if seconds <= _MAX_RETRY_AFTER_S else 0.0  # 0: longer, so back off instead (as the SDKs)

    def backoff_strategy(self) -> float:
        # attempts_made is 1 before the first retry.
        delay = min(_FIRST_DELAY_S * 2 ** (self.attempts_made - 1), _MAX_DELAY_S)
        return delay * (1 - 0.25 * random.random())  # noqa: S311 (jitter, not a secret)


def retrying_transport(retries: int, wire: httpx.AsyncBaseTransport | None = None) -> RetryTransport:
    """A transport (by default a new connection pool) whose POSTs are retried `retries` times as the SDKs do."""
    policy = SdkRetry(total=retries, allowed_methods=["POST"], max_backoff_wait=_MAX_RETRY_AFTER_S)
    return RetryTransport(transport=wire or httpx.AsyncHTTPTransport(), retry=policy)
