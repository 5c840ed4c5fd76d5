"""Messages API request rules the gateway checks as Anthropic does: the tool_choice shapes of the SDK's union, the
empty final assistant turn, long texts bounded by the body limit only, and the beta body fields the gateway does not
serve refused by name. Accepted requests go on to an upstream where nothing listens: a 502, never a 400."""

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
HEADERS = {"Authorization": f"Bearer {KEY}", "anthropic-version": "2023-06-01"}
TOOL = {"name": "f", "input_schema": {"type": "object"}}
HI = {"role": "user", "content": "hi"}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    spec = f"{KEY_ID}:{KEY_HASH}:anthropic"
    cfg = Settings(provider="anthropic", client_keys=spec, upstream_base_url="http://127.0.0.1:9",  # nothing listens
                   max_retries=0, upstream_timeout_s=5, max_body_bytes=4 * 1024 * 1024)
    app = create_app(cfg, EnvSecretsBackend("anthropic", spec, environ={"ANTHROPIC_API_KEY": "sk-upstream"}))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw",
                                     headers=HEADERS) as c:
            yield c


async def _send(client: httpx.AsyncClient, fields: dict[str, Any], path: str = "/v1/messages") -> httpx.Response:
    body = {"model": "claude-sonnet-4-6", "messages": [HI], **fields}
    if path == "/v1/messages":
        body.setdefault("max_tokens", 16)
    return await client.post(path, json=body)


def _refused(resp: httpx.Response, param: str) -> str:
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"].startswith(param), error
    return error["message"]


@pytest.mark.parametrize(("choice", "param"), [
    ({"type": "tool"}, "tool_choice.tool.name"),  # the forced call would otherwise be lost
    ({"type": "none", "disable_parallel_tool_use": True}, "tool_choice.disable_parallel_tool_use"),
    ({"type": "auto", "name": "f"}, "tool_choice.auto.name"),
    ({"type": "any", "name": "f"}, "tool_choice.any.name"),
])
async def test_a_tool_choice_outside_its_types_shape_is_a_400_naming_the_field(client: httpx.AsyncClient,
                                                                               choice: dict, param: str) -> None:
    _refused(await _send(client, {"tools": [TOOL], "tool_choice": choice}), param)


@pytest.mark.parametrize("choice", [{"type": "tool", "name": "f", "disable_parallel_tool_use": True},
                                    {"type": "none"}, {"type": "any", "disable_parallel_tool_use": False}])
async def test_the_tool_choices_of_the_sdk_are_taken(client: httpx.AsyncClient, choice: dict) -> None:
    assert (await _send(client, {"tools": [TOOL], "tool_choice": choice})).status_code == 502


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
async def test_only_the_final_assistant_turn_may_be_empty(client: httpx.AsyncClient, path: str) -> None:
    for empty in ([], ""):
        prefill = [HI, {"role": "assistant", "content": empty}]
        assert (await _send(client, {"messages": prefill}, path)).status_code == 502
        message = _refused(await _send(client, {"messages": [{"role": "user", "content": empty}]}, path),
                           "messages.0")
        assert "except for the optional final assistant message" in message
        turns = [HI, {"role": "assistant", "content": empty}, HI]
        _refused(await _send(client, {"messages": turns}, path), "messages.1")


async def test_a_text_longer_than_a_million_characters_is_taken(client: httpx.AsyncClient) -> None:
    # Anthropic bounds the request (32 MB) and the context, not a text: the body limit decides (4 MiB here).
    long = "x" * 1_500_000
    document = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": long}}
    for content in (long, [{"type": "text", "text": long}], [document]):
        assert (await _send(client, {"messages": [{"role": "user", "content": content}]})).status_code == 502


@pytest.mark.parametrize("field", ["mcp_servers", "fallbacks", "thread", "billing_policy", "fallback_credit_token",
                                   "compaction", "context_management", "container"])
async def test_a_beta_body_field_the_gateway_does_not_serve_is_refused_saying_why(client: httpx.AsyncClient,
                                                                                  field: str) -> None:
    message = _refused(await _send(client, {field: {"type": "x"}}), field)
    assert message.startswith(f"{field}: not supported by this gateway (")
    assert (await _send(client, {field: {"type": "x"}})).json()["error"]["type"] == "invalid_request_error"
