"""The mock behind the three LangChain integrations: invoke, stream, tools, async."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_anthropic import ChatAnthropic
from langchain_cohere import ChatCohere
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, ToolMessage
from langchain_mistralai import ChatMistralAI
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

import catalogue
import gateway.providers.cohere  # noqa: F401 — reads a plain reply's billed units, in every ChatCohere of the process
from tests.integration.mock.common import KEY, TOOL_ASK, get_weather
from tests.support.mockproc import MockServer

pytestmark = pytest.mark.integration


def _lc_models(url: str) -> dict[str, Any]:
    return {
        "openai": ChatOpenAI(
            base_url=f"{url}/v1", api_key=SecretStr(KEY), model="gpt-4o-mini", max_retries=0, stream_usage=True
        ),
        "anthropic": ChatAnthropic(
            model_name="claude-haiku-4-5",
            base_url=url,
            api_key=SecretStr(KEY),
            max_retries=0,
            timeout=None,
            stop=None,
        ),
        "cohere": ChatCohere(base_url=url, cohere_api_key=SecretStr(KEY), model="command-r-plus-08-2024"),
        "mistral": ChatMistralAI(base_url=f"{url}/mistral/v1", api_key=SecretStr(KEY),
                                 model_name="mistral-small-latest", max_retries=0),
    }


@pytest.mark.parametrize("provider", ["openai", "anthropic", "cohere", "mistral"])
def test_langchain_invoke_stream_tools(mock: MockServer, provider: str) -> None:
    llm = _lc_models(mock.url)[provider]
    msg = llm.invoke("hello there")
    assert isinstance(msg, AIMessage) and msg.content == "Echo: hello there"
    assert msg.usage_metadata is not None
    # Cohere's billed units (its `tokens` add the prompt template): imported above, so whichever file ran first
    assert (msg.usage_metadata["input_tokens"], msg.usage_metadata["output_tokens"]) == (2, 3)

    chunks = list(llm.stream("one two three"))
    assert len(chunks) >= 4
    total: Any = chunks[0]
    for c in chunks[1:]:
        total = total + c
    assert isinstance(total, AIMessageChunk) and total.text == "Echo: one two three"
    if provider == "cohere":  # langchain-cohere streams usage only as additional_kwargs["token_count"]
        assert total.additional_kwargs["token_count"]["output_tokens"] == 4
    else:
        assert total.usage_metadata is not None and total.usage_metadata["output_tokens"] == 4

    bound = llm.bind_tools([get_weather])
    ai = bound.invoke(TOOL_ASK)
    assert [(c["name"], c["args"]) for c in ai.tool_calls] == [("get_weather", {"city": "Paris"})]
    streamed: Any = None
    for c in bound.stream(TOOL_ASK):
        streamed = c if streamed is None else streamed + c
    if provider == "cohere":
        # langchain-cohere 0.6.0 gives every streamed tool-call chunk a fresh uuid, so the chunks do not
        # merge; the complete calls arrive in the last chunk's additional_kwargs["tool_calls"].
        calls = [(c["function"]["name"], c["function"]["arguments"]) for c in streamed.additional_kwargs["tool_calls"]]
        assert calls == [("get_weather", '{"city":"Paris"}')]
    else:
        assert [(c["name"], c["args"]) for c in streamed.tool_calls] == [("get_weather", {"city": "Paris"})]

    history: list[BaseMessage] = [HumanMessage(TOOL_ASK), ai, ToolMessage("22C", tool_call_id=ai.tool_calls[0]["id"])]
    assert bound.invoke(history).text == "Tool result: 22C"


@pytest.mark.parametrize("provider", ["openai", "anthropic", "cohere", "mistral"])
async def test_langchain_async_paths(mock: MockServer, provider: str) -> None:
    llm = _lc_models(mock.url)[provider]
    msg = await llm.ainvoke("async hello")
    assert msg.content == "Echo: async hello"
    pieces = [c.text async for c in llm.astream("a b c")]
    assert "".join(pieces) == "Echo: a b c" and len([p for p in pieces if p]) == 4
    ai = await llm.bind_tools([get_weather]).ainvoke(TOOL_ASK)
    assert [(c["name"], c["args"]) for c in ai.tool_calls] == [("get_weather", {"city": "Paris"})]


def test_langchain_cohere_default_model_lookup(mock: MockServer) -> None:
    llm = ChatCohere(base_url=mock.url, cohere_api_key=SecretStr(KEY))  # asks GET /v1/models?default_only=true
    assert llm.model == catalogue.provider("cohere").models[0]
