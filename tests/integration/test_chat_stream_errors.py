"""An error the provider sends inside a stream under way, on the chat route through nginx: the client's error event
says what the provider said (its type and message), not that the reply was malformed or "status 200"."""

from __future__ import annotations

import json

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
