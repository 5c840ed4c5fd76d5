"""Every model call of an agent run is admitted under the client's limits (`gateway.agent.admission`), with an
in-process limiter and scripted models: what each call reserves, what it is charged, and a refusal that ends the run."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from gateway.agent.admission import CallAdmission
from gateway.agent.runner import SYSTEM_PROMPT, run_agent
from gateway.errors import QuotaExceededError
from gateway.limits import Limits, MemoryLimiter, Reservation, enforce

ALLOWANCE = 100  # the completion allowance each call reserves (GATEWAY_LIMITS_DEFAULT_COMPLETION_TOKENS)
FIRST = enforce.estimate_tokens(["2+3?"], None, ALLOWANCE)  # what the route reserves for the first call


class Scripted(GenericFakeChatModel):
    """Replays its messages; takes the agent's tools (and ignores them)."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


def _reply(used: tuple[int, int] | None, **tool: Any) -> AIMessage:
    calls = [{"name": tool["name"], "args": tool["args"], "id": "c1", "type": "tool_call"}] if tool else []
    usage = None if used is None else {"input_tokens": used[0], "output_tokens": used[1], "total_tokens": sum(used)}
    return AIMessage(content="" if tool else "It is 5.", tool_calls=calls, usage_metadata=usage)


class Client:
    """One client's limits on an in-process limiter, admitted as the route admits it; records what each call sent."""

    def __init__(self, daily_tokens: int) -> None:
        self.limiter, self.limits = MemoryLimiter(), Limits(daily_tokens=daily_tokens)
        self.asked: list[list[str]] = []

    async def admit(self, texts: list[str]) -> Reservation | None:
        self.asked.append(texts)
        return await enforce.admit(self.limiter, "c", self.limits, enforce.estimate_tokens(texts, None, ALLOWANCE))

    async def run(self, script: Iterator[AIMessage], tools: list[str]) -> dict[str, Any]:
        calls = CallAdmission(self.admit, self.limiter, await self.admit(["2+3?"]))
        try:
            return await run_agent(Scripted(messages=script), "2+3?", tools, 3, 10, max_tokens=50,
                                   finish_reason=lambda _metadata: None, admission=calls)
        finally:
            await calls.close()

    async def charged(self) -> int:
        return (await self.limiter.acquire("c", Limits(daily_tokens=10**9), 0)).used["daily_tokens"]


async def test_each_later_call_reserves_the_conversation_so_far_and_is_charged_what_it_reported() -> None:
    client = Client(daily_tokens=10_000)
    out = await client.run(iter([_reply((10, 2), name="calculator", args={"expression": "2+3"}), _reply((20, 3))]),
                           ["calculator"])
    assert out["output"] == "It is 5." and out["usage"]["total_tokens"] == 35
    assert client.asked == [["2+3?"], [SYSTEM_PROMPT, "2+3?", '[["calculator", {"expression": "2+3"}]]', "5"]]
    assert await client.charged() == 35  # both reservations settled to the reported usage


async def test_the_chat_tools_own_call_is_admitted_too() -> None:
    client = Client(daily_tokens=10_000)
    script = iter([_reply((10, 2), name="chat", args={"question": "capital of France?"}), _reply((7, 3)),
                   _reply((30, 4))])
    out = await client.run(script, ["chat"])
    assert out["usage"]["total_tokens"] == 56 and await client.charged() == 56
    assert [texts[-1] for texts in client.asked] == ["2+3?", "capital of France?", "It is 5."]


async def test_a_refused_call_ends_the_run_with_its_429_and_the_calls_before_it_stay_charged() -> None:
    client = Client(daily_tokens=FIRST)  # the first call fits exactly; after its 12 tokens, no estimate does
    with pytest.raises(QuotaExceededError) as info:
        await client.run(iter([_reply((10, 2), name="calculator", args={"expression": "2+3"}), _reply((20, 3))]),
                         ["calculator"])
    assert (info.value.status, info.value.code) == (429, "insufficient_quota")
    assert info.value.reservation is not None  # the 429 carries the counts that refused it (its headers)
    assert await client.charged() == 12


def _failing() -> Iterator[AIMessage]:
    raise RuntimeError("upstream failed")
    yield  # a generator: the model's first call raises


@pytest.mark.parametrize(("script", "charged"), [
    (_failing(), 0),  # a failed call is charged nothing, as a failed chat request
    (iter([_reply(None)]), FIRST),  # a call that reported no usage keeps its estimate, as a chat request's
])
async def test_a_call_without_reported_usage(script: Iterator[AIMessage], charged: int) -> None:
    client = Client(daily_tokens=10_000)
    with pytest.raises(RuntimeError) if charged == 0 else contextlib.nullcontext():
        await client.run(script, ["calculator"])
    assert await client.charged() == charged


async def test_closing_before_any_call_releases_the_routes_reservation() -> None:
    client = Client(daily_tokens=10_000)
    calls = CallAdmission(client.admit, client.limiter, await client.admit(["2+3?"]))
    assert await client.charged() == FIRST
    await calls.close()
    assert await client.charged() == 0

