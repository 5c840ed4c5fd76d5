"""Anthropic's own errors, passed on by the Messages relay as Anthropic sent them.

A client of the Messages API reads an error's status, its `error.type` and its `error.details` (the anthropic SDK
picks its class by them: `NotFoundError`, `RequestTooLargeError`, `OverloadedError`, or a subclass named by
`details.error_code` such as `ImageDimensionsTooLargeError`). The gateway's generic mapping (`from_status`) keeps
none of that, so what concerns the request itself, or says Anthropic is overloaded, is relayed whole: a 400, 404
or 413 rejection, a 529 overload, and an `error` event in the middle of a stream (which arrives with the stream's
200). What concerns the gateway's account (401, 403, the 402 of billing), a rate limit (429, with its wait) and
an upstream 500 keep the gateway's own answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anthropic

from gateway.errors import GatewayError
from gateway.providers.base import upstream_message

_RELAYED_STATUSES = frozenset({400, 404, 413, 529})
# The types Anthropic documents; an event in a stream may carry any but the account's own (a gateway matter).
_STREAM_TYPES = frozenset({"invalid_request_error", "not_found_error", "request_too_large", "rate_limit_error",
                           "api_error", "overloaded_error", "timeout_error"})
_STATUS_TYPES = {400: "invalid_request_error", 404: "not_found_error", 413: "request_too_large",
                 529: "overloaded_error"}


class RelayedAnthropicError(GatewayError):
    """An error Anthropic answered, with its status (a stream's: 502), type, message and details."""

    def __init__(self, status: int, kind: str, message: str, details: Mapping[str, Any] | None) -> None:
        super().__init__(message, code="upstream_rejected" if status < 500 else "upstream_error")
        self.status = status
        self.anthropic_type = kind
        self.details = details


def relayed(exc: BaseException) -> RelayedAnthropicError | None:
    """The error to pass on as Anthropic sent it, or None for the gateway's own mapping."""
    if not isinstance(exc, anthropic.APIStatusError) or not isinstance(exc.body, Mapping):
        return None
    error = exc.body.get("error")
    kind = error.get("type") if isinstance(error, Mapping) else None
    if not isinstance(error, Mapping) or not isinstance(kind, str):
        return None
    status = exc.status_code
    if 200 <= status < 300:  # an `error` event of a stream already under way
        if kind not in _STREAM_TYPES:
            return None
        status = 502
    elif status not in _RELAYED_STATUSES or kind != _STATUS_TYPES[status]:
        return None
    details = error.get("details")
    message = upstream_message(exc.body) or f"the upstream provider answered {kind}"
    return RelayedAnthropicError(status, kind, message, details if isinstance(details, Mapping) else None)
