"""Which failures `llm_gateway_upstream_errors_total` counts: the provider's, never the gateway's own faults."""

from __future__ import annotations

import pytest

from gateway.context import RequestContext
from gateway.metrics import Metrics


@pytest.mark.parametrize(("status", "code", "counted"), [
    (502, "upstream_error", True),
    (502, "upstream_bad_response", True),
    (504, "upstream_timeout", True),
    (429, "rate_limit_exceeded", True),
    (503, "service_unavailable", True),
    (400, "upstream_rejected", True),  # the provider refused what the gateway passed on
    (500, "internal_error", False),  # a bug of the gateway: in the requests counter by status only
    (400, "invalid_request", False),
    (200, None, False),
])
def test_upstream_errors_count_the_providers_failures(status: int, code: str | None, counted: bool) -> None:
    metrics = Metrics("openai")
    ctx = RequestContext(request_id="r", method="POST", path="/v1/chat/completions", route="chat", model="m",
                         error_code=code)
    metrics.observe(ctx, status, 0.01)
    text = metrics.render().decode()
    assert (f'llm_gateway_upstream_errors_total{{code="{code}",model="m",provider="openai"}} 1.0' in text) is counted
    assert ('llm_gateway_requests_total{client="",model="m",provider="openai",route="chat",'
            f'status="{status}"}} 1.0') in text
