"""gateway/api/direct.py: chat completions served past FastAPI's routing answer exactly as FastAPI does.

Two gateways with the same settings, one with `direct_routes` on (the default) and one with it off,
get the same requests; their statuses, bodies, headers and usage records must be the same. The
upstream refuses connections, so well-formed requests run the whole endpoint up to its 502.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from gateway.api import direct as direct_module
from gateway.app import GatewayApp, create_app
from gateway.asgi import GatewayMiddleware
from gateway.auth import keys
from gateway.config import Settings
from gateway.errors import internal_error
from gateway.limits import enforce
from gateway.secrets.env import EnvSecretsBackend

KEY, KEY_ID, KEY_HASH = keys.generate()
OTHER_KEY, OTHER_ID, OTHER_HASH = keys.generate()
SPEC = f"{KEY_ID}:{KEY_HASH}:openai,{OTHER_ID}:{OTHER_HASH}:anthropic"
GOOD = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
JSON = {"Content-Type": "application/json"}
AUTH = {"Authorization": f"Bearer {KEY}"}
VOLATILE = {"x-request-id", "date", "content-length"}  # content-length follows the request id in bodies


class Gateway:
    """One in-process gateway and what reached FastAPI's router behind its middleware."""

    def __init__(self, app: GatewayApp, client: httpx.AsyncClient, audit: Path, inner_calls: list[str]) -> None:
        self.app, self.client, self.audit, self.inner_calls = app, client, audit, inner_calls

    def records(self) -> list[dict[str, Any]]:
        if not self.audit.exists():
            return []
        drop = {"id", "time", "request_id", "latency_ms"}
        return [{k: v for k, v in json.loads(line).items() if k not in drop}
                for line in self.audit.read_text().splitlines()]


async def _gateway(tmp: Path, direct: bool) -> AsyncIterator[Gateway]:
    audit = tmp / f"audit-{direct}.log"
    cfg = Settings(provider="openai", client_keys=SPEC, upstream_base_url="http://127.0.0.1:9/v1",
                   max_retries=0, upstream_timeout_s=5, max_tokens_limit=4096, max_body_bytes=4096,
                   audit_log=audit, direct_routes=direct)
    app = create_app(cfg, EnvSecretsBackend("openai", SPEC, environ={"OPENAI_API_KEY": "sk-up"}))
    inner_calls: list[str] = []
    async with app.router.lifespan_context(app):
        middleware = app.gateway
        assert isinstance(middleware, GatewayMiddleware)
        inner = middleware.app  # FastAPI's own handling, middleware stack and router

        async def counted(scope: Scope, receive: Receive, send: Send) -> None:
            inner_calls.append(scope["path"])
            await inner(scope, receive, send)

        middleware.app = counted
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            yield Gateway(app, client, audit, inner_calls)


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Gateway, Gateway]]:
    async for direct in _gateway(tmp_path, True):
        async for routed in _gateway(tmp_path, False):
            yield direct, routed


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 1000):
        yield data[i:i + 1000]


# (name, method, path, headers, body): bodies are bytes, sent as they are.
CASES: list[tuple[str, str, str, dict[str, str], bytes | None]] = [
    ("well-formed, upstream refused", "POST", "/v1/chat/completions", {**JSON, **AUTH}, json.dumps(GOOD).encode()),
    ("streamed, upstream refused", "POST", "/v1/chat/completions", {**JSON, **AUTH},
     json.dumps({**GOOD, "stream": True}).encode()),
    ("charset parameter", "POST", "/v1/chat/completions", {"Content-Type": "application/json; charset=utf-8",
                                                           **AUTH}, json.dumps(GOOD).encode()),
    ("no credential", "POST", "/v1/chat/completions", JSON, json.dumps(GOOD).encode()),
    ("unknown key", "POST", "/v1/chat/completions", {**JSON, "Authorization": "Bearer sk-nope"},
     json.dumps(GOOD).encode()),
    ("key of another provider", "POST", "/v1/chat/completions", {**JSON, "Authorization": f"Bearer {OTHER_KEY}"},
     json.dumps(GOOD).encode()),
    ("x-api-key", "POST", "/v1/chat/completions", {**JSON, "x-api-key": KEY}, json.dumps(GOOD).encode()),
    ("invalid JSON", "POST", "/v1/chat/completions", {**JSON, **AUTH}, b'{"model": '),
    ("invalid JSON, no credential", "POST", "/v1/chat/completions", JSON, b"{nope"),
    ("NaN (stdlib JSON only)", "POST", "/v1/chat/completions", {**JSON, **AUTH},
     json.dumps({**GOOD, "temperature": float("nan")}).encode()),
    ("UTF-16 body", "POST", "/v1/chat/completions", {**JSON, **AUTH}, json.dumps(GOOD).encode("utf-16")),
    ("unknown parameter", "POST", "/v1/chat/completions", {**JSON, **AUTH},
     json.dumps({**GOOD, "frobnicate": 1}).encode()),
    ("unknown parameter, no credential", "POST", "/v1/chat/completions", JSON,
     json.dumps({**GOOD, "frobnicate": 1}).encode()),
    ("wrong type", "POST", "/v1/chat/completions", {**JSON, **AUTH}, json.dumps({**GOOD, "n": "two"}).encode()),
    ("messages missing", "POST", "/v1/chat/completions", {**JSON, **AUTH}, b'{"model": "gpt-4o-mini"}'),
    ("array body", "POST", "/v1/chat/completions", {**JSON, **AUTH}, b"[]"),
    ("empty body", "POST", "/v1/chat/completions", {**JSON, **AUTH}, b""),
    ("text/plain", "POST", "/v1/chat/completions", {"Content-Type": "text/plain", **AUTH}, json.dumps(GOOD).encode()),
    ("no content type", "POST", "/v1/chat/completions", AUTH, json.dumps(GOOD).encode()),
    ("max_tokens over the limit", "POST", "/v1/chat/completions", {**JSON, **AUTH},
     json.dumps({**GOOD, "max_tokens": 5000}).encode()),
    ("unknown model", "POST", "/v1/chat/completions", {**JSON, **AUTH},
     json.dumps({**GOOD, "model": "gpt-nope"}).encode()),
    ("body over the limit (declared)", "POST", "/v1/chat/completions", {**JSON, **AUTH},
     json.dumps({**GOOD, "user": "x" * 5000}).encode()),
    ("trailing slash", "POST", "/v1/chat/completions/", {**JSON, **AUTH}, json.dumps(GOOD).encode()),
    ("GET", "GET", "/v1/chat/completions", AUTH, None),
]


def _headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k not in VOLATILE}


def _body(response: httpx.Response) -> Any:
    text = response.text.replace(response.headers.get("x-request-id", "\0"), "<request-id>")
    try:
        return json.loads(text)
    except ValueError:
        return text


@pytest.mark.parametrize(("name", "method", "path", "headers", "body"), CASES, ids=[c[0] for c in CASES])
async def test_direct_answers_exactly_as_fastapi(pair: tuple[Gateway, Gateway], name: str, method: str, path: str,
                                                 headers: dict[str, str], body: bytes | None) -> None:
    direct, routed = pair
    answers = [await gw.client.request(method, path, headers=headers, content=body) for gw in pair]
    assert answers[0].status_code == answers[1].status_code, name
    assert _body(answers[0]) == _body(answers[1]), name
    assert _headers(answers[0]) == _headers(answers[1]), name
    assert direct.records() == routed.records(), name
    if answers[1].status_code != 413:  # a declared oversized body is refused before any route
        assert routed.inner_calls == [path]  # with direct routes off, FastAPI sees everything


async def test_a_chunked_body_over_the_limit_is_413_on_both(pair: tuple[Gateway, Gateway]) -> None:
    big = json.dumps({**GOOD, "user": "x" * 6000}).encode()
    answers = [await gw.client.post("/v1/chat/completions", headers={**JSON, **AUTH}, content=_chunks(big))
               for gw in pair]
    assert [a.status_code for a in answers] == [413, 413]
    assert _body(answers[0]) == _body(answers[1])
    assert pair[0].inner_calls == []  # refused while read, before anything was handed on


async def test_well_formed_requests_skip_fastapi_and_malformed_ones_reach_it(pair: tuple[Gateway, Gateway]) -> None:
    direct, _ = pair
    for body in (GOOD, {**GOOD, "stream": True}):
        answer = await direct.client.post("/v1/chat/completions", headers={**JSON, **AUTH}, json=body)
        assert answer.status_code == 502  # the whole endpoint ran: the upstream refused the connection
    no_key = await direct.client.post("/v1/chat/completions", headers=JSON, json=GOOD)
    assert no_key.status_code == 401
    assert direct.inner_calls == []
    bad = await direct.client.post("/v1/chat/completions", headers={**JSON, **AUTH}, json={**GOOD, "n": "two"})
    assert bad.status_code in (400, 422)
    models = await direct.client.get("/v1/models", headers=AUTH)
    assert models.status_code == 200
    assert direct.inner_calls == ["/v1/chat/completions", "/v1/models"]


@pytest.mark.parametrize(("body", "long"), [
    (b'{"seed": 9223372036854775807}', False),  # 19 digits: the largest int64, which orjson reads exactly
    (b'{"seed": 18446744073709551616}', True),  # 2**64: 20 digits
    (b'{"a": "1234567890 1234567890"}', False),  # digits, but no run of 20
    (bytearray(b'[-123456789012345678901234567890]'), True),
])
def test_a_long_number_is_a_run_of_20_digits(body: bytes | bytearray, long: bool) -> None:
    assert direct_module._has_long_number(body) is long


async def test_a_body_with_an_integer_orjson_would_round_reaches_fastapi(pair: tuple[Gateway, Gateway]) -> None:
    direct, _ = pair
    tool = {"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"n": {"type": "integer", "maximum": 123456789012345678901234567890}}}}}
    answer = await direct.client.post("/v1/chat/completions", headers={**JSON, **AUTH}, json={**GOOD, "tools": [tool]})
    assert answer.status_code == 502  # the whole endpoint ran, on FastAPI's exact reading of the body
    assert direct.inner_calls == ["/v1/chat/completions"]


async def test_an_unexpected_error_is_answered_alike_and_still_raised(pair: tuple[Gateway, Gateway],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """FastAPI's ServerErrorMiddleware answers with the app's `Exception` handler and re-raises for the server's
    log; the direct path does the same. Both answers pass through GatewayMiddleware (x-request-id, the status)."""

    def broken(*_: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(enforce, "headers", broken)  # the endpoint fails once the request is audited
    answers = []
    for gw in pair:
        transport = httpx.ASGITransport(app=gw.app, raise_app_exceptions=False)  # the server logs it
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            answers.append(await client.post("/v1/chat/completions", headers={**JSON, **AUTH}, json=GOOD))
        with pytest.raises(RuntimeError, match="a bug"):
            await gw.client.post("/v1/chat/completions", headers={**JSON, **AUTH}, json=GOOD)
    assert [a.status_code for a in answers] == [500, 500]  # the gateway's fault, not the provider's
    assert _body(answers[0]) == _body(answers[1]) == {"error": {
        "message": internal_error().message, "type": "internal_error", "code": "internal_error", "param": None}}
    assert _headers(answers[0]) == _headers(answers[1]) and all(a.headers["x-request-id"] for a in answers)
    assert pair[0].records() == pair[1].records()
    assert [(r["status"], r["error"]) for r in pair[0].records()] == [(500, "internal_error")] * 2
