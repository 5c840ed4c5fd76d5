"""Which routes each provider's gateway has, in-process: the OpenAPI schema and the 404s of missing capabilities."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

import catalogue
from gateway.app import create_app
from gateway.auth import keys
from gateway.config import Settings
from gateway.errors import internal_error
from gateway.limits import enforce
from gateway.logs import JsonFormatter
from gateway.providers import adapter_class
from gateway.secrets.env import EnvSecretsBackend

KEY, KEY_ID, KEY_HASH = keys.generate()


async def _client(provider: str, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    spec = f"{KEY_ID}:{KEY_HASH}:{provider}"
    cfg = Settings(provider=provider, client_keys=spec, upstream_base_url="http://127.0.0.1:9",
                   max_retries=0, upstream_timeout_s=5, max_tokens_limit=4096, **settings)
    app = create_app(cfg, EnvSecretsBackend(provider, spec, environ={f"{provider.upper()}_API_KEY": "sk-up"}))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            yield client


@pytest.fixture(params=catalogue.names())
async def gateway(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    async for client in _client(request.param):
        yield request.param, client


async def test_openapi_documents_the_provider_routes(gateway: tuple[str, httpx.AsyncClient]) -> None:
    provider, client = gateway
    schema = (await client.get("/openapi.json")).json()
    paths = set(schema["paths"])
    embeds = bool(catalogue.provider(provider).embedding_models)
    assert ("/v1/embeddings" in paths) is embeds
    assert ("/v1/messages" in paths) is (provider == "anthropic")
    assert ("/v1/messages/count_tokens" in paths) is (provider == "anthropic")
    if embeds:
        props = schema["components"]["schemas"]["EmbeddingRequest"]["properties"]
        # As strict as the server: the default model's largest `dimensions`, or none at all.
        assert ("dimensions" in props) is (provider == "openai")
        assert ("user" in props) is adapter_class(provider).embeds_user  # the end-user id, where it is sent on
        if provider == "openai":
            assert props["dimensions"]["anyOf"][0]["maximum"] == 1536
        # Token ids (of OpenAI's tokenizer) only where the provider reads them.
        forms = [form["title"] for form in props["input"]["anyOf"]]
        tokens = ["token ids", "lists of token ids"] if adapter_class(provider).embeds_token_ids else []
        assert forms == ["text", "texts", *tokens]
    # As strict as the server: the response_format types this provider has no mechanism for are left out.
    fmt = schema["components"]["schemas"]["ChatCompletionRequest"]["properties"]["response_format"]["anyOf"][0]
    served = {"text", *adapter_class(provider).structured_methods}
    assert set(fmt["discriminator"]["mapping"]) == served
    assert {ref["$ref"].rsplit("/", 1)[1] for ref in fmt["oneOf"]} == {
        {"text": "TextFormat", "json_object": "JsonObjectFormat", "json_schema": "JsonSchemaResponseFormat"}[kind]
        for kind in served}
    # ... whether a conversation needs a user turn there (OpenAI's does not) ...
    contains = schema["components"]["schemas"]["ChatCompletionRequest"]["properties"]["messages"].get("contains")
    assert (contains is not None) is adapter_class(provider).needs_user_turn
    # ... and the message fields its integration would drop.
    schemas, kind = schema["components"]["schemas"], adapter_class(provider)
    named = {m for m in ("SystemMessage", "UserMessage", "AssistantMessage") if "name" in schemas[m]["properties"]}
    assert named == (set() if kind.refused_message_name else {"SystemMessage", "UserMessage", "AssistantMessage"})
    assert "name" in schemas["ToolResultMessage"]["properties"]
    details = schemas["ImageUrl"]["properties"]["detail"]["anyOf"][0]["enum"]
    assert details == (["auto"] if kind.refused_image_detail else ["auto", "low", "high"])
    arguments = schemas["FunctionCall"]["properties"]["arguments"]  # an object's JSON text where one is needed
    assert ("contentSchema" in arguments) is (kind.refused_unparsed_arguments is not None)
    ends = schemas["ChatCompletionRequest"]["properties"]["messages"].get("description") or ""
    assert ("The last message's role is tool or user" in ends) is (kind.last_roles is not None)
    if provider == "anthropic":
        request = schema["components"]["schemas"]["MessagesRequest"]
        assert request["properties"]["max_tokens"]["maximum"] == 4096
        assert request["additionalProperties"] is False
        params = schema["paths"]["/v1/messages"]["post"]["parameters"]
        assert [(p["name"], p["required"]) for p in params] == [("anthropic-version", True), ("anthropic-beta", False)]
        error = schema["paths"]["/v1/messages"]["post"]["responses"]["401"]["content"]["application/json"]
        assert error["schema"]["$ref"].endswith("/AnthropicErrorBody")


async def test_every_route_with_a_body_refuses_a_lone_surrogate(gateway: tuple[str, httpx.AsyncClient]) -> None:
    _, client = gateway
    paths = [path for path, ops in (await client.get("/openapi.json")).json()["paths"].items() if "post" in ops]
    assert {"/v1/chat/completions", "/v1/agent"} <= set(paths)
    for path in paths:
        answer = await client.post(path, content=b'{"input": "\\udfff"}', headers={
            "Authorization": f"Bearer {KEY}", "anthropic-version": "2023-06-01", "content-type": "application/json"})
        assert answer.status_code == 400, (path, answer.text)
        assert "lone UTF-16 surrogate escape in a string" in answer.text, path


@pytest.mark.parametrize(("value", "said"), [("NaN", "NaN is not a JSON value"),
                                             ("-Infinity", "-Infinity is not a JSON value"),
                                             ("1e400", "1e400 is too large for a double-precision number")])
async def test_every_route_with_a_body_refuses_a_number_json_does_not_have(
        gateway: tuple[str, httpx.AsyncClient], value: str, said: str) -> None:
    # Python's json would read these (NaN, an infinity): a bounded field then misnamed the fault, and one in a
    # tool's schema failed in the provider SDK's encoder, a 502 blamed on the upstream.
    _, client = gateway
    paths = [path for path, ops in (await client.get("/openapi.json")).json()["paths"].items() if "post" in ops]
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "maximum": 0}}}
    body = json.dumps({"model": "m", "input": "x", "messages": [{"role": "user", "content": "x"}], "tools": [tool]})
    body = body.replace('"maximum": 0', f'"maximum": {value}')
    for path in paths:
        answer = await client.post(path, content=body.encode(), headers={
            "Authorization": f"Bearer {KEY}", "anthropic-version": "2023-06-01", "content-type": "application/json"})
        assert answer.status_code == 400, (path, answer.text)
        at = body.index(value)
        assert f"request body is not valid JSON ({said} at character {at})" in answer.text, (path, answer.text)


async def test_missing_capabilities_are_clear_404s(gateway: tuple[str, httpx.AsyncClient]) -> None:
    provider, client = gateway
    auth = {"Authorization": f"Bearer {KEY}", "anthropic-version": "2023-06-01"}
    emb = await client.post("/v1/embeddings", json={"input": "x"}, headers=auth)
    msg = await client.post("/v1/messages", json={"model": "m", "max_tokens": 1, "messages": []}, headers=auth)
    if catalogue.provider(provider).embedding_models:
        assert emb.status_code != 404
    else:
        assert emb.status_code == 404 and emb.json()["error"]["code"] == "embeddings_not_supported"
    if provider == "anthropic":
        assert msg.status_code == 400 and msg.json()["type"] == "error"  # the route exists: validation
    else:
        assert msg.status_code == 404 and msg.json()["error"]["code"] == "not_found"


async def test_messages_validation_and_auth_are_anthropic_shaped() -> None:
    async for client in _client("anthropic"):
        body = {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}
        no_key = await client.post("/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"})
        assert no_key.status_code == 401
        assert no_key.json() == {"type": "error", "error": {"type": "authentication_error",
                                                            "message": no_key.json()["error"]["message"]},
                                 "request_id": no_key.headers["x-request-id"]}
        too_many = await client.post("/v1/messages", json={**body, "max_tokens": 5000},
                                     headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"})
        assert too_many.status_code == 400 and "max_tokens" in too_many.json()["error"]["message"]
        not_json = await client.post("/v1/messages", content=b"{", headers={
            "x-api-key": KEY, "anthropic-version": "2023-06-01", "content-type": "application/json"})
        assert not_json.status_code == 400 and not_json.json()["error"]["message"] == (
            "request body is not valid JSON (Expecting property name enclosed in double quotes at character 1)")
        lone = await client.post("/v1/messages", content=b'{"model": "m", "system": "\\ud800"}', headers={
            "x-api-key": KEY, "anthropic-version": "2023-06-01", "content-type": "application/json"})
        assert lone.status_code == 400 and lone.json() == {"type": "error", "error": {
            "type": "invalid_request_error", "message": "request body is not valid JSON (lone UTF-16 surrogate "
                                                        "escape in a string (not Unicode text) at character 26)"},
            "request_id": lone.headers["x-request-id"]}
        down = await client.post("/v1/messages", json=body, headers={"x-api-key": KEY,
                                                                       "anthropic-version": "2023-06-01"})
        assert down.status_code == 502 and down.json()["error"]["type"] == "api_error"  # nothing listens upstream


async def test_a_fault_of_the_gateway_on_the_messages_route_is_an_anthropic_shaped_500(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def broken(*_: object) -> object:
        raise RuntimeError("a bug holding sk-secret")

    monkeypatch.setattr(enforce, "headers", broken)  # fails after admission, before the upstream call
    async for client in _client("anthropic"):
        body = {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}
        with caplog.at_level(logging.ERROR, logger="gateway"):
            answer = await client.post("/v1/messages", json=body, headers={"x-api-key": KEY,
                                                                          "anthropic-version": "2023-06-01"})
        assert answer.status_code == 500
        assert answer.json() == {"type": "error", "error": {"type": "api_error",
                                                            "message": internal_error().message},
                                 "request_id": answer.headers["x-request-id"]}
        [logged] = [r for r in caplog.records if r.getMessage() == "unhandled error"]
        line = json.loads(JsonFormatter().format(logged))
        assert line["error_type"] == "RuntimeError" and line["error_at"].endswith(" in broken")
        assert "sk-secret" not in json.dumps(line)


async def test_a_temperature_the_model_takes_none_of_is_refused_before_the_upstream() -> None:
    # gpt-6-luna's LangChain profile: no temperature. Nothing listens upstream, so a call that went out is a 502.
    async for client in _client("openai", models="gpt-4o-mini,gpt-6-luna"):
        auth = {"Authorization": f"Bearer {KEY}"}
        body = {"messages": [{"role": "user", "content": "x"}], "temperature": 0.2}
        refused = await client.post("/v1/chat/completions", json={**body, "model": "gpt-6-luna"}, headers=auth)
        assert refused.status_code == 400
        assert refused.json()["error"] == {
            "message": "temperature: gpt-6-luna takes no sampling temperature (only its default, 1)",
            "type": "invalid_request_error", "param": "temperature", "code": "unsupported_parameter"}
        sent = await client.post("/v1/chat/completions", json={**body, "model": "gpt-4o-mini"}, headers=auth)
        assert sent.status_code == 502
        default = await client.post("/v1/chat/completions", json={**body, "model": "gpt-6-luna", "temperature": 1},
                                    headers=auth)
        assert default.status_code == 502


@pytest.mark.parametrize(("provider", "models", "refused"), [
    ("openai", "gpt-4o-mini,gpt-6-luna", "gpt-6-luna"),
    # langchain-anthropic raises on these as the call starts (a 502 blamed on the upstream, before this check)
    ("anthropic", "claude-sonnet-4-6,claude-sonnet-5-5", "claude-sonnet-5-5"),
])
async def test_a_top_p_is_refused_where_the_model_takes_no_temperature(provider: str, models: str,
                                                                        refused: str) -> None:
    async for client in _client(provider, models=models):
        auth = {"Authorization": f"Bearer {KEY}"}
        body = {"messages": [{"role": "user", "content": "x"}], "top_p": 0.5}
        answer = await client.post("/v1/chat/completions", json={**body, "model": refused}, headers=auth)
        assert answer.status_code == 400
        assert answer.json()["error"] == {
            "message": f"top_p: {refused} takes no nucleus sampling (only its default, 1)",
            "type": "invalid_request_error", "param": "top_p", "code": "unsupported_parameter"}
        for other in ({**body, "model": models.split(",")[0]}, {**body, "model": refused, "top_p": 1}):
            assert (await client.post("/v1/chat/completions", json=other, headers=auth)).status_code == 502


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "f"}}])
async def test_a_forced_tool_call_under_anthropics_thinking_is_refused_before_the_upstream(choice: object) -> None:
    async for client in _client("anthropic", models="claude-sonnet-4-6,claude-opus-4-7"):
        auth = {"Authorization": f"Bearer {KEY}"}
        body = {"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "high", "tool_choice": choice,
                "tools": [{"type": "function", "function": {"name": "f"}}]}
        answer = await client.post("/v1/chat/completions", json={**body, "model": "claude-opus-4-7"}, headers=auth)
        assert answer.status_code == 400
        error = answer.json()["error"]
        assert (error["param"], error["code"]) == ("tool_choice", "unsupported_parameter")
        assert error["message"].startswith("tool_choice: claude-opus-4-7 thinks under reasoning_effort")
        # Went upstream (nothing listens: 502): no thinking on claude-sonnet-4-6, no forcing, or no effort.
        opus = {**body, "model": "claude-opus-4-7"}
        for other in ({**body, "model": "claude-sonnet-4-6"}, {**opus, "tool_choice": "auto"},
                      {**opus, "reasoning_effort": None}):
            assert (await client.post("/v1/chat/completions", json=other, headers=auth)).status_code == 502


async def test_one_model_is_retrieved_and_any_other_is_a_404_naming_the_allowed() -> None:
    async for client in _client("openai", models="gpt-4o-mini,gpt-4o"):
        auth = {"Authorization": f"Bearer {KEY}"}
        found = await client.get("/v1/models/gpt-4o", headers=auth)
        assert found.status_code == 200
        assert found.json() == {"id": "gpt-4o", "object": "model", "created": 0, "owned_by": "openai"}
        for missing in ("/v1/models/gpt-6-luna", "/v1/models/", "/v1/models/gpt-4o/extra"):
            resp = await client.get(missing, headers=auth)
            assert resp.status_code == 404, missing
            assert resp.json()["error"]["code"] == "model_not_found" and resp.json()["error"]["param"] == "model"
            assert "allowed: gpt-4o-mini, gpt-4o" in resp.json()["error"]["message"]
        assert (await client.get("/v1/models/gpt-4o")).status_code == 401  # credentials, as for the list
        assert (await client.post("/v1/models/gpt-4o", headers=auth)).status_code == 405


async def test_a_model_name_with_slashes_is_retrieved_whole() -> None:
    async for client in _client("local-llama", models="meta-llama/Llama-3.1-8B-Instruct"):
        auth = {"Authorization": f"Bearer {KEY}"}
        resp = await client.get("/v1/models/meta-llama/Llama-3.1-8B-Instruct", headers=auth)
        assert resp.status_code == 200 and resp.json()["id"] == "meta-llama/Llama-3.1-8B-Instruct"


async def test_the_anthropic_sdks_models_calls_take_the_anthropic_route(gateway: tuple[str, httpx.AsyncClient]) -> None:
    provider, client = gateway
    auth = {"Authorization": f"Bearer {KEY}"}
    native = {**auth, "anthropic-version": "2023-06-01"}
    plain = await client.get("/v1/models", headers=auth)
    assert plain.status_code == 200 and plain.json()["object"] == "list"
    listed = await client.get("/v1/models", headers=native)
    unknown = await client.get("/v1/models/claude-not-allowed", headers=native)
    if provider == "anthropic":  # relayed to Anthropic (nothing listens upstream here: its 502, Anthropic-shaped)
        assert listed.status_code == 502 and listed.json()["error"]["type"] == "api_error"
        assert unknown.status_code == 404 and unknown.json() == {"type": "error", "error": {
            "type": "not_found_error", "message": unknown.json()["error"]["message"]},
            "request_id": unknown.headers["x-request-id"]}
    else:  # no native model records: the header changes nothing
        assert listed.json() == plain.json()
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("provider", "messages", "param"), [
    ("anthropic", [{"role": "system", "content": "a"}, {"role": "user", "content": "x"},
                   {"role": "developer", "content": "b"}, {"role": "user", "content": "y"}], "messages"),
    ("cohere", [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}], "messages.1.role"),
])
async def test_a_conversation_the_integration_would_refuse_at_the_call_is_the_clients_400(
        provider: str, messages: list, param: str, stream: bool) -> None:
    # Before: langchain's ValueError as the call started, a 502 upstream_error (nothing listens upstream here).
    async for client in _client(provider):
        body = {"model": catalogue.provider(provider).models[0], "messages": messages, "stream": stream}
        answer = await client.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"})
        assert answer.status_code == 400, answer.text
        assert (answer.json()["error"]["code"], answer.json()["error"]["param"]) == ("unsupported_parameter", param)
