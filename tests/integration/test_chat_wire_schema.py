"""Every JSON reply and SSE chunk of the gateway validates against OpenAI's published OpenAPI document
(`CreateChatCompletionResponse`, `CreateChatCompletionStreamResponse`, `ListModelsResponse`,
`ErrorResponse`), for every provider and case, through nginx."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import orjson
import pytest

from gateway.providers import adapter_class
from tests.support.openai_wire import WireCheck
from tests.support.stack import RunningStack

pytestmark = pytest.mark.integration

TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
SCHEMA = {"type": "json_schema", "json_schema": {"name": "p", "schema": {
    "type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"], "additionalProperties": False}}}
CALL = 'go [[mock:tool=get_weather {"city": "Rome"}]]'
PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()
USER = [{"role": "user", "content": "hello there"}]
TURNS = [{"role": "user", "content": CALL},
         {"role": "assistant", "content": None, "tool_calls": [
             {"id": "call_1", "type": "function",
              "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}}]},
         {"role": "tool", "tool_call_id": "call_1", "content": "warm"}]
# name -> (extra request fields, expected status)
CASES: dict[str, tuple[dict[str, Any], int]] = {
    "plain": ({"messages": USER}, 200),
    "length": ({"messages": USER, "max_tokens": 1}, 200),
    "tools": ({"messages": [{"role": "user", "content": CALL}], "tools": [TOOL]}, 200),
    "tool_result": ({"messages": TURNS, "tools": [TOOL]}, 200),
    "forced_tool": ({"messages": USER, "tools": [TOOL], "tool_choice": "required"}, 200),
    "json_schema": ({"messages": USER, "response_format": SCHEMA}, 200),
    "image": ({"messages": [{"role": "user", "content": [{"type": "text", "text": "see"},
                                                         {"type": "image_url", "image_url": {"url": PNG}}]}]}, 200),
    "unknown_param": ({"messages": USER, "frobnicate": True}, 400),
    "bad_value": ({"messages": USER, "temperature": 9}, 422),
    "unknown_model": ({"messages": USER, "model": "no-such-model"}, 404),
}


def check_reply(wire: WireCheck, resp: httpx.Response, status: int, where: str) -> None:
    assert resp.status_code == status, resp.text
    wire.check("CreateChatCompletionResponse" if status == 200 else "ErrorResponse", resp.json(), where)


def check_stream(wire: WireCheck, http: httpx.Client, url: str, headers: dict[str, str], body: dict[str, Any],
                 where: str) -> int:
    with http.stream("POST", url, json=body, headers=headers) as resp:
        assert resp.status_code == 200
        lines = [line for line in resp.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    for line in lines[:-1]:
        wire.check("CreateChatCompletionStreamResponse", orjson.loads(line.removeprefix("data: ")), where)
    return len(lines) - 1


def test_every_reply_matches_openais_published_schema(stack: RunningStack, provider: str,
                                                      http: httpx.Client) -> None:
    wire = WireCheck()
    url = f"{stack.url}/{provider}/v1/chat/completions"
    headers = {"Authorization": f"Bearer {stack.keys[provider]}"}
    for name, (fields, status) in CASES.items():
        body = {"model": stack.model(provider), **fields}
        check_reply(wire, http.post(url, json=body, headers=headers), status, f"{provider}/{name}")
        if status == 200:
            streamed = {**body, "stream": True, "stream_options": {"include_usage": True}}
            assert check_stream(wire, http, url, headers, streamed, f"{provider}/{name}/stream") >= 3
    logprobs = {"model": stack.model(provider), "messages": USER, "logprobs": True, "top_logprobs": 1}
    status = 400 if "logprobs" in adapter_class(provider).refused else 200  # refused where the provider has none
    resp = http.post(url, json=logprobs, headers=headers)
    check_reply(wire, resp, status, f"{provider}/logprobs")
    if status == 200:
        assert resp.json()["choices"][0]["logprobs"]["content"]  # honoured, not dropped
        check_stream(wire, http, url, headers, {**logprobs, "stream": True}, f"{provider}/logprobs/stream")
    check_reply(wire, http.post(url, json={"messages": USER}), 401, f"{provider}/no_key")
    check_reply(wire, http.post(url, json={"messages": USER}, headers={"Authorization": "Bearer lgw_wrong"}), 401,
                f"{provider}/bad_key")
    other = next(p for p in stack.keys if p != provider)
    check_reply(wire, http.post(url, json={"messages": USER}, headers={"Authorization": f"Bearer {stack.keys[other]}"}),
                403, f"{provider}/other_key")
    check_reply(wire, http.get(f"{stack.url}/{provider}/v1/nope", headers=headers), 404, f"{provider}/no_route")
    models = http.get(f"{stack.url}/{provider}/v1/models", headers=headers)
    wire.check("ListModelsResponse", models.json(), f"{provider}/models")
    print(f"\nwire schema [{provider}]: {wire.total} documents checked {wire.checks}, "
          f"{len(wire.violations)} violations")
    assert wire.violations == []
