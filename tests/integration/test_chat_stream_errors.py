"""An error the provider sends inside a stream under way, on the chat route through nginx: the client's error event
says what the provider said (its type and message), not that the reply was malformed or "status 200"."""

from __future__ import annotations

import json
import time

import httpx
import pytest

import catalogue
from tests.support.stack import RunningStack

pytestmark = pytest.mark.integration
# Cohere's stream has no error event (a failure cuts it: upstream_truncated, tests/integration/test_gateway_errors.py).
WITH_ERROR_EVENTS = [p for p in catalogue.names() if catalogue.provider(p).mock_protocol != "cohere"]


@pytest.mark.parametrize("provider", WITH_ERROR_EVENTS)
def test_the_providers_error_event_reaches_the_client_with_its_words(stack: RunningStack, http: httpx.Client,
                                                                     provider: str) -> None:
    body = {"model": stack.model(provider), "stream": True,
            "messages": [{"role": "user", "content": "a b c d e f [[mock:fault=midstream]]"}]}
    with http.stream("POST", f"{stack.url}/{provider}/v1/chat/completions", json=body,
                     headers={"Authorization": f"Bearer {stack.keys[provider]}"}) as reply:
        lines = [line for line in reply.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    error = json.loads(lines[-2].removeprefix("data: "))["error"]
    assert "The service is temporarily overloaded (mock fault 503)." in error["message"], error
    assert error["code"] == "upstream_error" and error["type"] == "upstream_error", error


def _audited(stack: RunningStack, provider: str, request_id: str) -> dict:
    """The gateway's audit record of one request (written as the response ends)."""
    for _ in range(50):
        text = (stack.state_dir / "audit" / f"{provider}.log").read_text()
        found = [r for r in map(json.loads, text.splitlines()) if r["request_id"] == request_id]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no audit record of {request_id}")


def _requests_counted(stack: RunningStack, provider: str, route: str, status: str) -> float:
    lines = httpx.get(f"{stack.gateway_urls[provider]}/metrics", timeout=10).text.splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("llm_gateway_requests_total{")
               and f'route="{route}"' in line and f'status="{status}"' in line)


@pytest.mark.local_stack  # reads the gateway's audit file
@pytest.mark.parametrize(("provider", "route", "path", "body"), [
    ("openai", "chat", "v1/chat/completions",
     {"messages": [{"role": "user", "content": "a b c d e f [[mock:fault=midstream]]"}]}),
    ("anthropic", "messages", "v1/messages",
     {"max_tokens": 64, "messages": [{"role": "user", "content": "a b c d e f [[mock:fault=midstream]]"}]}),
])
def test_a_stream_that_fails_after_its_200_is_recorded_with_its_errors_status(
        stack: RunningStack, http: httpx.Client, provider: str, route: str, path: str, body: dict) -> None:
    # The client got 200 headers and then an error event: the metrics (the error-rate alert reads 5xx) and the audit
    # record give the request's outcome, the status the same failure has before a stream starts.
    before = _requests_counted(stack, provider, route, "502")
    headers = {"Authorization": f"Bearer {stack.keys[provider]}", "anthropic-version": "2023-06-01"}
    with http.stream("POST", f"{stack.url}/{provider}/{path}", headers=headers,
                     json={"model": stack.model(provider), "stream": True, **body}) as reply:
        assert reply.status_code == 200
        text = reply.read().decode()
    assert "error" in text and "mock fault 503" in text, text
    record = _audited(stack, provider, reply.headers["x-request-id"])
    assert record["status"] == 502 and record["streamed"] is True and record["route"] == route, record
    assert record["error"] in ("upstream_error", "overloaded_error"), record
    assert _requests_counted(stack, provider, route, "502") == before + 1
    log = (stack.state_dir / "logs" / f"gateway-{provider}.log").read_text().splitlines()
    access = [json.loads(line) for line in log if reply.headers["x-request-id"] in line and '"path"' in line]
    assert [(line["status"], line["status_sent"]) for line in access] == [(502, 200)], access
