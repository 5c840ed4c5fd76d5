"""The SDKs' aiohttp transport (`DefaultAioHttpClient` of the openai and anthropic SDKs): what it reports oddly."""

from __future__ import annotations

import aiohttp


def refused(exc: BaseException) -> bool:
    """A connection refused/reset under the aiohttp transport, which reports it as a connect *timeout*."""
    seen: BaseException | None = exc
    for _ in range(8):  # the chain is short: SDK error <- httpx2 error <- aiohttp error
        if seen is None:
            return False
        if isinstance(seen, aiohttp.ClientConnectorError) and not isinstance(seen, TimeoutError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
