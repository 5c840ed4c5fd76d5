"""Run a LangChain 1.x agent (`create_agent`) with bounded steps and time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware, ModelRequest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.errors import GraphRecursionError

from gateway.errors import AgentStepLimitError, InvalidRequestError, UpstreamBadResponseError, UpstreamTimeoutError

from .admission import CallAdmission
from .tools import TOOL_NAMES, build_tools
from .usage import RunUsage

FinishReason = Callable[[Mapping[str, Any]], str | None]  # a reply's stop reason in OpenAI's words
SYSTEM_PROMPT = ("You are a helpful assistant. Use the calculator for arithmetic, current_time for the "
                 "date or time, and chat for general questions. Answer concisely.")


class TokenCap(AgentMiddleware):
    """Ask for at most max_tokens completion tokens on every model call of the agent."""

    # Without it each call gets the SDK's default, which can be far above GATEWAY_MAX_TOKENS_LIMIT.
    def __init__(self, max_tokens: int) -> None:
        super().__init__()
        self.max_tokens = max_tokens

    def _capped(self, request: ModelRequest) -> ModelRequest:
        return request.override(model_settings={**request.model_settings, "max_tokens": self.max_tokens})

    def wrap_model_call(self, request: ModelRequest, handler: Callable[[ModelRequest], Any]) -> Any:
        """Cap the call's max_tokens (sync path)."""
        return handler(self._capped(request))

    async def awrap_model_call(self, request: ModelRequest,
                               handler: Callable[[ModelRequest], Awaitable[Any]]) -> Any:
        """Cap the call's max_tokens."""
        return await handler(self._capped(request))


async def run_agent(model: BaseChatModel, text: str, tools: Sequence[str] | None, max_steps: int, timeout_s: float,
                    *, max_tokens: int, finish_reason: FinishReason, usage: RunUsage | None = None,
                    admission: CallAdmission | None = None) -> dict[str, Any]:
    """Run the agent and return its answer, how it ended, the tool steps it took and the usage of every model call
    (the chat tool's included), summed in `usage` as the calls finish: after a failure it holds what was spent.
    `finish_reason` reads a reply's stop reason in OpenAI's words (the provider adapter's). With `admission`, every
    model call (the chat tool's too) passes the client's limits first; a refusal ends the run with its 429."""
    usage = RunUsage() if usage is None else usage
    tool_model = model.bind(max_tokens=max_tokens)  # the chat tool's calls are capped too
    try:
        selected = build_tools(tool_model if admission is None else admission.guard(tool_model), tools)
    except KeyError as exc:
        raise InvalidRequestError(f"unknown tool(s): {exc.args[0]}; available: {', '.join(TOOL_NAMES)}",
                                  param="tools") from None
    middleware: list[AgentMiddleware] = [TokenCap(max_tokens)]
    if admission is not None:
        middleware.insert(0, admission)  # outermost: a refused call never reaches the model
    agent = create_agent(model, selected, system_prompt=SYSTEM_PROMPT, middleware=middleware)
    # LangGraph counts the input as a superstep, then one per node run: max_steps tool rounds (a model node and a
    # tool node each) and the answer's model node take 2 * max_steps + 2.
    config = RunnableConfig(recursion_limit=2 * max_steps + 2, callbacks=[usage])
    try:
        async with asyncio.timeout(timeout_s):
            state = await agent.ainvoke({"messages": [HumanMessage(content=text)]}, config=config)
    except GraphRecursionError:
        raise AgentStepLimitError(f"the agent did not finish within {max_steps} steps") from None
    except TimeoutError:
        raise UpstreamTimeoutError(f"the agent did not finish within {timeout_s:g} s", code="agent_timeout") from None
    return {**summarize(state["messages"], finish_reason), "usage": usage.openai()}


def summarize(messages: list[Any], finish_reason: FinishReason = lambda _metadata: None) -> dict[str, Any]:
    """Extract the final answer, how it ended (its stop reason, whether the token cap cut it, an OpenAI-protocol
    refusal) and the tool steps from the agent's history."""
    calls: dict[str, dict[str, Any]] = {}
    steps: list[dict[str, Any]] = []
    end: dict[str, Any] = {"output": "", "truncated": False, "finish_reason": None, "refusal": None}
    for msg in messages:
        if isinstance(msg, AIMessage):
            for call in msg.tool_calls:
                calls[call["id"] or ""] = {"tool": call["name"], "input": call["args"]}
            if not msg.tool_calls:
                reason = finish_reason(msg.response_metadata)
                # langchain-openai keeps a refusal's text beside an empty content; the chat route answers it as
                # `message.refusal`, and the other providers' refusals end with content_filter.
                refusal = msg.additional_kwargs.get("refusal") or None
                end = {"output": msg.text, "truncated": reason == "length", "finish_reason": reason,
                       "refusal": refusal if isinstance(refusal, str) else None}
                if msg.invalid_tool_calls:  # the agent stops here (it has no call to run): not an answer
                    raise _unrunnable(msg, end["truncated"])
        elif isinstance(msg, ToolMessage):
            call = calls.get(msg.tool_call_id, {"tool": msg.name, "input": {}})  # name None: not reported
            steps.append({**call, "output": msg.text})
    return {**end, "steps": steps}


def _unrunnable(msg: AIMessage, truncated: bool) -> UpstreamBadResponseError:
    """The error for a model turn whose only tool calls have arguments that do not parse (LangChain's
    `invalid_tool_calls`): the agent would end on it with whatever text came along, or an empty answer."""
    call = msg.invalid_tool_calls[0]
    cut = " (cut short by the token cap)" if truncated else ""
    return UpstreamBadResponseError(f"the model called {call.get('name') or 'a tool'} with arguments that are not "
                                    f"JSON{cut}; the agent cannot run it", code="agent_unparsed_tool_call")
