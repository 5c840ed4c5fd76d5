"""Gateway errors and the one handler that turns them into OpenAI-style JSON.

    GatewayError                      500 internal_error: a fault of the gateway itself (never a stack trace)
    ├── InvalidRequestError           400 invalid_request_error
    │   ├── UnknownModelError         404 model_not_found
    │   ├── MethodNotAllowedError     405 method_not_allowed (+ Allow)
    │   ├── ValidationFailedError     422 invalid_field: a well-formed body with a bad value
    │   └── AgentStepLimitError       422 agent_step_limit: the agent found no answer within its steps
    ├── PayloadTooLargeError          413 request_too_large
    ├── AuthenticationError           401 invalid_api_key / missing_credentials
    ├── PermissionDeniedError         403 provider_not_allowed
    ├── NotFoundError                 404 not_found
    ├── RateLimitedError              429 rate_limit_exceeded (+ Retry-After): upstream or client limit
    ├── QuotaExceededError            429 insufficient_quota (+ Retry-After): token budget exhausted
    ├── UpstreamError                 502 upstream_error (5xx, connection failure; upstream_auth and
    │                                     upstream_quota_exhausted: the provider refuses the gateway's account)
    │   └── UpstreamBadResponseError  502 upstream_bad_response (malformed body)
    ├── ServiceUnavailableError       503 service_unavailable (no provider key, shutting down)
    └── UpstreamTimeoutError          504 upstream_timeout

A 429 of the client's own limits also carries the limiter's reservation, rendered as the rate-limit headers a
granted request gets (`limits.enforce.refusal_headers`). One that no retry can pass soon (a spent budget, a
request larger than the tokens-per-minute limit) says so: `x-should-retry: false`, so the SDKs do not retry it.

Provider adapters map their SDK's exceptions onto this tree (`ProviderAdapter.map_error`): an unmapped
exception raised by an upstream call is a 502 naming only its type. An exception that escapes a route anywhere
else is a bug of the gateway, answered as `internal_error()` (500) and logged with its type and where it was
raised, never its message.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from pydantic_core import PydanticCustomError
from starlette.responses import Response

_log = logging.getLogger("gateway")


class GatewayError(Exception):
    """Base of every error the gateway answers on purpose."""

    status = 500
    type = "internal_error"
    code = "internal_error"
    default_message = "internal error"
    # The client's limiter reservation behind a 429 of the gateway's own limits (limits.enforce.admit sets it and
    # renders its rate-limit headers, `refusal_headers`); None for every other error, an upstream 429 included.
    reservation: object | None = None

    def __init__(self, message: str | None = None, *, code: str | None = None, param: str | None = None,
                 retry_after: int | None = None, retry_after_ms: int | None = None,
                 retryable: bool | None = None) -> None:
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        self.code = code or self.code
        self.param = param
        self.retry_after = retry_after
        # The same wait to the millisecond, where the gateway knows it (its own rate limits): `retry-after-ms`,
        # which the OpenAI and Anthropic SDKs read before Retry-After (whole seconds, rounded up).
        self.retry_after_ms = retry_after_ms
        # Whether retrying the same request can succeed, when the gateway knows (None: the client's rules decide):
        # sent as `x-should-retry`, which the OpenAI and Anthropic SDKs obey before their own status rules.
        self.retryable = retryable

    def body(self) -> dict[str, Any]:
        """Return the OpenAI-style error document."""
        # OpenAI's ErrorResponse requires `param` (nullable): present even when no field is at fault.
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def internal_error() -> GatewayError:
    """The answer to an exception no handler expected: the gateway's fault, not the client's or the provider's."""
    return GatewayError("the gateway failed to handle this request; its log names the fault under the request id")


def fault(exc: BaseException) -> GatewayError:
    """Log an exception of the gateway's own (its type and place, never its message) and return the answer."""
    _log.error("unhandled error", exc_info=exc)
    return internal_error()


class InvalidRequestError(GatewayError):
    status, type, code, default_message = 400, "invalid_request_error", "invalid_request", "invalid request"


class UnknownModelError(InvalidRequestError):
    status, code = 404, "model_not_found"


class MethodNotAllowedError(InvalidRequestError):
    status, code, default_message = 405, "method_not_allowed", "method not allowed"


class ValidationFailedError(InvalidRequestError):
    status, code = 422, "invalid_field"


class AgentStepLimitError(InvalidRequestError):
    status, code, default_message = 422, "agent_step_limit", "agent step limit"


class PayloadTooLargeError(GatewayError):
    status, type, code, default_message = 413, "invalid_request_error", "request_too_large", "request body too large"


class AuthenticationError(GatewayError):
    status, type, code, default_message = 401, "authentication_error", "invalid_api_key", "invalid credentials"


class PermissionDeniedError(GatewayError):
    status, type, code = 403, "permission_error", "provider_not_allowed"
    default_message = "credential not allowed for this provider"


class NotFoundError(GatewayError):
    status, type, code, default_message = 404, "invalid_request_error", "not_found", "not found"


class RateLimitedError(GatewayError):
    status, type, code, default_message = 429, "rate_limit_error", "rate_limit_exceeded", "upstream rate limit"


class QuotaExceededError(GatewayError):
    status, type, code, default_message = 429, "insufficient_quota", "insufficient_quota", "token budget exhausted"


class UpstreamError(GatewayError):
    status, type, code, default_message = 502, "upstream_error", "upstream_error", "upstream provider error"


class UpstreamBadResponseError(UpstreamError):
    code, default_message = "upstream_bad_response", "upstream returned a malformed response"


class ServiceUnavailableError(GatewayError):
    status, type, code, default_message = 503, "service_unavailable", "service_unavailable", "service unavailable"


class UpstreamTimeoutError(GatewayError):
    status, type, code, default_message = 504, "timeout_error", "upstream_timeout", "upstream provider timed out"


def field_path(loc: tuple[int | str, ...]) -> str:
    """The request field a validation error's location names (`messages.0.content`), `body` if none.

    pydantic's locations also hold the parameter's root (`body`, `header`, `query`) and the member tags of a
    union (`str`, `constrained-str`, `list[str]`, a model's class name such as `NamedToolChoice`): none of these
    is a field. The API's field names are lowercase identifiers; a header's name (after `header`) has dashes.
    """
    parts = [str(part) for i, part in enumerate(loc) if isinstance(part, int) or (
        part not in _NOT_FIELDS and (part.replace("-", "_") if i and loc[i - 1] == "header" else part).isidentifier()
        and not part[0].isupper())]  # an identifier is never empty: part[0] exists
    return ".".join(parts) or "body"


def telling_error(errors: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """Of pydantic's errors for one input (each member of a union fails on its own), the one that says what is
    wrong: the one that got furthest into the input; at equal depth, one about the value (a list too short)
    before one saying the value is not another member's type (`[]` is not "a valid string"). Ties keep
    pydantic's order."""
    return max(errors, key=lambda e: (len(e["loc"]), not str(e.get("type", "")).endswith("_type")))


def error_field(error: Mapping[str, Any]) -> str:
    """The request field one of pydantic's errors is about: the `param` a model-level check names, else its location."""
    ctx = error.get("ctx")
    param = ctx.get("param") if isinstance(ctx, Mapping) else None
    return param if isinstance(param, str) else field_path(error["loc"])


NOT_SERVED_ERROR = "not_served"  # the type of the validation error `not_served()` raises


def not_served(param: str, why: str) -> PydanticCustomError:
    """A validation error for a form of a request field that the API has and this gateway does not serve:
    answered `400 unsupported_parameter` naming `param` (a validator's location stops at its own field)."""
    return PydanticCustomError(NOT_SERVED_ERROR, "not supported by this gateway ({why})", {"param": param, "why": why})


def invalid_json(error: Mapping[str, Any]) -> InvalidRequestError:
    """The answer to FastAPI's `json_invalid` error: what the decoder said, and where."""
    ctx, loc = error.get("ctx"), error.get("loc") or ()
    reason = ctx.get("error") if isinstance(ctx, Mapping) else None
    where = f" at character {loc[1]}" if len(loc) > 1 and isinstance(loc[1], int) else ""
    detail = f" ({reason}{where})" if isinstance(reason, str) and reason else ""
    return InvalidRequestError(f"request body is not valid JSON{detail}", code="invalid_json")


_NOT_FIELDS = frozenset({"body", "header", "query", "str", "int", "float", "bool", "list", "dict", "none"})


def retry_headers(exc: GatewayError) -> dict[str, str]:
    """`Retry-After`, `retry-after-ms` and `x-should-retry`, where the error has them (both shapes of error send
    them)."""
    out: dict[str, str] = {}
    if exc.retry_after is not None:
        out["Retry-After"] = str(exc.retry_after)
    if exc.retry_after_ms is not None:
        out["retry-after-ms"] = str(exc.retry_after_ms)
    if exc.retryable is not None:
        out["x-should-retry"] = "true" if exc.retryable else "false"
    return out


def error_response(exc: GatewayError, headers: dict[str, str] | None = None) -> Response:
    """Render a GatewayError as a JSON response with the right status and headers."""
    hdrs = {**(headers or {}), **retry_headers(exc)}
    if exc.status == 401:
        hdrs.setdefault("WWW-Authenticate", 'Bearer realm="llm-gateway"')
    return Response(orjson.dumps(exc.body()), status_code=exc.status,
                    media_type="application/json", headers=hdrs)


def sse_error(exc: GatewayError) -> bytes:
    """Encode an error as an SSE data line, the way OpenAI reports errors mid-stream."""
    return b"data: " + orjson.dumps(exc.body()) + b"\n\n"
