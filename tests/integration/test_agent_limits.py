"""`/v1/agent` under the client's limits, over real sockets: every model call of a run is admitted, not only the first.

A run whose next call does not fit the client's token budget or tokens per minute ends with the 429 a refused chat
request gets (its code, message and rate-limit headers), that call is never sent, and the calls already made stay
charged and audited. A client with room runs every call and is charged exactly the usage the calls reported.

The upstream is the real mock (it scripts the tool calls: `[[mock:tool=...]]`) served by uvicorn behind a recorder of
the usage each call answered; the gateway is served by uvicorn too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

import catalogue
from devstack.ports import free_port
from gateway.app import create_app
from gateway.auth import keys
from gateway.config import Settings
from gateway.limits import Limits, enforce
from gateway.secrets.env import EnvSecretsBackend
from mockllm.app import create_app as create_mock
from tests.support.threadserver import serve_in_thread

# One event loop for the module: the provider SDKs cache their HTTP clients per process, bound to a loop.
pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

CLIENT = "agent-limits"
LONG = " ".join(["word"] * 200)  # a prompt whose tokens are worth counting
# Two model calls: the agent asks for the calculator, then answers with its result.
CALC = f'{LONG} What is 2+3? [[mock:tool=calculator {{"expression": "2+3"}}]]'
# Three: the agent asks the chat tool a long question, the tool's own call answers it, then the agent answers.
ASK = f'{LONG} [[mock:tool=chat {{"question": "{LONG}"}}]]'
COMPLETION = 1024  # GATEWAY_LIMITS_DEFAULT_COMPLETION_TOKENS: reserved for a call that names no max_tokens


class Recorder:
    """ASGI wrapper: the tokens each chat call's answer reported (None until it answered), then the mock."""

    def __init__(self) -> None:
        self.app = create_mock()
        self.calls: list[int | None] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        index, body = len(self.calls), bytearray()
        self.calls.append(None)

        async def capture(message: Any) -> None:
            if message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
                if not message.get("more_body") and (usage := json.loads(body).get("usage")):
                    self.calls[index] = sum(usage.get(k, 0) for k in ("prompt_tokens", "completion_tokens",
                                                                      "input_tokens", "output_tokens"))
            await send(message)

        await self.app(scope, receive, capture)

    def spent(self, since: int) -> int:
        return sum(c or 0 for c in self.calls[since:])


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    with serve_in_thread(recorder) as url:
        yield url, recorder


@dataclass
class Gateway:
    url: str
    key: str
    app: FastAPI
    audit: Path

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=30, headers={"Authorization": f"Bearer {self.key}"})

    async def counted(self) -> dict[str, int]:
        """The client's counters (tokens this minute, today), once the settles are applied (off the request's path)."""
        await asyncio.sleep(0.2)
        res = await self.app.state.runtime.limiter.acquire(CLIENT, Limits(daily_tokens=10**9), 0)  # reserves no token
        return {"tpm": res.used["tpm"], "daily_tokens": res.used["daily_tokens"]}

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.audit.read_text().splitlines()]


@contextlib.asynccontextmanager
async def _gateway(provider: str, upstream_url: str, tmp: Path, limits: dict[str, int]) -> AsyncIterator[Gateway]:
    key, key_id, digest = keys.generate()
    key_file = tmp / f"keys-{provider}.json"
    key_file.write_text(json.dumps({"keys": {key_id: {"hash": digest, "providers": [provider], "name": CLIENT,
                                                      "limits": limits}}}))
    audit = tmp / f"audit-{provider}.log"
    cfg = Settings(provider=provider, client_keys_file=key_file, max_retries=0, upstream_timeout_s=10, audit_log=audit,
                   upstream_base_url=upstream_url + catalogue.provider(provider).mock_path,
                   limits_default_completion_tokens=COMPLETION)
    backend = EnvSecretsBackend(provider, None, key_file,
                                environ={catalogue.provider(provider).key_env: f"mock-key-{provider}"})
    app = create_app(cfg, backend)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.ensure_future(server.serve())
    deadline = time.monotonic() + 20
    while not server.started:
        assert not task.done() and time.monotonic() < deadline, "gateway did not start"
        await asyncio.sleep(0.05)
    try:
        yield Gateway(f"http://127.0.0.1:{port}", key, app, audit)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


def _first_call(text: str) -> int:
    """What the route reserves for a run's first call: the input's estimate plus the default completion allowance,
    as for a chat request with this one message and no max_tokens."""
    return enforce.estimate_tokens([text], None, COMPLETION)


async def _early_in_the_minute() -> None:
    """Wait for the next UTC minute when this one is nearly over: a run's calls must share one per-minute window."""
    if (into := time.time() % 60) > 50:
        await asyncio.sleep(60.2 - into)


@pytest.mark.parametrize(("provider", "limit", "text", "code"), [
    ("openai", "daily_tokens", CALC, "insufficient_quota"),  # the agent's second turn does not fit
    ("anthropic", "daily_tokens", CALC, "insufficient_quota"),
    ("openai", "tpm", CALC, "rate_limit_exceeded"),
    ("anthropic", "daily_tokens", ASK, "insufficient_quota"),  # the chat tool's own call does not fit
    ("openai", "tpm", ASK, "rate_limit_exceeded"),
], ids=["budget-agent-turn-openai", "budget-agent-turn-anthropic", "tpm-agent-turn-openai",
        "budget-chat-tool-anthropic", "tpm-chat-tool-openai"])
async def test_a_call_past_the_limit_ends_the_run_with_the_chat_routes_429_and_what_was_spent_stays_charged(
        upstream: tuple[str, Recorder], tmp_path: Path, provider: str, limit: str, text: str, code: str) -> None:
    url, recorder = upstream
    # Exactly the first call's reservation: it is admitted, and nothing fits after its real usage is counted.
    async with _gateway(provider, url, tmp_path, {limit: _first_call(text)}) as gw, gw.client() as http:
        await _early_in_the_minute()
        since = len(recorder.calls)
        resp = await http.post("/v1/agent", json={"input": text})
        assert resp.status_code == 429, resp.text
        assert len(recorder.calls) - since == 1  # the refused call was never sent
        spent = recorder.spent(since)
        assert spent > 200  # the first call's tokens (its 200 words and more)
        assert (await gw.counted())[limit] == spent  # charged: the first call's real usage, not its estimate
        [record] = gw.records()
        assert (record["status"], record["error"]) == (429, code)
        assert record["prompt_tokens"] + record["completion_tokens"] == spent
        metrics = (await http.get("/metrics")).text
        assert f'llm_gateway_limited_total{{limit="{code}",provider="{provider}"}} 1.0' in metrics

        # The chat route refuses the same input now, from the same counters: the same error and headers.
        chat = await http.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": text}]})
        assert chat.status_code == 429, chat.text
        agent_error, chat_error = resp.json()["error"], chat.json()["error"]
        assert (agent_error["type"], agent_error["code"]) == (chat_error["type"], chat_error["code"]) == (
            "insufficient_quota" if code == "insufficient_quota" else "rate_limit_error", code)
        assert abs(int(resp.headers["retry-after"]) - int(chat.headers["retry-after"])) <= 1
        for name in ("x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens"):
            assert resp.headers.get(name) == chat.headers.get(name)
        if limit == "tpm":
            assert resp.headers["x-ratelimit-remaining-tokens"] == str(_first_call(text) - spent)
        else:  # a spent budget: the same message, and no SDK retries it
            assert agent_error["message"] == chat_error["message"]
            assert resp.headers["x-should-retry"] == chat.headers["x-should-retry"] == "false"


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_a_client_with_room_runs_every_call_and_is_charged_exactly_the_reported_usage(
        upstream: tuple[str, Recorder], tmp_path: Path, provider: str) -> None:
    url, recorder = upstream
    async with _gateway(provider, url, tmp_path, {"tpm": 100_000, "daily_tokens": 1_000_000}) as gw, \
            gw.client() as http:
        await _early_in_the_minute()
        for text, calls in ((ASK, 3), (CALC, 2)):
            before, since = await gw.counted(), len(recorder.calls)
            resp = await http.post("/v1/agent", json={"input": text})
            assert resp.status_code == 200, resp.text
            usage = resp.json()["usage"]
            assert len(recorder.calls) - since == calls
            assert usage["total_tokens"] == recorder.spent(since) > 400
            after = await gw.counted()  # every call's reservation settled to what it reported: no estimate left
            assert {name: after[name] - before[name] for name in after} == {"tpm": usage["total_tokens"],
                                                                             "daily_tokens": usage["total_tokens"]}
        records = gw.records()
        assert [r["status"] for r in records] == [200, 200]
        assert records[-1]["prompt_tokens"] + records[-1]["completion_tokens"] == usage["total_tokens"]


async def test_each_model_call_of_a_run_counts_as_one_request_against_rpm(upstream: tuple[str, Recorder],
                                                                          tmp_path: Path) -> None:
    url, recorder = upstream
    async with _gateway("openai", url, tmp_path, {"rpm": 2}) as gw, gw.client() as http:
        await _early_in_the_minute()
        since = len(recorder.calls)
        resp = await http.post("/v1/agent", json={"input": ASK})  # the agent's call, the chat tool's, the answer
        assert resp.status_code == 429 and resp.json()["error"]["code"] == "rate_limit_exceeded", resp.text
        assert (resp.headers["x-ratelimit-limit-requests"], resp.headers["x-ratelimit-remaining-requests"]) == (
            "2", "0")
        assert int(resp.headers["retry-after"]) >= 1 and "retry-after-ms" in resp.headers
        assert len(recorder.calls) - since == 2  # the answer's call was refused before it was sent
        [record] = gw.records()
        assert record["status"] == 429
        assert record["prompt_tokens"] + record["completion_tokens"] == recorder.spent(since) > 400
