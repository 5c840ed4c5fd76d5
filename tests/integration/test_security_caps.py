"""Security review finding 3: token and step caps cannot be bypassed by leaving parameters out.

The gateway runs in-process; the upstream is the real mock (its wire protocols) served by uvicorn on a
loopback socket behind a recorder that keeps every request body the provider SDK sent.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

import catalogue
from gateway.app import create_app
from gateway.auth import keys
from gateway.config import Settings
from gateway.secrets.env import EnvSecretsBackend
from mockllm.app import create_app as create_mock
from tests.support.threadserver import serve_in_thread

# One event loop for the module: the provider SDKs cache their HTTP clients per process, bound to a loop.
pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

LIMIT = 77
STEPS = 2  # one tool round fits
KEY, KEY_ID, KEY_HASH = keys.generate()


class Recorder:
    """ASGI wrapper: remember each POST body as JSON, then hand the request to the mock."""

    def __init__(self) -> None:
        self.app = create_mock()
        self.bodies: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        raw = b"".join(chunks)
        self.bodies.append(json.loads(raw))
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}

        await self.app(scope, replay, send)


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    with serve_in_thread(recorder) as url:
        yield url, recorder


@contextlib.asynccontextmanager
async def _gateway(provider: str, url: str, steps: int, **extra: Any) -> AsyncIterator[httpx.AsyncClient]:
    spec = f"{KEY_ID}:{KEY_HASH}:{provider}"
    cfg = Settings(**{"provider": provider, "client_keys": spec, "max_retries": 0, "upstream_timeout_s": 10,
                      "upstream_base_url": url + catalogue.provider(provider).mock_path, "max_tokens_limit": LIMIT,
                      "agent_max_steps": steps, **extra})
    backend = EnvSecretsBackend(provider, spec, environ={catalogue.provider(provider).key_env: f"mock-key-{provider}"})
    app = create_app(cfg, backend)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw", timeout=30,
                                     headers={"Authorization": f"Bearer {KEY}"}) as client:
            yield client


@pytest_asyncio.fixture(params=catalogue.names(), loop_scope="module")
async def gateway(request: pytest.FixtureRequest, upstream: tuple[str, Recorder]
                  ) -> AsyncIterator[tuple[httpx.AsyncClient, Recorder]]:
    url, recorder = upstream
    async with _gateway(request.param, url, STEPS) as client:
        recorder.bodies.clear()
        yield client, recorder


async def test_chat_without_max_tokens_asks_upstream_for_the_limit(
        gateway: tuple[httpx.AsyncClient, Recorder]) -> None:
    client, recorder = gateway
    resp = await client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})
    assert resp.status_code == 200, resp.text
    [body] = recorder.bodies
    assert (body.get("max_tokens") or body.get("max_completion_tokens")) == LIMIT, body


@pytest.mark.parametrize(("provider", "model", "cap"), [
    ("openai", "gpt-4o-mini", 16_384), ("openai", "gpt-4o", 16_384),  # their maximum: OpenAI refuses more
    ("openai", "gpt-4.1-mini", 20_000), ("anthropic", "claude-haiku-4-5", 20_000),  # theirs is above the limit
    # langchain-cohere ships no profiles: the adapter's maxima (Cohere refuses more)
    ("cohere", "command-a-03-2025", 8_192), ("cohere", "command-r7b-12-2024", 4_096),
])
async def test_a_request_without_a_cap_gets_the_models_maximum_when_below_the_limit(
        upstream: tuple[str, Recorder], provider: str, model: str, cap: int) -> None:
    url, recorder = upstream
    async with _gateway(provider, url, STEPS, max_tokens_limit=20_000) as client:
        recorder.bodies.clear()
        resp = await client.post("/v1/chat/completions", json={"model": model, "messages": [{"role": "user",
                                                                                              "content": "hi"}]})
        assert resp.status_code == 200, resp.text
        agent = await client.post("/v1/agent", json={"input": "hi", "model": model})
        assert agent.status_code == 200, agent.text
    assert [b.get("max_tokens") or b.get("max_completion_tokens") for b in recorder.bodies] == [cap, cap]


async def test_chat_with_a_smaller_max_tokens_keeps_it(gateway: tuple[httpx.AsyncClient, Recorder]) -> None:
    client, recorder = gateway
    resp = await client.post("/v1/chat/completions",
                             json={"max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})
    assert resp.status_code == 200, resp.text
    [body] = recorder.bodies
    assert (body.get("max_tokens") or body.get("max_completion_tokens")) == 5


@pytest.mark.parametrize(("body", "param", "code"), [
    ({"max_tokens": LIMIT + 1}, "max_tokens", "invalid_request"),
    ({"max_completion_tokens": LIMIT + 1}, "max_completion_tokens", "invalid_request"),
    # Both at once: OpenAI's own 400, whatever the values (fuzzing found 40000 beside a valid newer one accepted).
    ({"max_tokens": LIMIT + 1000, "max_completion_tokens": 5}, "max_tokens", "invalid_parameter_combination"),
    ({"max_tokens": 5, "max_completion_tokens": 5}, "max_tokens", "invalid_parameter_combination"),
])
async def test_a_cap_over_the_limit_or_two_caps_are_refused_before_the_upstream(
        gateway: tuple[httpx.AsyncClient, Recorder], body: dict[str, int], param: str, code: str) -> None:
    client, recorder = gateway
    resp = await client.post("/v1/chat/completions", json={**body, "messages": [{"role": "user", "content": "hi"}]})
    assert resp.status_code == 400, resp.text
    err = resp.json()["error"]
    assert (err["param"], err["code"], err["type"]) == (param, code, "invalid_request_error")
    assert param in err["message"] and recorder.bodies == []


async def test_agent_model_calls_are_capped(gateway: tuple[httpx.AsyncClient, Recorder]) -> None:
    client, recorder = gateway
    resp = await client.post("/v1/agent", json={
        "input": 'What is 2+3? [[mock:tool=calculator {"expression": "2+3"}]]', "tools": ["calculator"]})
    assert resp.status_code == 200, resp.text
    assert len(recorder.bodies) >= 2  # the tool call, then the answer
    assert all((b.get("max_tokens") or b.get("max_completion_tokens")) == LIMIT for b in recorder.bodies)


@pytest.mark.parametrize("provider", catalogue.names())
async def test_agent_steps_never_exceed_the_configured_budget(upstream: tuple[str, Recorder], provider: str) -> None:
    url, recorder = upstream
    async with _gateway(provider, url, steps=1) as client:
        recorder.bodies.clear()
        # One step is one tool round and the answer; asking for 50 must not buy more (a model that keeps calling
        # tools gets 422 agent_step_limit after one round: tests/integration/test_agent_billing.py).
        resp = await client.post("/v1/agent", json={
            "input": 'What is 2+3? [[mock:tool=calculator {"expression": "2+3"}]]', "tools": ["calculator"],
            "max_steps": 50})
    assert resp.status_code == 200, resp.text
    assert len(resp.json()["steps"]) == 1
    assert len(recorder.bodies) == 2  # the step budget bounds the model calls, whatever was asked


async def test_audit_record_id_is_never_the_clients_request_id(upstream: tuple[str, Recorder], tmp_path: Any) -> None:
    url, _ = upstream
    audit = tmp_path / "audit.log"
    async with _gateway("openai", url, STEPS, audit_log=audit) as client:
        for _ in range(2):
            resp = await client.post("/v1/chat/completions", headers={"X-Request-ID": "forged-audit-id"},
                                     json={"messages": [{"role": "user", "content": "hi"}]})
            assert resp.status_code == 200, resp.text
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [r["request_id"] for r in records] == ["forged-audit-id"] * 2  # correlation only
    ids = [r["id"] for r in records]
    assert len(set(ids)) == 2 and all(len(i) == 32 and i != "forged-audit-id" for i in ids)
