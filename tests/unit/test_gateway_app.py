"""The app factory's routes in-process (httpx.ASGITransport): auth, validation, health, metrics, request ids."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.auth import keys
from gateway.config import Settings
from gateway.secrets.env import EnvSecretsBackend

OPENAI_KEY, OPENAI_ID, OPENAI_HASH = keys.generate()
COHERE_KEY, COHERE_ID, COHERE_HASH = keys.generate()
SPEC = f"{OPENAI_ID}:{OPENAI_HASH}:openai,{COHERE_ID}:{COHERE_HASH}:cohere"
AUTH = {"Authorization": f"Bearer {OPENAI_KEY}"}
CHAT = "/v1/chat/completions"
HELLO = {"messages": [{"role": "user", "content": "hi"}]}


async def _client(provider_key: str | None, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    cfg = Settings(provider="openai", client_keys=SPEC, upstream_base_url="http://127.0.0.1:9/v1",  # nothing listens
                   max_retries=0, upstream_timeout_s=5, max_body_bytes=4096, **settings)
    environ = {"OPENAI_API_KEY": provider_key} if provider_key else {}
    environ["ANTHROPIC_API_KEY"] = "sk-not-mine"
    app = create_app(cfg, EnvSecretsBackend("openai", SPEC, environ=environ))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            yield client


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client("sk-upstream"):
        yield c


@pytest.fixture
async def keyless() -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client(None):
        yield c


def assert_error(resp: httpx.Response, status: int, code: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    err = resp.json()["error"]
    assert set(err) <= {"message", "type", "code", "param"} and err["message"] and err["type"]
    assert "Traceback" not in resp.text and "sk-upstream" not in resp.text
    if code is not None:
        assert err["code"] == code, err
    return err


async def test_healthz_touches_nothing(keyless: httpx.AsyncClient) -> None:
    resp = await keyless.get("/healthz")
    assert resp.status_code == 200 and resp.json() == {"status": "ok"}


async def test_readyz_green_with_a_provider_key(client: httpx.AsyncClient) -> None:
    resp = await client.get("/readyz")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "ready" and body["checks"]["provider_key"] is True and body["checks"]["model"] is True
    assert "sk-upstream" not in resp.text


async def test_readyz_503_without_provider_key(keyless: httpx.AsyncClient) -> None:
    resp = await keyless.get("/readyz")
    assert resp.status_code == 503
    body = resp.json()
    assert body["status"] == "not_ready" and body["checks"]["provider_key"] is False
    assert body["checks"]["secrets"]["reason"] == "OPENAI_API_KEY is not set"


async def test_public_readyz_says_only_ready_or_not(client: httpx.AsyncClient, keyless: httpx.AsyncClient) -> None:
    ready = await client.get("/readyz/public")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}
    not_ready = await keyless.get("/readyz/public")
    assert not_ready.status_code == 503 and not_ready.json() == {"status": "not_ready"}


async def test_chat_without_provider_key_is_503(keyless: httpx.AsyncClient) -> None:
    assert_error(await keyless.post(CHAT, json=HELLO, headers=AUTH), 503, "provider_key_missing")


async def test_metrics_are_prometheus_text(client: httpx.AsyncClient) -> None:
    await client.get("/v1/models", headers=AUTH)
    await client.get("/v1/models")
    resp = await client.get("/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    text = resp.text
    assert 'llm_gateway_requests_total{client="' in text and 'route="models",status="200"' in text
    assert 'llm_gateway_auth_failures_total{provider="openai",reason="missing_credentials"} 1.0' in text
    assert "llm_gateway_request_duration_seconds_bucket" in text


@pytest.mark.parametrize(("headers", "status", "code"), [
    ({}, 401, "missing_credentials"),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, 401, "malformed_credentials"),
    ({"Authorization": "Bearer lgw_aaaaaaaaaaaa_" + "x" * 32}, 401, "invalid_api_key"),
    ({"x-api-key": "wrong"}, 401, "invalid_api_key"),
    ({"Authorization": "Bearer a.b.c"}, 401, "jwt_disabled"),
    ({"Authorization": f"Bearer {COHERE_KEY}"}, 403, "provider_not_allowed"),
])
async def test_credentials_are_checked(client: httpx.AsyncClient, headers: dict, status: int, code: str) -> None:
    resp = await client.get("/v1/models", headers=headers)
    assert_error(resp, status, code)
    if status == 401:
        assert resp.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("name", ["Authorization", "x-api-key"])
async def test_a_credential_header_sent_twice_is_refused_on_every_path(client: httpx.AsyncClient, name: str) -> None:
    value = f"Bearer {OPENAI_KEY}" if name == "Authorization" else OPENAI_KEY
    twice = [(name, value), (name, value)]  # even the same valid key twice: the field is not a list
    for resp in (await client.get("/v1/models", headers=twice),  # FastAPI's dependency
                 await client.post(CHAT, headers=twice, json=HELLO),  # the direct route
                 await client.get("/v1/auth/verify", headers=twice)):  # nginx's auth_request
        assert_error(resp, 401, "malformed_credentials")
    metrics = (await client.get("/metrics")).text
    assert 'llm_gateway_auth_failures_total{provider="openai",reason="malformed_credentials"} 3.0' in metrics


async def test_models_list_and_x_api_key(client: httpx.AsyncClient) -> None:
    resp = await client.get("/v1/models", headers={"x-api-key": OPENAI_KEY})
    assert resp.status_code == 200
    assert [m["id"] for m in resp.json()["data"]] == ["gpt-4o-mini", "gpt-4o", "gpt-4.1-mini"]
    assert {m["owned_by"] for m in resp.json()["data"]} == {"openai"}


async def test_auth_verify_for_nginx(client: httpx.AsyncClient) -> None:
    resp = await client.get("/v1/auth/verify", headers=AUTH)
    assert resp.status_code == 204
    assert resp.headers["x-client-id"] == OPENAI_ID and resp.headers["x-auth-method"] == "api_key"
    assert_error(await client.get("/v1/auth/verify"), 401)


async def test_unknown_route_404_and_wrong_method_405(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v2/everything", headers=AUTH), 404, "not_found")
    resp = await client.get(CHAT, headers=AUTH)
    assert_error(resp, 405, "method_not_allowed")
    assert resp.headers["allow"] == "POST"


async def test_declared_oversized_body_413(client: httpx.AsyncClient) -> None:
    big = {"messages": [{"role": "user", "content": "x" * 5000}]}
    assert_error(await client.post(CHAT, json=big, headers=AUTH), 413, "request_too_large")


async def test_chunked_oversized_body_413(client: httpx.AsyncClient) -> None:
    body = json.dumps({"messages": [{"role": "user", "content": "x" * 5000}]}).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 1000):
            yield body[i:i + 1000]

    resp = await client.post(CHAT, content=chunks(), headers={**AUTH, "content-type": "application/json"})
    assert "content-length" not in resp.request.headers
    assert_error(resp, 413, "request_too_large")


@pytest.mark.parametrize(("kwargs", "status", "code", "param"), [
    ({"content": b'{"messages": [', "headers": {"content-type": "application/json"}}, 400, "invalid_json", None),
    # JSON escapes half a surrogate pair; no provider can be sent it (it is not Unicode text).
    ({"content": b'{"messages": [{"role": "user", "content": "a\\ud97fb"}]}',
      "headers": {"content-type": "application/json"}}, 400, "invalid_json", None),
    ({"content": json.dumps(HELLO), "headers": {"content-type": "text/plain"}}, 400,
     "unsupported_content_type", None),
    ({"data": {"messages": "hi"}}, 400, "unsupported_content_type", None),
    ({"json": {}}, 422, "invalid_field", "messages"),
    ({"json": {"messages": []}}, 422, "invalid_field", "messages"),
    ({"json": {"messages": [{"role": "wizard", "content": "x"}]}}, 422, "invalid_field", "messages.0"),
    ({"json": {"messages": [{"role": "user"}]}}, 422, "invalid_field", "messages.0.user.content"),
    ({"json": {**HELLO, "max_tokens": -1}}, 422, "invalid_field", "max_tokens"),
    ({"json": {**HELLO, "max_tokens": 10**9}}, 400, "invalid_request", "max_tokens"),
    ({"json": {**HELLO, "temperature": "hot"}}, 422, "invalid_field", "temperature"),
    # The JSON types as sent, as OpenAI checks them: `true` is not the integer 1, "0.5" not a number.
    ({"json": {**HELLO, "max_tokens": True}}, 422, "invalid_field", "max_tokens"),
    ({"json": {**HELLO, "temperature": "0.5"}}, 422, "invalid_field", "temperature"),
    ({"json": {**HELLO, "seed": "7"}}, 422, "invalid_field", "seed"),
    ({"json": {**HELLO, "stop": ["a", "b", "c", "d", "e"]}}, 422, "invalid_field", "stop"),
    ({"json": [HELLO]}, 422, "invalid_field", None),
    ({"json": {**HELLO, "model": "gpt-5-ultra"}}, 404, "model_not_found", "model"),
    ({"json": {"messages": [{"role": "user", "content": 5}]}}, 422, "invalid_field", "messages.0.user.content"),
    ({"json": {**HELLO, "": ""}}, 400, "unsupported_parameter", "body"),  # an empty key names no field
    # A parameter that needs another (the schema's dependentRequired) names itself, not the body.
    ({"json": {**HELLO, "top_logprobs": 2}}, 422, "invalid_field", "top_logprobs"),
    ({"json": {**HELLO, "tool_choice": "auto"}}, 422, "invalid_field", "tool_choice"),
    ({"json": {**HELLO, "parallel_tool_calls": False}}, 422, "invalid_field", "parallel_tool_calls"),
    # ... and one that needs the other's value: never silently unused (OpenAI refuses these too).
    ({"json": {**HELLO, "logprobs": False, "top_logprobs": 2}}, 422, "invalid_field", "top_logprobs"),
    ({"json": {**HELLO, "logprobs": None, "top_logprobs": 0}}, 422, "invalid_field", "top_logprobs"),
    ({"json": {**HELLO, "tools": None, "tool_choice": "required"}}, 422, "invalid_field", "tool_choice"),
    ({"json": {**HELLO, "tools": None, "parallel_tool_calls": True}}, 422, "invalid_field", "parallel_tool_calls"),
])
async def test_bad_input_is_a_clear_4xx(client: httpx.AsyncClient, kwargs: dict, status: int, code: str,
                                        param: str | None) -> None:
    kwargs = {**kwargs, "headers": {**AUTH, **kwargs.get("headers", {})}}
    err = assert_error(await client.post(CHAT, **kwargs), status, code)
    if param is not None:
        assert err["param"] == param and param.split(".")[0] in err["message"]
    if code == "invalid_field" and param in ("top_logprobs", "tool_choice", "parallel_tool_calls"):
        assert err["message"] == f"{param}: sent without {'logprobs: true' if param == 'top_logprobs' else 'tools'}"


@pytest.mark.parametrize(("part", "said"), [
    ({"type": "video", "video": {}},
     "tag 'video' found using 'type' does not match any of the expected tags: 'text', 'image_url'"),
    ({"type": "text"}, "text: Field required"),
])
async def test_a_bad_content_part_is_named_not_the_string_form(client: httpx.AsyncClient, part: dict,
                                                               said: str) -> None:
    # `content` is a string or a list of parts: the answer is about the part, not "should be a valid string".
    body = {"messages": [{"role": "user", "content": [part]}]}
    err = assert_error(await client.post(CHAT, json=body, headers=AUTH), 422, "invalid_field")
    assert err["param"].startswith("messages.0.user.content.0") and said in err["message"]


FUNCTION = {"type": "function", "function": {"name": "f"}}


@pytest.mark.parametrize(("fields", "param", "why"), [
    ({"tools": [FUNCTION, {"type": "custom", "custom": {"name": "c"}}]}, "tools.1.type",
     "'custom' tools, with free-form input, are not served: send function tools"),
    ({"tools": [FUNCTION], "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "auto",
                                                                                     "tools": [FUNCTION]}}},
     "tool_choice.type", "the 'allowed_tools' form: send the allowed tools as `tools`, with tool_choice auto or "
                         "required"),
    ({"tools": [FUNCTION], "tool_choice": {"type": "custom", "custom": {"name": "c"}}}, "tool_choice.type",
     "the 'custom' form: custom tools are not served: name a function tool"),
])
async def test_a_tool_form_openai_has_and_the_gateway_does_not_serve_is_refused_by_type(
        client: httpx.AsyncClient, fields: dict, param: str, why: str) -> None:
    body = {"messages": [{"role": "user", "content": "x"}], **fields}
    err = assert_error(await client.post(CHAT, json=body, headers=AUTH), 400, "unsupported_parameter")
    assert (err["param"], err["message"]) == (param, f"{param}: not supported by this gateway ({why})")


@pytest.mark.parametrize("kind", [{}, [], 3, None])
async def test_a_tool_choice_whose_type_is_not_a_string_is_a_422(client: httpx.AsyncClient, kind: object) -> None:
    body = {"messages": [{"role": "user", "content": "x"}], "tools": [FUNCTION],
            "tool_choice": {"type": kind, "function": {"name": "f"}}}
    assert_error(await client.post(CHAT, json=body, headers=AUTH), 422, "invalid_field")  # found by schemathesis


@pytest.mark.parametrize("stream", [None, False])
async def test_stream_options_without_streaming_are_refused_as_openai_refuses_them(client: httpx.AsyncClient,
                                                                                   stream: bool | None) -> None:
    body: dict = {"messages": [{"role": "user", "content": "x"}], "stream_options": {"include_usage": True}}
    if stream is not None:
        body["stream"] = stream
    err = assert_error(await client.post(CHAT, json=body, headers=AUTH), 422, "invalid_field")
    assert (err["param"], err["message"]) == ("stream_options", "stream_options: only allowed when stream is true")


async def test_auth_comes_before_validation(client: httpx.AsyncClient) -> None:
    assert_error(await client.post(CHAT, json={"messages": []}), 401)


@pytest.mark.parametrize(("part", "why"), [
    ({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}, "audio input is not served"),
    ({"type": "file", "file": {"file_id": "file-abc"}},
     "file inputs are not served: send the text, or images as image_url parts"),
])
async def test_a_content_part_openai_has_and_the_gateway_does_not_serve_is_refused_by_type(
        client: httpx.AsyncClient, part: dict, why: str) -> None:
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "see"}, part]}]}
    err = assert_error(await client.post(CHAT, json=body, headers=AUTH), 400, "unsupported_parameter")
    assert err["param"] == "messages.0.user.content.1.type"
    assert err["message"] == (f"messages.0.user.content.1.type: '{part['type']}' parts are not supported by this "
                              f"gateway ({why})")


@pytest.mark.parametrize(("messages", "field"), [
    ([{"role": "user", "content": []}], "messages.0.user.content"),
    ([{"role": "system", "content": []}, {"role": "user", "content": "x"}], "messages.0.system.content"),
    ([{"role": "user", "content": "x"}, {"role": "assistant", "content": []}, {"role": "user", "content": "y"}],
     "messages.1.assistant.content"),
    ([{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "c1", "content": []}],
     "messages.1.tool.content"),
])
async def test_an_empty_list_of_content_parts_is_refused_as_such(client: httpx.AsyncClient, messages: list,
                                                                  field: str) -> None:
    # OpenAI's schema gives every content array `minItems: 1`; the error is the list's, not "a valid string".
    err = assert_error(await client.post(CHAT, json={"messages": messages}, headers=AUTH), 422, "invalid_field")
    assert (err["param"], err["message"]) == (field, f"{field}: List should have at least 1 item after validation, "
                                                     "not 0")


async def test_agent_validation(client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/v1/agent", json={"input": ""}, headers=AUTH), 422, "invalid_field")
    err = assert_error(await client.post("/v1/agent", json={"input": "x", "max_steps": True}, headers=AUTH), 422)
    assert err["param"] == "max_steps"  # `true` is not the integer 1
    assert_error(await client.post("/v1/agent", json={"input": "x", "extra": 1}, headers=AUTH), 400,
                 "unsupported_parameter")
    err = assert_error(await client.post("/v1/agent", json={"input": "x", "tools": ["shell"]}, headers=AUTH), 422)
    assert "calculator" in err["message"] and err["param"] == "tools.0"


async def test_unreachable_upstream_is_502_never_500(client: httpx.AsyncClient) -> None:
    assert_error(await client.post(CHAT, json=HELLO, headers=AUTH), 502, "upstream_unreachable")
    stream = await client.post(CHAT, json={**HELLO, "stream": True}, headers=AUTH)
    assert_error(stream, 502, "upstream_unreachable")


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    resp = await client.get("/healthz", headers={"x-request-id": "req-123.abc"})
    assert resp.headers["x-request-id"] == "req-123.abc"
    generated = (await client.get("/healthz")).headers["x-request-id"]
    assert len(generated) == 32 and int(generated, 16) >= 0
    for bad in ("has space", "x" * 200, "semi;colon"):
        replaced = (await client.get("/healthz", headers={"x-request-id": bad})).headers["x-request-id"]
        assert replaced != bad and len(replaced) == 32
    error = await client.get("/v1/models", headers={"x-request-id": "err-1"})
    assert error.status_code == 401 and error.headers["x-request-id"] == "err-1"
    too_big = await client.post(CHAT, content=b"x" * 5000, headers={"x-request-id": "big-1"})
    assert too_big.status_code == 413 and too_big.headers["x-request-id"] == "big-1"


async def test_anthropic_clients_also_get_the_id_as_request_id(client: httpx.AsyncClient) -> None:
    # The anthropic SDK sends anthropic-version on every call and reads the id from `request-id`
    # (`message._request_id`, `APIStatusError.request_id`); other clients get only x-request-id.
    native = {"anthropic-version": "2023-06-01", "x-request-id": "trace-7"}
    for resp in (await client.get("/healthz", headers=native), await client.get("/v1/models", headers=native),
                 await client.post(CHAT, content=b"x" * 5000, headers=native)):
        assert resp.status_code in (200, 401, 413)
        assert resp.headers.get_list("request-id") == ["trace-7"] and resp.headers["x-request-id"] == "trace-7"
    generated = await client.get("/healthz", headers={"anthropic-version": "2023-06-01"})
    assert generated.headers["request-id"] == generated.headers["x-request-id"]
    assert "request-id" not in (await client.get("/healthz", headers={"x-request-id": "trace-8"})).headers
