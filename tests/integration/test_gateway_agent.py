"""`POST /{provider}/v1/agent` end to end: the model asks for the calculator, the agent runs it, and answers."""

from __future__ import annotations

import httpx
import pytest

import catalogue
from tests.support.stack import RunningStack

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("provider", catalogue.names())
def test_agent_uses_the_calculator(stack: RunningStack, provider: str) -> None:
    with httpx.Client(verify=str(stack.ca), timeout=60) as http:
        resp = http.post(f"{stack.url}/{provider}/v1/agent",
                         headers={"Authorization": f"Bearer {stack.keys[provider]}"},
                         json={"input": 'What is 2+3? [[mock:tool=calculator {"expression": "2+3"}]]'})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["model"] == stack.model(provider)
    assert body["steps"] == [{"tool": "calculator", "input": {"expression": "2+3"}, "output": "5"}]
    assert "5" in body["output"] and body["truncated"] is False  # the mock's answer ends with its stop reason
    assert body["usage"]["prompt_tokens"] > 0 and body["usage"]["completion_tokens"] > 0


@pytest.mark.parametrize("provider", catalogue.names())
def test_agent_tool_allowlist_and_errors(stack: RunningStack, provider: str) -> None:
    url = f"{stack.url}/{provider}/v1/agent"
    auth = {"Authorization": f"Bearer {stack.keys[provider]}"}
    with httpx.Client(verify=str(stack.ca), timeout=60) as http:
        # the tool is not offered, so the mock answers in plain text
        plain = http.post(url, headers=auth, json={
            "input": 'hi [[mock:tool=calculator {"expression": "2+3"}]]', "tools": ["current_time"]})
        assert plain.status_code == 200 and plain.json()["steps"] == []
        unsafe = http.post(url, headers=auth, json={
            "input": '[[mock:tool=calculator {"expression": "__import__(\'os\')"}]]', "tools": ["calculator"]})
        assert unsafe.status_code == 200
        assert unsafe.json()["steps"][0]["output"].startswith("error: ")
        limited = http.post(url, headers=auth, json={"input": "x [[mock:fault=429]]"})
        assert limited.status_code == 429 and limited.headers["retry-after"]
