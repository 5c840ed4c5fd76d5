"""Anthropic-shaped errors: the edge's pages mirror its OpenAI-shaped ones; the gateway maps its tree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway import errors
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
