"""A conversation's tool messages answer the calls of the assistant message before them, and every call is answered
before any other message: OpenAI refuses it otherwise, and so does Anthropic's API (which the Anthropic adapter's
tool_result blocks reach). The gateway says so itself, naming the message, before any call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.auth import keys
from gateway.config import Settings
from gateway.secrets.env import EnvSecretsBackend

KEY, KEY_ID, KEY_HASH = keys.generate()
ASK = {"role": "user", "content": "weather in Paris and Rome?"}


def _calls(*ids: str) -> dict[str, Any]:
    return {"role": "assistant", "content": None, "tool_calls": [
        {"id": i, "type": "function", "function": {"name": "weather", "arguments": "{}"}} for i in ids]}


def _answer(call_id: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": "sunny"}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    spec = f"{KEY_ID}:{KEY_HASH}:anthropic"
    cfg = Settings(provider="anthropic", client_keys=spec, upstream_base_url="http://127.0.0.1:9",  # nothing listens
                   max_retries=0, upstream_timeout_s=5)
    app = create_app(cfg, EnvSecretsBackend("anthropic", spec, environ={"ANTHROPIC_API_KEY": "sk-upstream"}))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw",
                                     headers={"Authorization": f"Bearer {KEY}"}) as c:
            yield c


@pytest.mark.parametrize(("messages", "param", "says"), [
    ([ASK, _answer("call_1")], "messages.1.tool_call_id", "must be a response to a preceding message"),
    ([ASK, _calls("call_1"), _answer("call_2")], "messages.2.tool_call_id", "no open call has id 'call_2'"),
    ([ASK, _calls("call_1"), _answer("call_1"), _answer("call_1")], "messages.3.tool_call_id", "'call_1'"),
    ([ASK, _calls("call_1"), ASK, _answer("call_1")], "messages.1.tool_calls", "did not have response messages: "
                                                                                 "call_1"),
    ([ASK, _calls("call_1", "call_2"), _answer("call_2"), ASK], "messages.1.tool_calls", "messages: call_1"),
])
async def test_an_unanswered_call_or_an_answer_to_no_call_is_refused_naming_it(
        client: httpx.AsyncClient, messages: list, param: str, says: str) -> None:
    resp = await client.post("/v1/chat/completions", json={"messages": messages})
    assert resp.status_code == 422, resp.text  # the gateway's status for a body it refuses
    error = resp.json()["error"]
    assert error["param"] == param and says in error["message"], error


@pytest.mark.parametrize("messages", [
    [ASK, _calls("call_1", "call_2"), _answer("call_2"), _answer("call_1"), ASK],  # answered in any order
    [ASK, _calls("call_1"), _answer("call_1"), _calls("call_2"), _answer("call_2")],
    [ASK, _calls("call_1")],  # the last message's calls: the client's to run
])
async def test_answered_calls_go_on(client: httpx.AsyncClient, messages: list) -> None:
    resp = await client.post("/v1/chat/completions", json={"messages": messages})
    assert resp.status_code == 502, resp.text  # taken: the upstream (nothing listens) is reached
