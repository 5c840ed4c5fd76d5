"""The fuzzer's hook (schemathesis_hooks.py, beside this file): a named tool_choice among the offered tools,
well-formed JSON schemas where a client's schema goes to a provider's converter, and a conversation every
provider's integration takes."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import pytest

from tests.reliability.schemathesis_hooks import SCHEMA, before_call

TOOLS = [{"type": "function", "function": {"name": "f"}}, {"type": "function", "function": {"name": "g"}}]


def call(path: str, body: Any) -> Any:
    case = SimpleNamespace(operation=SimpleNamespace(path=path), body=body)
    before_call(None, case, {})
    return case.body


def test_a_function_that_is_not_offered_becomes_the_first_offered_one() -> None:
    body = {"tools": copy.deepcopy(TOOLS), "tool_choice": {"type": "function", "function": {"name": "zz"}}}
    assert call("/v1/chat/completions", body)["tool_choice"]["function"]["name"] == "f"


@pytest.mark.parametrize("body", [
    {"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "g"}}},  # offered: kept
    {"tools": TOOLS, "tool_choice": "auto"},
    {"tool_choice": {"type": "function", "function": {"name": "zz"}}},  # no tools: the schema's own rule
    {"tools": [{"type": "function", "function": {"name": 7}}], "tool_choice": {"type": "function",
                                                                             "function": {"name": "zz"}}},
    ["not", "an", "object"],
    # negative cases (schemathesis seed 5 put a number where `tools` is a list): sent as they are, for the
    # gateway to refuse
    {"tools": 1.5, "tool_choice": {"type": "function", "function": {"name": "zz"}}},
    {"tools": {"function": {"name": "f", "parameters": {}}}},
    {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "a", "tool_calls": 2.5},
                  {"role": "user", "content": "go"}]},
])
def test_everything_else_is_sent_as_generated(body: Any) -> None:
    assert call("/v1/chat/completions", copy.deepcopy(body)) == body


def test_other_operations_are_left_alone() -> None:
    body = {"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "zz"}}}
    assert call("/v1/messages", copy.deepcopy(body)) == body


@pytest.mark.parametrize(("given", "sent"), [("\x1c", "x"), (" \n", "x"), (" hi ", " hi "), ("", ""), (7, 7)])
def test_the_agents_input_is_never_blank_text(given: Any, sent: Any) -> None:
    # Anthropic refuses a whitespace-only user message (the gateway answers its 400); "" (shorter than the
    # schema's minimum) and a non-string are negative cases, sent as generated.
    assert call("/v1/agent", {"input": given, "max_steps": 2}) == {"input": sent, "max_steps": 2}


def test_a_clients_json_schemas_become_well_formed_ones() -> None:
    body = {"response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": {"anyOf": 3}}},
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"/": []}}},
                      {"type": "function", "function": {"name": "g"}}]}  # no parameters: left so
    sent = call("/v1/chat/completions", body)
    assert sent["response_format"]["json_schema"]["schema"] == SCHEMA
    assert [t["function"].get("parameters") for t in sent["tools"]] == [SCHEMA, None]


def test_every_tool_takes_the_first_tools_strictness() -> None:
    tools = [{"type": "function", "function": {"name": "f", "strict": True}},
             {"type": "function", "function": {"name": "g"}},
             {"type": "function", "function": {"name": "h", "strict": None}},
             {"type": "function", "function": {"name": "i", "strict": True}}]
    sent = call("/v1/chat/completions", {"tools": tools})
    assert [t["function"].get("strict") for t in sent["tools"]] == [True, True, True, True]
    lax = [{"type": "function", "function": {"name": "f", "strict": None}}, {"type": "function", "function": {
        "name": "g", "strict": True}}, {"type": "function", "function": {"name": "h"}}]
    sent = call("/v1/chat/completions", {"tools": lax})
    assert [t["function"].get("strict", "absent") for t in sent["tools"]] == [None, False, "absent"]


def test_a_conversation_is_made_one_every_integration_takes() -> None:
    def asked(call_id: str, *, arguments: str) -> dict[str, Any]:
        return {"role": "assistant", "content": "text beside", "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": "f", "arguments": arguments}}]}

    def answer(call_id: str) -> dict[str, Any]:
        return {"role": "tool", "tool_call_id": call_id, "content": "r"}
    messages = [{"role": "developer", "content": "a"}, {"role": "system", "content": "b"},  # the first run: kept
                {"role": "user", "content": "x"}, asked("c1", arguments="\u00be"), answer("c1"),
                asked("c2", arguments='{"x": NaN}'), answer("c2"), asked("c3", arguments='{"k": 1}'), answer("c3"),
                {"role": "system", "content": "c"}, {"role": "assistant", "content": "y"}]
    sent = call("/v1/chat/completions", {"messages": messages})["messages"]
    assert [m["role"] for m in sent] == ["developer", "system", "user", "assistant", "tool", "assistant", "tool",
                                         "assistant", "tool", "user", "assistant", "user"]  # late system; user last
    assert [m["tool_calls"][0]["function"]["arguments"] for m in sent[3:9:2]] == ["{}", "{}", '{"k": 1}']
    assert [(m["content"], m["refusal"]) for m in sent[3:9:2]] == [(None, None)] * 3  # no text beside tool calls
    assert sent[10]["content"] == "y"  # a turn without tool calls keeps its text
    kept = [{"role": "user", "content": "x"}, {"role": "system", "content": "late, but the only run"},
            {"role": "assistant", "content": None, "refusal": None, "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c", "content": "r"}]
    assert call("/v1/chat/completions", {"messages": copy.deepcopy(kept)}) == {"messages": kept}


def test_calls_and_answers_are_paired_as_openai_and_anthropic_require() -> None:
    def asked(*ids: str) -> dict[str, Any]:
        return {"role": "assistant", "content": None, "refusal": None, "tool_calls": [
            {"id": i, "type": "function", "function": {"name": "f", "arguments": "{}"}} for i in ids]}
    messages = [{"role": "tool", "tool_call_id": "orphan", "content": "r"}, asked("a", "b"),
                {"role": "tool", "tool_call_id": "b", "content": "r"}, {"role": "user", "content": "u"},
                asked("z"), {"role": "user", "content": "v"}]
    sent = call("/v1/chat/completions", {"messages": messages})["messages"]
    assert sent[0] == {"role": "user", "content": "r"}  # an answer to no call: a user's message
    assert [c["id"] for c in sent[1]["tool_calls"]] == ["b"]  # the call never answered goes
    assert sent[4]["tool_calls"] is None and sent[4]["content"] == "x"  # none answered: a text turn
    blocks = [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t0", "content": "r"}]},
              {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}},
                                                {"type": "tool_use", "id": "t2", "name": "f", "input": {}}]},
              {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t2", "content": "r"}]},
              {"role": "assistant", "content": [{"type": "tool_use", "id": "t3", "name": "f", "input": {}}]}]
    sent = call("/v1/messages", {"messages": blocks, "max_tokens": 10})["messages"]
    assert sent[0]["content"] == [{"type": "text", "text": "x"}]  # a result of no tool_use: text
    assert [b["type"] for b in sent[1]["content"]] == ["text", "tool_use"]  # t1 unanswered: text
    assert sent[3]["content"][0]["type"] == "tool_use"  # the final assistant turn's call: the client's to run


def test_anthropic_rules_beyond_the_schema_are_met() -> None:
    body = {"max_tokens": 2048.0, "temperature": 0.5, "top_k": 5, "top_p": 0.5, "tool_choice": {"type": "any"},
            "thinking": {"type": "enabled", "budget_tokens": 4096},
            "tools": [{"name": "f", "input_schema": {"type": "string"}}],
            "system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}] * 6,
            "messages": [{"role": "user", "content": "hi"}]}
    sent = call("/v1/messages", body)
    assert {"temperature", "top_k", "top_p"}.isdisjoint(sent) and sent["tool_choice"] == {"type": "auto"}
    assert (sent["thinking"]["budget_tokens"], sent["max_tokens"]) == (1024, 2048.0)
    assert sent["tools"][0]["input_schema"]["type"] == "object"
    assert sum(block.get("cache_control") is not None for block in sent["system"]) == 4


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_text_anthropic_refuses_becomes_text_it_takes(path: str) -> None:
    messages = [{"role": "user", "content": ""}, {"role": "assistant", "content": " ", "refusal": "\n"},
                {"role": "user", "content": [{"type": "text", "text": ""}, {"type": "image_url"}]},
                {"role": "tool", "tool_call_id": "c", "content": ""},  # answers no call: a user's (chat)
                {"role": "user", "content": " kept as sent "}, {"role": "assistant", "content": [
                    {"type": "text", "text": "a"}, {"type": "text", "text": "b \n"}]}]
    sent = call(path, {"messages": messages})["messages"]
    orphan = "x" if path == "/v1/chat/completions" else ""
    assert [m.get("content") for m in sent[:5]] == ["x", "x", [{"type": "text", "text": "x"}, {"type": "image_url"}],
                                                    orphan, " kept as sent "]
    assert sent[1]["refusal"] == "x"
    last = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]  # the final assistant text, stripped
    if path == "/v1/chat/completions":  # a user turn comes after it (for Cohere): no longer the final one
        last[1]["text"] = "b \n"
    assert sent[5]["content"] == last


def test_a_late_blank_system_message_becomes_a_user_message_anthropic_takes() -> None:
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}, {"role": "system", "content": ""}]
    sent = call("/v1/chat/completions", {"messages": messages})["messages"]
    assert sent[2] == {"role": "user", "content": "x"}  # a second run of system messages: a user's, then not blank


def test_one_message_object_at_two_places_is_edited_at_each_alone() -> None:
    shared = {"role": "system", "content": "s"}
    sent = call("/v1/chat/completions", {"messages": [shared, {"role": "user", "content": "u"}, shared]})["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "user"]  # the later one only: the first run is kept
