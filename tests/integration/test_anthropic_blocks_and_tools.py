"""`POST /anthropic/v1/messages` through nginx: documents, search results and every kind of client tool reach
Anthropic as sent; server tools and their blocks are refused by name, with the reason."""

from __future__ import annotations

import base64
import ssl
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest
from anthropic.types import ToolParam, ToolResultBlockParam, ToolUseBlockParam
from langchain_anthropic import ChatAnthropic
from langchain_core.tools import tool
from pydantic import SecretStr

from tests.integration.sdk_narrowing import error_body, text_of, tool_use
from tests.support.stack import RunningStack

pytestmark = pytest.mark.integration
MODEL = "claude-sonnet-4-6"
PDF = base64.b64encode(b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n").decode()


@pytest.fixture
def client(anthropic_sdk: anthropic.Anthropic) -> anthropic.Anthropic:
    return anthropic_sdk


def _received(http: httpx.Client, stack: RunningStack) -> dict[str, Any]:
    """The last Messages request the mock upstream received (its body without `messages`)."""
    return http.get(f"{stack.mock_url}/_mock/stats").json()["anthropic"]["last_params"]


def test_documents_and_search_results_reach_anthropic(client: anthropic.Anthropic) -> None:
    content: list[Any] = [
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
         "title": "report", "citations": {"enabled": True}, "cache_control": {"type": "ephemeral"}},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "The sky is blue."},
         "context": "a note"},
        {"type": "document", "source": {"type": "url", "url": "https://example.org/a.pdf"}},
        {"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": "part one"}]}},
        {"type": "search_result", "source": "https://example.org/sky", "title": "Sky",
         "content": [{"type": "text", "text": "The sky is blue."}], "citations": {"enabled": True}},
        {"type": "text", "text": "what colour is the sky"}]
    msg = client.messages.create(model=MODEL, max_tokens=50, messages=[{"role": "user", "content": content}])
    assert text_of(msg.content[0]).endswith("what colour is the sky")
    counted = client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": content}])
    assert counted.input_tokens > 0


def test_a_tool_result_may_hold_documents_and_search_results(client: anthropic.Anthropic) -> None:
    call: ToolUseBlockParam = {"type": "tool_use", "id": "toolu_1", "name": "search", "input": {"q": "sky"}}
    result: ToolResultBlockParam = {"type": "tool_result", "tool_use_id": "toolu_1", "content": [
        {"type": "search_result", "source": "kb://sky", "title": "Sky", "content": [{"type": "text", "text": "blue"}]},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "blue"}}]}
    tools: list[ToolParam] = [
        {"name": "search", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}]
    msg = client.messages.create(model=MODEL, max_tokens=50, tools=tools, messages=[
        {"role": "user", "content": "sky?"}, {"role": "assistant", "content": [call]},
        {"role": "user", "content": [result]}])
    assert msg.stop_reason == "end_turn"


@pytest.mark.local_stack  # reads the mock's last request: no other client may send in between
def test_every_kind_of_client_tool_reaches_anthropic_as_sent(client: anthropic.Anthropic, stack: RunningStack,
                                                            http: httpx.Client) -> None:
    tools: list[Any] = [
        {"name": "get_weather", "description": "Weather of a city", "strict": True, "eager_input_streaming": True,
         "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                          "additionalProperties": False},
         "input_examples": [{"city": "Paris"}], "allowed_callers": ["direct"]},
        {"type": "bash_20250124", "name": "bash"},
        {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool", "max_characters": 10000},
        {"type": "memory_20250818", "name": "memory"},
        {"type": "computer_toolset_20260801", "configs": {"zoom": {"enabled": False}}},
        {"type": "browser_toolset_20260801"}]
    ask = 'weather [[mock:tool=get_weather {"city": "Paris"}]]'
    msg = client.messages.create(model=MODEL, max_tokens=50, tools=tools,
                                 messages=[{"role": "user", "content": ask}])
    assert msg.stop_reason == "tool_use" and tool_use(msg.content[0]).input == {"city": "Paris"}
    assert _received(http, stack)["tools"] == tools
    assert client.messages.count_tokens(model=MODEL, tools=tools, messages=[{"role": "user", "content": "x"}])


@pytest.mark.local_stack  # reads the mock's last request: no other client may send in between
def test_chat_anthropic_strict_tools(stack: RunningStack, monkeypatch: pytest.MonkeyPatch, http: httpx.Client) -> None:
    @tool
    def get_weather(city: str) -> str:
        """Weather of a city."""
        return "sunny"

    monkeypatch.setenv("SSL_CERT_FILE", str(stack.ca))  # ChatAnthropic builds its own HTTP client
    llm = ChatAnthropic(base_url=f"{stack.url}/anthropic", api_key=SecretStr(stack.keys["anthropic"]),
                        model_name=MODEL, max_retries=0, max_tokens_to_sample=200, timeout=60, stop=None)
    answer = llm.bind_tools([get_weather], strict=True).invoke('weather [[mock:tool=get_weather {"city": "Rome"}]]')
    assert answer.tool_calls[0]["args"] == {"city": "Rome"}
    assert _received(http, stack)["tools"][0]["strict"] is True


REFUSED = [  # (a part of the request, the param the 400 names, what it says)
    ({"tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 1}]}, "tools.0.type",
     "'web_search_20250305' is not supported by this gateway (server tools are not served"),
    ({"tools": [{"type": "code_execution_20250825", "name": "code_execution"}]}, "tools.0.type",
     "'code_execution_20250825' is not supported by this gateway (server tools are not served"),
    ({"tools": [{"type": "tool_search_tool_regex_20251119", "name": "tool_search_tool_regex"}]}, "tools.0.type",
     "is not supported by this gateway (server tools"),
    ({"tools": [{"name": "get", "input_schema": {}, "defer_loading": True}]}, "tools.0.custom.defer_loading",
     "not supported by this gateway (deferred tools are found by a tool search tool"),
    ({"tools": [{"type": "calculator_20990101", "name": "calc"}]}, "tools.0.type",
     "unknown type 'calculator_20990101' (expected one of 'custom', 'bash_20250124'"),
    ({"messages": [{"role": "user", "content": [{"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search",
                                                 "input": {}}]}]},
     "messages.0.content.0.type", "'server_tool_use' is not supported by this gateway (server tools"),
    ({"messages": [{"role": "user", "content": [{"type": "document", "source": {"type": "file", "file_id": "f_1"}}]}]},
     "messages.0.content.0.document.source.type", "'file' is not supported by this gateway (the Files API"),
    ({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "file", "file_id": "f_1"}}]}]},
     "messages.0.content.0.image.source.type", "'file' is not supported by this gateway (the Files API"),
    ({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "data": "AAAA"}}]}]},
     "messages.0.content.0.image.source.base64.media_type", "Field required"),
    ({"messages": [{"role": "user", "content": [{"type": "video", "url": "x"}]}]}, "messages.0.content.0.type",
     "unknown type 'video' (expected one of 'text', 'image', 'document'"),
]


@pytest.mark.parametrize(("part", "param", "says"), REFUSED, ids=[r[1] + ":" + str(i) for i, r in enumerate(REFUSED)])
def test_what_is_not_served_is_refused_by_name_with_the_reason(stack: RunningStack, http: httpx.Client,
                                                               part: dict[str, Any], param: str, says: str) -> None:
    body = {"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "x"}], **part}
    for route in ("/v1/messages", "/v1/messages/count_tokens"):
        sent = body if route == "/v1/messages" else {k: v for k, v in body.items() if k != "max_tokens"}
        resp = http.post(f"{stack.url}/anthropic{route}", json=sent, headers={
            "x-api-key": stack.keys["anthropic"], "anthropic-version": "2023-06-01"})
        assert resp.status_code == 400, resp.text
        error = resp.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert error["message"].startswith(f"{param}: ") and says in error["message"], error["message"]



def test_extended_thinking_blocks_reach_the_sdk_signed(client: anthropic.Anthropic) -> None:
    ask: Any = [{"role": "user", "content": "think first"}]
    reply = client.messages.create(model=MODEL, max_tokens=2048, messages=ask,
                                   thinking={"type": "enabled", "budget_tokens": 1024})
    thought, text = reply.content
    assert thought.type == "thinking" and thought.thinking and thought.signature  # the signature, to send back
    assert text.type == "text" and text.text == "Echo: think first"
    with client.messages.stream(model=MODEL, max_tokens=2048, messages=ask,
                                thinking={"type": "enabled", "budget_tokens": 1024}) as stream:
        streamed = "".join(e.thinking for e in stream if e.type == "thinking")
        final = stream.get_final_message()
    assert streamed == thought.thinking and final.content[0].to_dict() == thought.to_dict()
    assert final.content[1].type == "text" and final.content[1].text == text.text
    # The thinking turn goes back as received (signature included), as a tool loop with thinking requires.
    again = client.messages.create(model=MODEL, max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 1024},
                                   messages=[*ask, {"role": "assistant", "content": reply.content},
                                             {"role": "user", "content": "and now"}])
    assert again.content[-1].type == "text" and again.content[-1].text == "Echo: and now"


def test_reasoning_effort_on_chat_is_anthropics_effort_and_its_thinking_stays_out(stack: RunningStack) -> None:
    chat = openai.OpenAI(base_url=f"{stack.url}/anthropic/v1", api_key=stack.keys["anthropic"], max_retries=0,
                         http_client=httpx2.Client(verify=ssl.create_default_context(cafile=str(stack.ca))))
    ask: Any = [{"role": "user", "content": "think first"}]
    # OpenAI's chat has no field for thinking: the reply is the answer's text, as from OpenAI's reasoning models.
    reply = chat.chat.completions.create(model=MODEL, messages=ask, reasoning_effort="high")
    assert reply.choices[0].message.content == "Echo: think first"
    chunks = list(chat.chat.completions.create(model=MODEL, messages=ask, reasoning_effort="low", stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Echo: think first"
    for below in ("none", "minimal"):  # Anthropic's levels start at low
        with pytest.raises(openai.BadRequestError) as refused:
            chat.chat.completions.create(model=MODEL, messages=ask, reasoning_effort=below)
        assert error_body(refused.value)["param"] == "reasoning_effort"
        assert "levels are low, medium, high, xhigh and max" in error_body(refused.value)["message"]


@pytest.mark.local_stack  # reads the mock's last request: no other client may send in between
def test_max_tokens_0_warms_the_prompt_cache_without_a_reply(client: anthropic.Anthropic, stack: RunningStack) -> None:
    # The API's pre-warming: the request (its cache breakpoints) reaches Anthropic, nothing is generated.
    system: list[anthropic.types.TextBlockParam] = [
        {"type": "text", "text": "a long shared prefix", "cache_control": {"type": "ephemeral"}}]
    warm = client.messages.create(model=MODEL, max_tokens=0, system=system,
                                  messages=[{"role": "user", "content": "hello"}])
    assert (warm.content, warm.stop_reason, warm.usage.output_tokens) == ([], "max_tokens", 0)
    with httpx.Client(timeout=10) as http:
        assert _received(http, stack)["max_tokens"] == 0
    with client.messages.stream(model=MODEL, max_tokens=0, system=system,
                                messages=[{"role": "user", "content": "hello"}]) as stream:
        final = stream.get_final_message()
    assert (final.content, final.stop_reason) == ([], "max_tokens")
