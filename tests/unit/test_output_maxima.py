"""An output cap above what the model writes in one reply is a 400 naming the field, before any call (the vendors
refuse it: Cohere's command-a writes at most 8,192 tokens, OpenAI's gpt-4o-mini 16,384); the published schema bounds
each such model's caps, the default model's also when `model` is absent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from jsonschema_rs import Draft202012Validator

from gateway.app import create_app
from gateway.auth import keys
from gateway.config import Settings
from gateway.secrets.env import EnvSecretsBackend

KEY, KEY_ID, KEY_HASH = keys.generate()
HELLO = [{"role": "user", "content": "hi"}]


async def _client(provider: str, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    spec = f"{KEY_ID}:{KEY_HASH}:{provider}"
    cfg = Settings(provider=provider, client_keys=spec, upstream_base_url="http://127.0.0.1:9/v1",  # nothing listens
                   max_retries=0, upstream_timeout_s=5, **settings)
    app = create_app(cfg, EnvSecretsBackend(provider, spec, environ={f"{provider.upper()}_API_KEY": "sk-upstream"}))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw",
                                     headers={"Authorization": f"Bearer {KEY}"}) as client:
            yield client


@pytest.fixture(params=["openai", "cohere"])
async def gateway(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    async for client in _client(request.param):
        yield request.param, client


# (provider, body fields, the most the model writes); the first model of each is the gateway's default.
CAPPED: list[tuple[str, dict[str, Any], int]] = [
    ("openai", {}, 16384), ("openai", {"model": "gpt-4o"}, 16384), ("cohere", {}, 8192),
    ("cohere", {"model": None}, 8192), ("cohere", {"model": "command-r7b-12-2024"}, 4096),
]


async def test_a_cap_above_the_models_maximum_is_a_400_naming_it(gateway: tuple[str, httpx.AsyncClient]) -> None:
    provider, client = gateway
    for name in ("max_tokens", "max_completion_tokens"):
        for fields, most in [(f, m) for p, f, m in CAPPED if p == provider]:
            resp = await client.post("/v1/chat/completions", json={"messages": HELLO, **fields, name: most + 1})
            assert resp.status_code == 400, resp.text
            error = resp.json()["error"]
            assert error["param"] == name and f"at most {most} for " in error["message"], error


async def test_the_schema_bounds_each_models_cap(gateway: tuple[str, httpx.AsyncClient]) -> None:
    provider, client = gateway
    schema = (await client.get("/openapi.json")).json()
    validator = Draft202012Validator({"$ref": "#/components/schemas/ChatCompletionRequest",
                                      "components": schema["components"]})
    for fields, most in [(f, m) for p, f, m in CAPPED if p == provider]:
        for name in ("max_tokens", "max_completion_tokens"):
            assert validator.is_valid({"messages": HELLO, **fields, name: most}), (fields, name)
            assert not validator.is_valid({"messages": HELLO, **fields, name: most + 1}), (fields, name)
    roomy = {"openai": ("gpt-4.1-mini", 32768), "cohere": ("command-r7b-12-2024", 4096)}[provider]
    assert validator.is_valid({"messages": HELLO, "model": roomy[0], "max_tokens": roomy[1]})


async def test_anthropic_messages_above_the_models_maximum_is_a_400_in_anthropics_envelope() -> None:
    # claude-haiku-4-5 writes at most 64,000 tokens: reachable once an operator raises GATEWAY_MAX_TOKENS_LIMIT.
    async for client in _client("anthropic", max_tokens_limit=100_000):
        body = {"model": "claude-haiku-4-5", "max_tokens": 64_001, "messages": HELLO}
        resp = await client.post("/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"})
        assert resp.status_code == 400, resp.text
        assert resp.json()["type"] == "error" and resp.json()["error"]["type"] == "invalid_request_error"
        assert "max_tokens must be at most 64000 for claude-haiku-4-5" in resp.json()["error"]["message"]
