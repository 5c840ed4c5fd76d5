"""Anthropic-shaped errors: the edge's pages mirror its OpenAI-shaped ones; the gateway maps its tree."""

from __future__ import annotations

import json
from pathlib import Path

import anthropic
import httpx2
import pytest

from gateway import errors
from gateway.anthropic_errors import relayed
from gateway.messages import error_body

ERRORS = Path(__file__).resolve().parents[2] / "nginx" / "errors"
SNIPPET = ERRORS.parent / "snippets" / "error-pages-anthropic.conf"
# nginx's SSI command that writes the request's id into an Anthropic page (the edge's nginx.conf turns SSI on there)
ECHO_ID = '<!--# echo var="edge_request_id" encoding="none" -->'


@pytest.mark.parametrize("page", sorted(p.name for p in ERRORS.glob("*.json")))
def test_each_edge_error_page_has_an_anthropic_twin(page: str) -> None:
    openai_doc = json.loads((ERRORS / page).read_text())
    text = (ERRORS / "anthropic" / page).read_text()
    assert text.count("<!--#") == 1 and text.count(ECHO_ID) == 1  # one command, the id's echo, nothing else
    twin = json.loads(text.replace(ECHO_ID, "req-1"))
    assert twin["type"] == "error" and set(twin) == {"type", "error", "request_id"} and twin["request_id"] == "req-1"
    assert twin["error"]["message"] == openai_doc["error"]["message"]
    assert twin["error"]["type"].endswith("_error") or twin["error"]["type"] == "request_too_large"


def test_the_snippet_covers_every_code_of_the_openai_pages() -> None:
    pages = {p.stem.split("-")[0] for p in ERRORS.glob("*.json")}
    by_client = (ERRORS.parent / "snippets" / "error-pages-by-client.conf").read_text()
    text = SNIPPET.read_text()
    for code in pages:
        assert f"error_page {code} " in text
        # 500 is set beside each include of the by-client snippet (a bad gateway under a provider).
        assert (f"error_page {code} /_errors/${{edge_error_shape}}" in by_client) is (code != "500")
    assert sorted(p.name for p in (ERRORS / "anthropic").iterdir()) == sorted(p.name for p in ERRORS.glob("*.json"))


@pytest.mark.parametrize(("exc", "status", "kind"), [
    (errors.InvalidRequestError(), 400, "invalid_request_error"),
    (errors.UnknownModelError("no such model"), 404, "not_found_error"),
    (errors.AuthenticationError(), 401, "authentication_error"),
    (errors.PermissionDeniedError(), 403, "permission_error"),
    (errors.MethodNotAllowedError(), 405, "invalid_request_error"),
    (errors.PayloadTooLargeError(), 413, "request_too_large"),
    (errors.ValidationFailedError("max_tokens: too big"), 422, "invalid_request_error"),
    (errors.RateLimitedError(retry_after=2), 429, "rate_limit_error"),
    (errors.UpstreamError(), 502, "api_error"),
    (errors.ServiceUnavailableError(), 503, "api_error"),
    (errors.UpstreamTimeoutError(), 504, "timeout_error"),
    (errors.GatewayError(), 500, "api_error"),
])
def test_gateway_errors_map_to_anthropic_types(exc: errors.GatewayError, status: int, kind: str) -> None:
    assert exc.status == status
    assert error_body(exc) == {"type": "error", "error": {"type": kind, "message": exc.message}}
    # an HTTP error names its request, as Anthropic's do (the SDK's ErrorResponse.request_id)
    assert error_body(exc, "req-1") == {"type": "error", "error": {"type": kind, "message": exc.message},
                                        "request_id": "req-1"}


async def test_a_spent_budget_on_the_messages_route_tells_the_sdk_not_to_retry() -> None:
    from gateway.api.routes.messages import anthropic_error
    from gateway.limits import Limits, MemoryLimiter, enforce

    limiter, limits = MemoryLimiter(lambda: 1_796_212_810.0), Limits(rpm=10, daily_tokens=5)  # 2026-12-02 12:00:10
    with pytest.raises(errors.QuotaExceededError) as spent:
        await enforce.admit(limiter, "c", limits, 6)
    answer = anthropic_error(spent.value)
    assert answer.status_code == 429 and json.loads(bytes(answer.body))["error"]["type"] == "rate_limit_error"
    h = answer.headers
    assert (h["x-should-retry"], h["retry-after"]) == ("false", str(12 * 3600 - 10))  # the SDK obeys the first
    assert h["anthropic-ratelimit-requests-remaining"] == "10" == h["x-ratelimit-remaining-requests"]


def _upstream(status: int, error: dict[str, object]) -> anthropic.APIStatusError:
    response = httpx2.Response(status, request=httpx2.Request("POST", "https://api.anthropic.com/v1/messages"))
    return anthropic.APIStatusError("upstream", response=response, body={"type": "error", "error": error})


def test_a_rejections_details_reach_the_client_as_anthropic_sent_them() -> None:
    # The SDK picks ImageDimensionsTooLargeError (and its kin) by `details.error_code`: they are passed on whole.
    details = {"error_code": "image_dimensions_too_large", "paths": ["messages.0.content.0"],
               "max_side_length_pixels": 8000}
    exc = relayed(_upstream(400, {"type": "invalid_request_error", "message": "image too large", "details": details}))
    assert exc is not None and exc.status == 400
    assert error_body(exc, "req-1") == {"type": "error", "request_id": "req-1", "error": {
        "type": "invalid_request_error", "message": "image too large", "details": details}}


@pytest.mark.parametrize(("status", "kind"), [
    (401, "authentication_error"), (403, "permission_error"), (402, "billing_error"),  # the gateway's account
    (429, "rate_limit_error"), (500, "api_error"),  # the gateway's own answers (its wait; a 502)
    (404, "invalid_request_error"), (529, "api_error"),  # a status with another type than Anthropic gives it
    (200, "billing_error"), (200, "authentication_error"),  # in a stream: still the account's
])
def test_what_concerns_the_gateway_keeps_its_own_answer(status: int, kind: str) -> None:
    assert relayed(_upstream(status, {"type": kind, "message": "m"})) is None
