"""`/v1/agent` under the client's limits, over real sockets: every model call of a run is admitted, not only the first.

A run whose next call does not fit the client's token budget or tokens per minute ends with the 429 a refused chat
request gets (its code, message and rate-limit headers), that call is never sent, and the calls already made stay
charged and audited. A client with room runs every call and is charged exactly the usage the calls reported.

The upstream is the real mock (it scripts the tool calls: `[[mock:tool=...]]`) served by uvicorn behind a recorder of
the usage each call answered; the gateway is served by uvicorn too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from gateway.limits import enforce
from tests.support.agent_gateway import Gateway, Recorder, serve_gateway
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


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    with serve_in_thread(recorder) as url:
        yield url, recorder


def _gateway(provider: str, upstream_url: str, tmp: Path,
             limits: dict[str, int]) -> AbstractAsyncContextManager[Gateway]:
    return serve_gateway(provider, upstream_url, tmp, CLIENT, limits, limits_default_completion_tokens=COMPLETION)


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
