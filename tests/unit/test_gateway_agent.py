"""The agent's tools (a calculator that is not eval) and the summary of an agent run."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models import FakeListChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.messages.tool import invalid_tool_call

from gateway.agent.runner import run_agent, summarize
from gateway.agent.tools import TOOL_NAMES, CalculatorError, build_tools, calculator, current_time, evaluate
from gateway.agent.usage import RunUsage
from gateway.config import Settings
from gateway.errors import AgentStepLimitError, UpstreamBadResponseError
from gateway.providers import adapter_class


@pytest.mark.parametrize(("expression", "value"), [
    ("2+3", 5), ("(2 + 3) * 4", 20), ("-2 ** 2", -4), ("7 // 2", 3), ("7 % 4", 3), ("1 / 4", 0.25),
    ("sqrt(16)", 4.0), ("abs(-3)", 3), ("max(1, 9, 4)", 9), ("round(2.6)", 3), ("pi > 3", None), ("2 ** 10", 1024),
])
def test_evaluates_arithmetic(expression: str, value: float | None) -> None:
    if value is None:
        with pytest.raises(CalculatorError):
            evaluate(expression)
    else:
        assert evaluate(expression) == value


@pytest.mark.parametrize("expression", [
    "__import__('os').system('true')",  # call outside the allowlist
    "open('/etc/passwd')",
    "x + 1",  # unknown name
    "math.pi",  # attribute
    "(1).__class__",
    "sqrt.__globals__",
    "[1, 2]",
    "'a' * 3",
    "True + 1",
    "9 ** 9 ** 9",  # huge exponent
    "10 ** 1000",
    "2 ** 101",
    "1e7 ** 2",
    "1 / 0",
    "lambda: 1",
    "max(*[1])",
    "round(2.5, ndigits=1)",  # keywords are refused
    "max(1, 2, 3, 4, 5)",  # too many arguments
    "1 +",
    "1" * 201,  # too long
])
def test_refuses_anything_but_arithmetic(expression: str) -> None:
    with pytest.raises(CalculatorError):
        evaluate(expression)


def test_calculator_tool_reports_errors_as_text() -> None:
    assert calculator.invoke({"expression": "2+3"}) == "5"
    assert calculator.invoke({"expression": "1/4"}) == "0.25"
    assert calculator.invoke({"expression": "__import__('os')"}).startswith("error: ")
    assert calculator.invoke({"expression": "sqrt(-1)"}).startswith("error: ")


def test_current_time_tool() -> None:
    assert current_time.invoke({}).endswith("+00:00")
    assert current_time.invoke({"timezone": "Europe/Paris"})[:2] == "20"
    assert current_time.invoke({"timezone": "Mars/Olympus"}).startswith("error: unknown timezone")


def test_build_tools_selects_and_rejects() -> None:
    model = FakeListChatModel(responses=[])  # the chat tool's model: built into it, never called here
    assert [t.name for t in build_tools(model, None)] == list(TOOL_NAMES)
    assert [t.name for t in build_tools(model, ["calculator", "calculator"])] == ["calculator"]
    with pytest.raises(KeyError, match="shell"):
        build_tools(model, ["calculator", "shell"])


@pytest.mark.parametrize("expression", [
    "log(2, 1)",  # ZeroDivisionError inside math.log
    "999999**100",  # an int past a float's range
    "min()", "round(2.5, 1.5)",  # wrong arguments: TypeError
    "(-8)**0.5",  # a complex result
    "round(1e308 * 10)",  # infinity to an integer
])
def test_any_evaluation_failure_is_the_tools_error_answer(expression: str) -> None:
    assert calculator.invoke({"expression": expression}).startswith("error: ")


def test_summarize_pairs_tool_calls_with_outputs() -> None:
    call = {"name": "calculator", "args": {"expression": "2+3"}, "id": "call_1", "type": "tool_call"}
    messages = [
        HumanMessage("what is 2+3"),
        AIMessage(content="", tool_calls=[call],
                  usage_metadata={"input_tokens": 10, "output_tokens": 2, "total_tokens": 12}),
        ToolMessage("5", tool_call_id="call_1", name="calculator"),
        AIMessage(content="It is 5.", usage_metadata={"input_tokens": 15, "output_tokens": 3, "total_tokens": 18}),
    ]
    out = summarize(messages)
    assert out["output"] == "It is 5."
    assert out["steps"] == [{"tool": "calculator", "input": {"expression": "2+3"}, "output": "5"}]
    assert "usage" not in out  # summed by the run's callback handler, over every model call (run_agent)


def test_summarize_a_plain_answer() -> None:
    assert summarize([HumanMessage("hi"), AIMessage(content="hello")]) == {
        "output": "hello", "truncated": False, "finish_reason": None, "refusal": None, "steps": []}


def test_summarize_never_invents_a_tool_name() -> None:
    """A tool message that matches no call and names no tool is reported with `tool: None`."""
    out = summarize([HumanMessage("hi"), ToolMessage(content="42", tool_call_id="orphan"), AIMessage(content="42")])
    assert out["steps"] == [{"tool": None, "input": {}, "output": "42"}]


class ScriptedToolModel(GenericFakeChatModel):
    """Replays its messages; takes the agent's tools (and ignores them)."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


ANTHROPIC = adapter_class("anthropic")(Settings(provider="anthropic"))  # reads stop_reason; max_tokens is length


@pytest.mark.parametrize(("finish", "says"), [
    ({"stop_reason": "max_tokens"}, "the model called lookup with arguments that are not JSON (cut short by the "
                                    "token cap); the agent cannot run it"),
    ({"stop_reason": "end_turn"}, "the model called lookup with arguments that are not JSON; the agent cannot run it")])
async def test_a_turn_whose_only_tool_call_does_not_parse_is_an_error_not_an_empty_answer(
        finish: dict[str, str], says: str) -> None:
    # LangChain's agent ends on a turn with no parsed tool call: its answer would have been "" (or stray text).
    cut = AIMessage(content="", invalid_tool_calls=[invalid_tool_call(name="lookup", args='{"q": "Par', id="c1",
                                                                      error="not JSON")], response_metadata=finish)
    with pytest.raises(UpstreamBadResponseError) as info:
        await run_agent(ScriptedToolModel(messages=iter([cut])), "hi", None, 3, 10, max_tokens=50,
                        finish_reason=ANTHROPIC.finish_reason)
    assert (info.value.code, info.value.status, info.value.message) == ("agent_unparsed_tool_call", 502, says)
    assert summarize([HumanMessage("hi"), AIMessage(content="fine")])["output"] == "fine"  # a parsed turn is an answer


@pytest.mark.parametrize(("finish", "truncated"), [({"stop_reason": "max_tokens"}, True),
                                                   ({"stop_reason": "end_turn"}, False)])
async def test_an_answer_the_token_cap_cut_says_so(finish: dict[str, str], truncated: bool) -> None:
    answer = AIMessage(content="The answer is forty", response_metadata=finish)
    out = await run_agent(ScriptedToolModel(messages=iter([answer])), "hi", None, 3, 10, max_tokens=4,
                          finish_reason=ANTHROPIC.finish_reason)
    assert (out["output"], out["truncated"]) == ("The answer is forty", truncated)


def _call(tool: str, args: dict[str, Any], n: int, used: tuple[int, int] = (10, 2)) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": tool, "args": args, "id": f"call_{n}", "type": "tool_call"}],
                     usage_metadata={"input_tokens": used[0], "output_tokens": used[1], "total_tokens": sum(used)})


ADD = {"expression": "2+3"}


async def test_max_steps_allows_that_many_tool_rounds_and_the_answer() -> None:
    answer = AIMessage(content="It is 5.")
    out = await run_agent(ScriptedToolModel(messages=iter([_call("calculator", ADD, 1), answer])), "2+3?",
                          ["calculator"], 1, 10, max_tokens=50, finish_reason=ANTHROPIC.finish_reason)
    assert out["output"] == "It is 5." and [s["output"] for s in out["steps"]] == ["5"]
    script = [_call("calculator", ADD, 1), _call("calculator", ADD, 2), _call("calculator", ADD, 3), answer]
    out = await run_agent(ScriptedToolModel(messages=iter(script)), "2+3?", ["calculator"], 3, 10, max_tokens=50,
                          finish_reason=ANTHROPIC.finish_reason)
    assert out["output"] == "It is 5." and len(out["steps"]) == 3


async def test_one_tool_round_more_than_max_steps_is_the_step_limit_and_its_tokens_stay_counted() -> None:
    usage = RunUsage()
    script = iter([_call("calculator", ADD, 1), _call("calculator", ADD, 2), AIMessage(content="It is 5.")])
    with pytest.raises(AgentStepLimitError) as info:
        await run_agent(ScriptedToolModel(messages=script), "2+3?", ["calculator"], 1, 10, max_tokens=50,
                        finish_reason=ANTHROPIC.finish_reason, usage=usage)
    assert (info.value.status, info.value.code) == (422, "agent_step_limit")
    assert usage.openai() == {"prompt_tokens": 20, "completion_tokens": 4, "total_tokens": 24}  # both model calls


async def test_usage_counts_the_chat_tools_own_model_call() -> None:
    # The chat tool runs on the same (bound) model: the second scripted reply is its answer, never in the state.
    inner = AIMessage(content="Paris.", usage_metadata={"input_tokens": 7, "output_tokens": 3, "total_tokens": 10})
    final = AIMessage(content="Paris it is.",
                      usage_metadata={"input_tokens": 30, "output_tokens": 4, "total_tokens": 34})
    model = ScriptedToolModel(messages=iter([_call("chat", {"question": "capital of France?"}, 1), inner, final]))
    out = await run_agent(model, "capital?", ["chat"], 2, 10, max_tokens=50, finish_reason=ANTHROPIC.finish_reason)
    assert out["steps"] == [{"tool": "chat", "input": {"question": "capital of France?"}, "output": "Paris."}]
    assert out["usage"] == {"prompt_tokens": 47, "completion_tokens": 9, "total_tokens": 56}


OPENAI = adapter_class("openai")(Settings(provider="openai"))


@pytest.mark.parametrize(("adapter", "reply", "end"), [
    (OPENAI, AIMessage(content="", additional_kwargs={"refusal": "I can't help with that"},
                       response_metadata={"finish_reason": "stop"}),
     {"output": "", "finish_reason": "stop", "refusal": "I can't help with that"}),
    (OPENAI, AIMessage(content="Echo", response_metadata={"finish_reason": "content_filter"}),
     {"output": "Echo", "finish_reason": "content_filter", "refusal": None}),
    (ANTHROPIC, AIMessage(content="Echo", response_metadata={"stop_reason": "refusal"}),
     {"output": "Echo", "finish_reason": "content_filter", "refusal": None}),
    (ANTHROPIC, AIMessage(content="Echo", response_metadata={"stop_reason": "end_turn"}),
     {"output": "Echo", "finish_reason": "stop", "refusal": None}),
])
def test_a_refusal_or_a_filtered_answer_says_so(adapter: Any, reply: AIMessage, end: dict[str, Any]) -> None:
    out = summarize([HumanMessage("hi"), reply], adapter.finish_reason)
    assert {k: out[k] for k in end} == end and out["truncated"] is False
