"""What GatewayMiddleware writes around a response's last byte: the audit record and the metrics before it, the
access log line after it (the client does not wait for a log write), each exactly once, however the send ends."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import CoroutineType
from typing import Any, Protocol, cast

import pytest
from starlette.types import Message, Receive, Scope, Send

from gateway.app import GatewayApp, create_app
from gateway.asgi import GatewayMiddleware
from gateway.auth import keys
from gateway.config import Settings
from gateway.secrets.env import EnvSecretsBackend

KEY, KEY_ID, KEY_HASH = keys.generate()
SPEC = f"{KEY_ID}:{KEY_HASH}:openai"
BODY = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}).encode()


class AccessLine(Protocol):
    """A record of the access log: the fields GatewayMiddleware logs with it (`extra=`) are its attributes."""

    status: int
    path: str
    latency_ms: float


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[AccessLine] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(cast(AccessLine, record))  # attached to the access log only: its records have these


@pytest.fixture
def access_log() -> Iterator[Lines]:
    lines, logger = Lines(), logging.getLogger("gateway.access")
    level = logger.level
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    yield lines
    logger.removeHandler(lines)
    logger.setLevel(level)


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[GatewayApp]:
    cfg = Settings(provider="openai", client_keys=SPEC, upstream_base_url="http://127.0.0.1:9/v1",
                   max_retries=0, upstream_timeout_s=5, audit_log=tmp_path / "audit.log")  # nothing listens: 502
    gateway = create_app(cfg, EnvSecretsBackend("openai", SPEC, environ={"OPENAI_API_KEY": "sk-up"}))
    async with gateway.router.lifespan_context(gateway):
        yield gateway


def scope(path: str = "/v1/chat/completions", auth: bool = True) -> dict[str, Any]:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]
    if auth:
        headers.append((b"authorization", f"Bearer {KEY}".encode()))
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": headers,
            "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000)}


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": BODY, "more_body": False}


def audit_lines(app: GatewayApp) -> list[dict[str, Any]]:
    path = app.state.runtime.settings.audit_log
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def requests_counted(app: GatewayApp) -> float:
    text = app.state.runtime.metrics.render().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("llm_gateway_requests_total{"))


async def test_audit_and_metrics_before_the_last_byte_the_access_log_after(app: GatewayApp,
                                                                           access_log: Lines) -> None:
    at_last_byte: dict[str, Any] = {}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            at_last_byte.update(audit=audit_lines(app), counted=requests_counted(app), logged=len(access_log.records))

    await app(scope(), receive, send)
    assert [r["status"] for r in at_last_byte["audit"]] == [502] and at_last_byte["counted"] == 1
    assert at_last_byte["logged"] == 0
    (line,) = access_log.records
    assert line.status == 502 and line.path == "/v1/chat/completions"
    # one measurement, taken before the last byte: the audit record rounds it to 0.1 ms, the log to 0.01 ms
    # (so they differ by at most 0.05 ms, plus the float error of the two roundings)
    assert line.latency_ms > 0
    assert line.latency_ms == pytest.approx(at_last_byte["audit"][0]["latency_ms"], abs=0.05 + 1e-9)
    assert requests_counted(app) == 1 and len(audit_lines(app)) == 1


async def test_a_send_that_fails_on_the_last_byte_is_still_audited_counted_and_logged_once(
        app: GatewayApp, access_log: Lines) -> None:
    async def send(message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            raise OSError("client gone")

    with pytest.raises(OSError, match="client gone"):
        await app(scope(), receive, send)
    assert [r["status"] for r in audit_lines(app)] == [502] and requests_counted(app) == 1
    assert [r.status for r in access_log.records] == [502]


async def test_a_refused_request_is_counted_and_logged_once(app: GatewayApp, access_log: Lines) -> None:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope(auth=False), receive, send)  # 401, answered by the route's error handling
    assert sent[0]["status"] == 401
    assert [r.status for r in access_log.records] == [401]
    assert requests_counted(app) == 1


async def test_a_streamed_chunk_goes_to_the_servers_send_as_it_came(app: GatewayApp, access_log: Lines) -> None:
    """Each `more_body` chunk is the server's own send of the app's message, awaited by the app (one coroutine
    per chunk, not two); the start gains the request id, the last message is counted before and logged after."""
    got: list[tuple[Message, float, int]] = []

    async def server_send(message: Message) -> None:
        got.append((message, requests_counted(app), len(access_log.records)))

    async def streaming(scope_: Scope, receive_: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        chunk = {"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True}
        pending = send(chunk)
        assert isinstance(pending, CoroutineType)
        assert pending.cr_code is server_send.__code__  # the server's own coroutine, nothing around it
        await pending
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})

    middleware = GatewayMiddleware(streaming, app.state.runtime)
    await middleware({**scope("/v1/models"), "method": "GET"}, receive, server_send)
    (start, *_), (chunk, counted_at_chunk, _), (last, counted_at_last, logged_at_last) = got
    assert start["headers"][-1][0] == b"x-request-id" and chunk["body"] == b"data: 1\n\n"
    assert last["body"] == b"data: [DONE]\n\n" and (counted_at_chunk, counted_at_last, logged_at_last) == (0, 1, 0)
    assert [r.status for r in access_log.records] == [200]
