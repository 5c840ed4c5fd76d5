"""Every model call of an agent run passes the client's limits, as a chat request does.

The route admits the run's first model call before the run starts (`deps.admit`). Each later call, the agent's own
turns and the chat tool's questions alike, reserves its estimate the same way just before it is sent, and a refusal
(the 429 a refused chat request gets, headers included) ends the run. Each reservation is settled with the tokens its
own call reported, so the counters hold the run's real usage call by call, each in the minute it was spent.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from gateway.limits import Limiter, Reservation, enforce

# Reserve one model call whose prompt is these texts under the client's limits (429 when refused).
Admit = Callable[[list[str]], Awaitable[Reservation | None]]


class CallAdmission(AgentMiddleware):
    """Admit each model call of one run under the client's limits and settle it with that call's usage."""

    def __init__(self, admit: Admit, limiter: Limiter, first: Reservation | None) -> None:
        super().__init__()
        self._admit = admit
        self._limiter = limiter
        self._first = [first]  # the route's reservation: the run's first call spends it (None: unlimited client)

    async def awrap_model_call(self, request: ModelRequest,
                               handler: Callable[[ModelRequest], Awaitable[ModelResponse]]) -> ModelResponse:
        """Admit one of the agent's own model calls: the system prompt and the conversation so far."""
        sent = [request.system_message, *request.messages] if request.system_message else request.messages
        response: ModelResponse = await self._call(_texts(sent), lambda: handler(request),
                                                   lambda done: _reported(done.result))
        return response

    def guard(self, model: Runnable[Any, BaseMessage]) -> Runnable[Any, BaseMessage]:
        """The chat tool's model with its calls admitted too: a tool's call spends the client's tokens as well."""

        async def call(messages: list[BaseMessage], config: RunnableConfig) -> BaseMessage:
            answer: BaseMessage = await self._call(_texts(messages), lambda: model.ainvoke(messages, config),
                                                   lambda done: _reported([done]))
            return answer

        return RunnableLambda(call, name="admitted_chat_model")

    async def close(self) -> None:
        """Release the route's reservation if the run ended before its first call (nothing was spent)."""
        while self._first:
            await enforce.settle(self._limiter, self._first.pop(), 0)

    async def _call(self, texts: list[str], send: Callable[[], Awaitable[Any]],
                    reported: Callable[[Any], int | None]) -> Any:
        res = self._first.pop() if self._first else await self._admit(texts)  # a refusal raises: the run ends
        tokens: int | None = 0  # a call that failed or was cancelled is charged nothing, as a failed chat request
        try:
            done = await send()
            tokens = reported(done)
            return done
        finally:
            await enforce.settle(self._limiter, res, tokens)


def _texts(messages: Sequence[BaseMessage]) -> list[str]:
    """What each message puts in the prompt, for the estimate: its text and an AI turn's tool calls."""
    return [m.text + (json.dumps([[c["name"], c["args"]] for c in m.tool_calls], default=str)
                      if isinstance(m, AIMessage) and m.tool_calls else "") for m in messages]


def _reported(messages: Sequence[BaseMessage]) -> int | None:
    """The tokens a finished call reported, counted as RunUsage counts them; None when it reported none (its estimate
    stays, as a chat request's does)."""
    usages = [m.usage_metadata for m in messages if isinstance(m, AIMessage) and m.usage_metadata]
    return sum(u.get("input_tokens", 0) + u.get("output_tokens", 0) for u in usages) if usages else None
