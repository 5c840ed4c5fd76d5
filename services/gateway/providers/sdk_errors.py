"""The openai and anthropic SDKs' errors on the gateway's error tree.

Both SDKs come from one generator and raise the same tree of classes, each in its own module: a timeout,
a connection failure, an HTTP status (with the provider's body), a response that is not what the SDK
expects. The adapters map both through this one function.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

from gateway.errors import GatewayError, UpstreamBadResponseError, UpstreamError, UpstreamTimeoutError
from gateway.providers import aio
from gateway.providers.base import failed_mid_stream, from_status


def map_error(sdk: ModuleType, exc: BaseException) -> GatewayError | None:
    """Map an exception of `sdk` (the `openai` or `anthropic` module); None if it is not one of its errors."""
    if isinstance(exc, sdk.APITimeoutError) and not aio.refused(exc):
        return UpstreamTimeoutError()
    if isinstance(exc, sdk.APIConnectionError):
        return UpstreamError("the connection to the upstream provider failed", code="upstream_unreachable")
    if isinstance(exc, sdk.APIStatusError):
        status: Any = exc  # that SDK's APIStatusError: its class is known here only through the module
        if 200 <= status.status_code < 300:  # anthropic: an `error` event, raised with the stream's 200
            return failed_mid_stream(status.body)
        return from_status(status.status_code, status.response.headers, status.body)
    if isinstance(exc, sdk.APIResponseValidationError):
        return UpstreamBadResponseError()
    if isinstance(exc, sdk.APIError):  # openai: an error object in a stream under way, its body that object
        error: Any = exc
        return failed_mid_stream(error.body) if isinstance(error.body, Mapping) else UpstreamBadResponseError()
    return None
