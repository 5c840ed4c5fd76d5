"""`/v1/agent` over real sockets: every token a run spends is reported, charged and audited, however the run ends;
a client that leaves cancels the run; the step budget, the calculator's errors and refusals as the client sees them.

The upstream is the real mock (its wire protocols) served by uvicorn on a loopback socket behind a recorder of the
usage each call answered; the gateway is served by uvicorn too, so a client can close its connection mid-run.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from tests.support.agent_gateway import Gateway, Recorder, serve_gateway
from tests.support.threadserver import serve_in_thread

# One event loop for the module: the provider SDKs cache their HTTP clients per process, bound to a loop.
pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

CLIENT = "agent-billing"
LONG = " ".join(["word"] * 200)  # a prompt whose tokens are worth counting


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    with serve_in_thread(recorder) as url:
        yield url, recorder


def _gateway(provider: str, upstream_url: str, tmp: Path, **settings: Any) -> AbstractAsyncContextManager[Gateway]:
    return serve_gateway(provider, upstream_url, tmp, CLIENT, {"daily_tokens": 10_000_000}, **settings)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_the_chat_tools_own_calls_are_reported_charged_and_audited(
        upstream: tuple[str, Recorder], tmp_path: Path, provider: str) -> None:
    url, recorder = upstream
    async with _gateway(provider, url, tmp_path) as gw, gw.client() as http:
        since = len(recorder.calls)
        resp = await http.post("/v1/agent", json={"input": f'q [[mock:tool=chat {{"question": "{LONG}"}}]]'})
        assert resp.status_code == 200, resp.text
        usage = resp.json()["usage"]
        assert len(recorder.calls) - since == 3  # the agent's tool call, the chat tool's call, the answer
        assert usage["total_tokens"] == recorder.spent(since) > 400  # the tool's call (its 200 words) included
        assert await gw.charged() == usage["total_tokens"]
        [record] = gw.records()
        assert (record["status"], record["prompt_tokens"], record["completion_tokens"]) == (
            200, usage["prompt_tokens"], usage["completion_tokens"])


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize(("question", "status", "code"), [
    ("q [[mock:fault=500]]", 502, "upstream_error"),  # the chat tool's call fails, after the agent's first call
    ("q [[mock:latency=5000]]", 504, "agent_timeout"),  # the run outlives GATEWAY_AGENT_TIMEOUT_S
])
async def test_a_run_that_fails_midway_is_charged_and_audited_with_what_it_spent(
        upstream: tuple[str, Recorder], tmp_path: Path, provider: str, question: str, status: int, code: str) -> None:
    url, recorder = upstream
    async with _gateway(provider, url, tmp_path, agent_timeout_s=1.5) as gw, gw.client() as http:
        since = len(recorder.calls)
        resp = await http.post("/v1/agent", json={"input": f'{LONG} [[mock:tool=chat {{"question": "{question}"}}]]'})
        assert (resp.status_code, resp.json()["error"]["code"]) == (status, code), resp.text
        spent = recorder.spent(since)  # the first call's: the failed one answered no usage
        assert spent > 200 and await gw.charged() == spent
        [record] = gw.records()
        assert record["status"] == status and record["prompt_tokens"] + record["completion_tokens"] == spent


async def test_a_client_that_leaves_cancels_the_run_and_is_charged_what_was_spent(
        upstream: tuple[str, Recorder], tmp_path: Path) -> None:
    url, recorder = upstream
    async with _gateway("openai", url, tmp_path) as gw:
        since = len(recorder.calls)
        body = json.dumps({"input": f'{LONG} [[mock:tool=chat {{"question": "q [[mock:latency=2000]]"}}]]'}).encode()
        host, port = gw.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"POST /v1/agent HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer " + gw.key.encode() +
                     b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode() +
                     b"\r\n\r\n" + body)
        await writer.drain()
        await asyncio.sleep(0.8)  # the agent's first call answered; the chat tool's call waits on the mock
        writer.close()
        await asyncio.sleep(2.5)  # past the tool call's latency: a run left going would have answered by now
        assert len(recorder.calls) - since == 2 and recorder.calls[-1] is None  # no answer call, the tool's cut
        spent = recorder.spent(since)
        assert spent > 200 and await gw.charged() == spent
        [record] = gw.records()
        assert record["status"] == 499 and record["latency_ms"] < 2000
        assert record["prompt_tokens"] + record["completion_tokens"] == spent
        assert not await reader.read()  # nothing was answered


async def test_max_steps_1_allows_one_tool_round_and_the_answer(upstream: tuple[str, Recorder], tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    url, recorder = upstream
    async with _gateway("openai", url, tmp_path, agent_max_steps=1) as gw, gw.client() as http:
        since = len(recorder.calls)
        resp = await http.post("/v1/agent", json={
            "input": 'What is 2+3? [[mock:tool=calculator {"expression": "2+3"}]]', "max_steps": 50})
        assert resp.status_code == 200, resp.text
        assert resp.json()["output"] == "Tool result: 5" and len(resp.json()["steps"]) == 1
        assert len(recorder.calls) - since == 2
        # A model that never stops calling tools: the configured step (not the 50 asked) ends it, charged.
        call = {"name": "calculator", "args": {"expression": "2+3"}, "id": "c", "type": "tool_call"}
        looping = _Scripted(messages=iter([AIMessage(content="", tool_calls=[{**call, "id": f"c{i}"}],
                                                     usage_metadata={"input_tokens": 10, "output_tokens": 2,
                                                                     "total_tokens": 12}) for i in range(60)]))
        monkeypatch.setattr(gw.app.state.runtime.adapter, "chat_model", lambda *_args: looping)
        before = await gw.charged()
        resp = await http.post("/v1/agent", json={"input": "2+3?", "max_steps": 50, "tools": ["calculator"]})
        assert (resp.status_code, resp.json()["error"]["code"]) == (422, "agent_step_limit"), resp.text
        assert await gw.charged() - before == 24  # two model calls: one tool round, then a second call refused


class _Scripted(GenericFakeChatModel):
    """Replays its messages; takes the agent's tools (and ignores them)."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


async def test_a_calculator_failure_is_the_tools_answer_not_a_502(upstream: tuple[str, Recorder],
                                                                  tmp_path: Path) -> None:
    url, _ = upstream
    async with _gateway("anthropic", url, tmp_path) as gw, gw.client() as http:
        for expression in ("log(2, 1)", "999999**100", "min()", "(-8)**0.5", "round(2.5, 1.5)"):
            resp = await http.post("/v1/agent", json={
                "input": f'x [[mock:tool=calculator {{"expression": "{expression}"}}]]', "tools": ["calculator"]})
            assert resp.status_code == 200, resp.text
            [step] = resp.json()["steps"]
            assert step["output"].startswith("error: ") and resp.json()["output"].startswith("Tool result: error: ")


@pytest.mark.parametrize(("provider", "directive", "end"), [
    ("openai", "[[mock:refusal=I can't help with that]]",
     {"output": "", "refusal": "I can't help with that", "finish_reason": "stop"}),
    ("local-llama", "[[mock:refusal=I can't help with that]]",
     {"output": "", "refusal": "I can't help with that", "finish_reason": "stop"}),
    ("openai", "[[mock:finish=content_filter]]", {"output": "Echo: hello", "refusal": None,
                                                  "finish_reason": "content_filter"}),
    ("anthropic", "[[mock:finish=refusal]]", {"output": "Echo: hello", "refusal": None,
                                              "finish_reason": "content_filter"}),
    ("anthropic", "", {"output": "Echo: hello", "refusal": None, "finish_reason": "stop"}),
])
async def test_a_refusal_is_reported_as_the_chat_route_reports_it(
        upstream: tuple[str, Recorder], tmp_path: Path, provider: str, directive: str, end: dict[str, Any]) -> None:
    url, _ = upstream
    async with _gateway(provider, url, tmp_path) as gw, gw.client() as http:
        resp = await http.post("/v1/agent", json={"input": f"hello {directive}"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert {k: body[k] for k in end} == end and body["truncated"] is False
