"""The mock refuses, in Anthropic's words and error envelope, what the real Messages API refuses (in process)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

try:
    import mockllm  # noqa: F401
except ImportError:  # services/ not on sys.path (package not installed)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services"))

from mockllm.app import create_app
from mockllm.config import MockConfig

KEY = "k1"
HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
ASK = [{"role": "user", "content": "hello there"}]
TOOLS = [{"name": "f", "input_schema": {"type": "object"}}]
THINK = {"type": "enabled", "budget_tokens": 1024}
CONSULT = "Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"


@pytest.fixture
async def client() -> Any:
    app = create_app(MockConfig(api_keys=frozenset({KEY})))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock") as c:
        yield c


async def _post(client: httpx.AsyncClient, headers: dict[str, str] | None = None, **fields: Any) -> httpx.Response:
    body = {"model": "claude-sonnet-4-6", "max_tokens": 4000, "messages": ASK, **fields}
    return await client.post("/v1/messages", json=body, headers=headers or HEADERS)


def _refused(r: httpx.Response) -> str:
    """The message of an Anthropic 400 (its whole envelope checked)."""
    doc = r.json()
    assert r.status_code == 400, r.text
    assert set(doc) == {"type", "error", "request_id"} and doc["type"] == "error"
    assert doc["error"]["type"] == "invalid_request_error"
    return doc["error"]["message"]


@pytest.mark.parametrize(("fields", "says"), [
    ({"thinking": THINK, "temperature": 0.5},
     "temperature may only be set to 1 when thinking is enabled or in adaptive mode"),
    ({"thinking": {"type": "adaptive"}, "temperature": 0},
     "temperature may only be set to 1 when thinking is enabled or in adaptive mode"),
    ({"thinking": THINK, "top_k": 5},
     f"`top_k` must be unset when thinking is enabled. {CONSULT}"
     "#important-considerations-when-using-extended-thinking"),
    ({"thinking": THINK, "top_p": 0.5},
     "`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled"),
    ({"thinking": THINK, "tools": TOOLS, "tool_choice": {"type": "any"}},
     "Thinking may not be enabled when tool_choice forces tool use."),
    ({"thinking": {"type": "adaptive"}, "tools": TOOLS, "tool_choice": {"type": "tool", "name": "f"}},
     "Thinking may not be enabled when tool_choice forces tool use."),
    ({"thinking": {"type": "enabled", "budget_tokens": 4000}, "max_tokens": 2000},
     f"`max_tokens` must be greater than `thinking.budget_tokens`. {CONSULT}#max-tokens-and-context-window-size"),
    ({"thinking": {"type": "enabled", "budget_tokens": 2000}, "max_tokens": 2000},
     f"`max_tokens` must be greater than `thinking.budget_tokens`. {CONSULT}#max-tokens-and-context-window-size"),
    ({"thinking": {"type": "enabled", "budget_tokens": 1023}},
     "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"),
    ({"thinking": {"type": "enabled"}}, "thinking.enabled.budget_tokens: Field required"),
])
async def test_thinking_refuses_what_anthropic_refuses(client: httpx.AsyncClient, fields: dict[str, Any],
                                                       says: str) -> None:
    assert _refused(await _post(client, **fields)) == says


@pytest.mark.parametrize("fields", [
    {"thinking": THINK, "temperature": 1},  # the sampling thinking allows
    {"thinking": THINK, "top_p": 0.95},
    {"thinking": {"type": "adaptive"}, "top_p": 1},
    {"thinking": THINK, "tools": TOOLS, "tool_choice": {"type": "auto"}},
    {"thinking": {"type": "disabled"}, "temperature": 0.2, "top_k": 5, "tools": TOOLS, "tool_choice": {"type": "any"}},
    {"thinking": THINK, "max_tokens": 0},  # a cache pre-warm generates nothing
    {"temperature": 0.2, "top_k": 5},  # no thinking, no rule
])
async def test_thinking_accepts_what_anthropic_accepts(client: httpx.AsyncClient, fields: dict[str, Any]) -> None:
    assert (await _post(client, **fields)).status_code == 200


async def test_interleaved_thinking_lets_the_budget_pass_max_tokens(client: httpx.AsyncClient) -> None:
    fields = {"thinking": {"type": "enabled", "budget_tokens": 8000}, "max_tokens": 2000, "tools": TOOLS}
    beta = {**HEADERS, "anthropic-beta": "interleaved-thinking-2025-05-14"}
    r = await _post(client, beta, **fields)
    assert r.status_code == 200 and r.json()["content"][0]["type"] == "thinking"


def _call(ident: str) -> dict[str, Any]:
    return {"type": "tool_use", "id": ident, "name": "f", "input": {}}


def _result(ident: str) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": ident, "content": "1"}


RESULT_WITHOUT_USE = ("messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: {id}. Each "
                      "`tool_result` block must have a corresponding `tool_use` block in the previous message.")
USE_WITHOUT_RESULT = ("messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: {ids}. "
                      "Each `tool_use` block must have a corresponding `tool_result` block in the next message.")


@pytest.mark.parametrize(("messages", "says"), [
    ([{"role": "user", "content": [_result("toolu_x")]}], RESULT_WITHOUT_USE.format(i=0, j=0, id="toolu_x")),
    ([*ASK, {"role": "assistant", "content": [_call("toolu_1")]},
      {"role": "user", "content": [_result("toolu_1"), _result("toolu_2")]}],
     RESULT_WITHOUT_USE.format(i=2, j=1, id="toolu_2")),
    ([*ASK, {"role": "assistant", "content": [_call("toolu_1")]}, {"role": "user", "content": "go on"}],
     USE_WITHOUT_RESULT.format(i=1, ids="toolu_1")),
    ([*ASK, {"role": "assistant", "content": [_call("toolu_1"), _call("toolu_2")]},
      {"role": "user", "content": [_result("toolu_1")]}], USE_WITHOUT_RESULT.format(i=1, ids="toolu_2")),
    ([*ASK, {"role": "assistant", "content": [_call("toolu_1")]},  # the results must open the next message
      {"role": "user", "content": [{"type": "text", "text": "here"}, _result("toolu_1")]}],
     USE_WITHOUT_RESULT.format(i=1, ids="toolu_1")),
])
async def test_tool_use_and_tool_result_pair_up(client: httpx.AsyncClient, messages: list[Any], says: str) -> None:
    assert _refused(await _post(client, messages=messages, tools=TOOLS)) == says


async def test_paired_tool_calls_and_a_final_call_are_accepted(client: httpx.AsyncClient) -> None:
    paired = [*ASK, {"role": "assistant", "content": [{"type": "text", "text": "let me see"}, _call("toolu_1")]},
              {"role": "user", "content": [_result("toolu_1"), {"type": "text", "text": "and?"}]}]
    r = await _post(client, messages=paired, tools=TOOLS)
    assert (r.status_code, r.json()["content"][0]["text"]) == (200, "Tool result: 1")
    final = [*ASK, {"role": "assistant", "content": [_call("toolu_1")]}]  # a prefill the reply continues
    assert (await _post(client, messages=final, tools=TOOLS)).status_code == 200


def _cached(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}


async def test_at_most_four_cache_breakpoints(client: httpx.AsyncClient) -> None:
    system = [_cached(f"s{i}") for i in range(5)]
    assert _refused(await _post(client, system=system)) == (
        "A maximum of 4 blocks with cache_control may be provided. Found 5.")
    tools = [{**TOOLS[0], "cache_control": {"type": "ephemeral"}}]
    asked = [{"role": "user", "content": [_cached("a"), _cached("b")]}]
    fields = {"system": system[:2], "tools": tools, "messages": asked, "cache_control": {"type": "ephemeral"}}
    assert _refused(await _post(client, **fields)).endswith("Found 6.")  # the top-level one takes a slot
    fields = {"system": system[:2], "tools": tools, "messages": [{"role": "user", "content": [_cached("a")]}]}
    assert (await _post(client, **fields)).status_code == 200


async def test_a_tool_schema_must_be_an_object_schema(client: httpx.AsyncClient) -> None:
    r = await _post(client, tools=[{"name": "f", "input_schema": {"type": "string"}}])
    assert _refused(r) == "tools.0.custom.input_schema.type: Input should be 'object'"
    r = await _post(client, tools=[*TOOLS, {"name": "g", "input_schema": {"properties": {}}}])
    assert _refused(r) == "tools.1.custom.input_schema.type: Field required"


async def test_max_tokens_below_zero_is_refused_zero_prewarms(client: httpx.AsyncClient) -> None:
    assert _refused(await _post(client, max_tokens=-1)) == "max_tokens: Input should be greater than or equal to 0"
    r = await _post(client, max_tokens=0)
    assert (r.status_code, r.json()["content"]) == (200, [])


async def test_every_anthropic_response_carries_a_request_id(client: httpx.AsyncClient) -> None:
    ok = await _post(client)
    assert ok.status_code == 200 and ok.headers["request-id"].startswith("req_")
    stream = await _post(client, stream=True)
    assert stream.headers["request-id"].startswith("req_")
    fault = await _post(client, messages=[{"role": "user", "content": "x [[mock:fault=429]]"}])
    refused = await _post(client, max_tokens=-1)
    unauthorized = await _post(client, {"x-api-key": "nope", "anthropic-version": "2023-06-01"})
    counted = await client.post("/v1/messages/count_tokens", json={"model": "m"}, headers=HEADERS)
    missing = await client.get("/v1/models/nope", headers=HEADERS)
    for r, status in ((fault, 429), (refused, 400), (unauthorized, 401), (counted, 400), (missing, 404)):
        assert r.status_code == status
        assert json.loads(r.content)["request_id"] == r.headers["request-id"]
    ids = {r.headers["request-id"] for r in (ok, stream, fault, refused, unauthorized, counted, missing)}
    assert len(ids) == 7  # one per request
    listed = await client.get("/v1/models", headers=HEADERS)
    assert listed.headers["request-id"].startswith("req_")
    openai = await client.get("/v1/models", headers={"authorization": f"Bearer {KEY}"})
    assert "request-id" not in openai.headers  # only Anthropic's answers carry one
