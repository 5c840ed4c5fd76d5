"""Through nginx over HTTPS, for every provider: the official `openai` SDK and LangChain's `ChatOpenAI`."""

from __future__ import annotations

from typing import Literal

import httpx
import openai
import pytest
from langchain_openai import ChatOpenAI
from openai.types.chat import ChatCompletionMessageParam
from pydantic import SecretStr

import catalogue
from gateway.providers import adapter_class
from tests.support.stack import RunningStack

pytestmark = pytest.mark.integration
PROVIDERS = catalogue.names()


def test_sdk_plain_completion(stack: RunningStack, provider: str, sdk: openai.OpenAI) -> None:
    resp = sdk.chat.completions.create(
        model=stack.model(provider),
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello gateway"}],
        temperature=0.2, max_tokens=50, user=openai.omit if "user" in adapter_class(provider).refused else "tester")
    choice = resp.choices[0]
    assert choice.message.role == "assistant" and choice.message.content == "Echo: hello gateway"
    assert choice.finish_reason == "stop"
    assert resp.object == "chat.completion" and resp.id.startswith("chatcmpl-")
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (4, 3, 7)


def test_sdk_max_tokens_truncates_with_length(stack: RunningStack, provider: str, sdk: openai.OpenAI) -> None:
    resp = sdk.chat.completions.create(model=stack.model(provider), max_tokens=2,
                                       messages=[{"role": "user", "content": "one two three four"}])
    assert resp.choices[0].message.content == "Echo: one"
    assert resp.choices[0].finish_reason == "length"


def test_sdk_streaming(stack: RunningStack, provider: str, sdk: openai.OpenAI) -> None:
    stream = sdk.chat.completions.create(model=stack.model(provider), stream=True,
                                         stream_options={"include_usage": True},
                                         messages=[{"role": "user", "content": "stream these words please"}])
    chunks = list(stream)  # the SDK consumes `data: [DONE]` and stops cleanly
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: stream these words please"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) >= 4  # really streamed
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 5
    assert chunks[-1].usage.prompt_tokens == 4
    assert {c.id for c in chunks} == {chunks[0].id}


@pytest.mark.parametrize("stream", [False, True])
def test_usage_details_the_provider_reports_reach_the_client(stack: RunningStack, provider: str,
                                                             sdk: openai.OpenAI, stream: bool) -> None:
    # The mock reports 3 of the prompt's tokens as cached and 5 completion tokens as reasoning, as each
    # provider's API does (Cohere's and Mistral's have no such details).
    ask: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": "what now [[mock:cached=3]] [[mock:reasoning=5]]"}]
    if stream:
        chunks = list(sdk.chat.completions.create(model=stack.model(provider), stream=True, messages=ask,
                                                  stream_options={"include_usage": True}))
        usage = chunks[-1].usage
    else:
        usage = sdk.chat.completions.create(model=stack.model(provider), messages=ask).usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (4, 8)
    cached = usage.prompt_tokens_details.cached_tokens if usage.prompt_tokens_details else None
    reasoning = usage.completion_tokens_details.reasoning_tokens if usage.completion_tokens_details else None
    reported = catalogue.provider(provider).kind in ("openai", "openai-compatible", "anthropic")
    assert (cached, reasoning) == ((3, 5) if reported else (None, None))


@pytest.mark.parametrize("provider", ["openai"])
@pytest.mark.parametrize("tier", ["flex", "priority"])
@pytest.mark.parametrize("stream", [False, True])
def test_usage_details_under_a_priced_tier_keep_their_names(stack: RunningStack, sdk: openai.OpenAI, stream: bool,
                                                            tier: Literal["flex", "priority"]) -> None:
    # langchain-openai files them under the tier's name (flex_cache_read); the client reads OpenAI's.
    ask: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": "what now [[mock:cached=3]] [[mock:reasoning=5]]"}]
    if stream:
        chunks = list(sdk.chat.completions.create(model=stack.model("openai"), stream=True, messages=ask,
                                                  service_tier=tier, stream_options={"include_usage": True}))
        usage, served = chunks[-1].usage, chunks[-1].service_tier
    else:
        reply = sdk.chat.completions.create(model=stack.model("openai"), messages=ask, service_tier=tier)
        usage, served = reply.usage, reply.service_tier
    assert served == tier and usage is not None
    assert usage.prompt_tokens_details is not None and usage.prompt_tokens_details.cached_tokens == 3
    assert usage.completion_tokens_details is not None and usage.completion_tokens_details.reasoning_tokens == 5


def test_raw_stream_ends_with_done(stack: RunningStack, provider: str, http: httpx.Client) -> None:
    body = {"model": stack.model(provider), "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with http.stream("POST", f"{stack.url}/{provider}/v1/chat/completions", json=body,
                     headers={"Authorization": f"Bearer {stack.keys[provider]}"}) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in resp.iter_lines() if line]
    assert lines[-1] == "data: [DONE]" and all(line.startswith("data: ") for line in lines)


def test_models_list(stack: RunningStack, provider: str, sdk: openai.OpenAI) -> None:
    ids = [m.id for m in sdk.models.list()]
    assert stack.model(provider) in ids
    assert all(m.owned_by == provider for m in sdk.models.list())


def test_models_retrieve(stack: RunningStack, provider: str, sdk: openai.OpenAI) -> None:
    model = sdk.models.retrieve(stack.model(provider))
    assert (model.id, model.object, model.owned_by) == (stack.model(provider), "model", provider)
    with pytest.raises(openai.NotFoundError) as info:
        sdk.models.retrieve("not-a-model-of-this-gateway")
    assert info.value.code == "model_not_found"


def test_langchain_chat_openai_invoke_and_stream(stack: RunningStack, provider: str) -> None:
    ca = str(stack.ca)
    with httpx.Client(verify=ca) as client:
        llm = ChatOpenAI(base_url=f"{stack.url}/{provider}/v1", api_key=SecretStr(stack.keys[provider]),
                         model=stack.model(provider), http_client=client, max_retries=0, stream_usage=True)
        answer = llm.invoke("hello from langchain")
        assert answer.text == "Echo: hello from langchain"
        assert answer.usage_metadata is not None and answer.usage_metadata["output_tokens"] == 4
        pieces = list(llm.stream("stream from langchain"))
    assert "".join(p.text for p in pieces) == "Echo: stream from langchain"
    assert len([p for p in pieces if p.text]) >= 3


def test_langchain_chat_openai_on_the_responses_api_is_told_how_to_stay_on_chat(stack: RunningStack) -> None:
    # ChatOpenAI turns to the Responses API by itself (gpt-5-pro; gpt-6 with tools; `reasoning`), which the gateway
    # does not serve: the edge's 404 says so, and names the setting that keeps it on chat completions.
    with httpx.Client(verify=str(stack.ca)) as client:
        llm = ChatOpenAI(base_url=f"{stack.url}/openai/v1", api_key=SecretStr(stack.keys["openai"]),
                         model=stack.model("openai"), http_client=client, max_retries=0, use_responses_api=True)
        with pytest.raises(openai.NotFoundError) as refused:
            llm.invoke("hello")
        assert "use_responses_api=False" in str(refused.value) and "Responses" in str(refused.value)
        kept = ChatOpenAI(base_url=f"{stack.url}/openai/v1", api_key=SecretStr(stack.keys["openai"]),
                          model=stack.model("openai"), http_client=client, max_retries=0, use_responses_api=False)
        assert kept.invoke("hello").text == "Echo: hello"


async def test_langchain_async_stream(stack: RunningStack, provider: str) -> None:
    async with httpx.AsyncClient(verify=str(stack.ca)) as client:
        llm = ChatOpenAI(base_url=f"{stack.url}/{provider}/v1", api_key=SecretStr(stack.keys[provider]),
                         model=stack.model(provider), http_async_client=client, max_retries=0)
        text = "".join([p.text async for p in llm.astream("async words")])
        assert text == "Echo: async words"
        assert (await llm.ainvoke("once more")).text == "Echo: once more"


def test_upstream_saw_the_provider_key_not_the_client_key(stack: RunningStack, provider: str,
                                                          sdk: openai.OpenAI, http: httpx.Client) -> None:
    sdk.chat.completions.create(model=stack.model(provider), messages=[{"role": "user", "content": "who am i"}])
    stats = http.get(f"{stack.mock_url}/_mock/stats").json()
    seen = stats[provider]["last_key"]
    assert seen and seen != stack.keys[provider] and not seen.startswith("lgw_")
    others = [p for p in PROVIDERS if p != provider]
    assert all(stats[p]["last_key"] != seen for p in others)  # each gateway has its own provider key
    assert stats[provider]["unauthorized"] == 0


def test_client_key_of_another_provider_is_refused(stack: RunningStack, provider: str, http: httpx.Client) -> None:
    other = next(p for p in PROVIDERS if p != provider)
    resp = http.get(f"{stack.url}/{provider}/v1/models", headers={"Authorization": f"Bearer {stack.keys[other]}"})
    assert resp.status_code == 403 and resp.json()["error"]["type"] == "permission_error"
    resp = http.get(f"{stack.url}/{provider}/v1/models")
    assert resp.status_code == 401 and resp.json()["error"]["type"] == "authentication_error"


def test_health_and_ready_through_the_edge(stack: RunningStack, provider: str, http: httpx.Client) -> None:
    assert http.get(f"{stack.url}/healthz").status_code == 200
    assert http.get(f"{stack.url}/{provider}/healthz").json() == {"status": "ok"}
    ready = http.get(f"{stack.url}/{provider}/readyz")
    # Public readiness says ready or not, nothing about Vault, counters, key versions or errors.
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}
