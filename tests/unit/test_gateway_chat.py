"""OpenAI ↔ LangChain conversions, usage accounting and the SSE stream, with scripted chat models."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, cast

import orjson
import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage, ToolMessage, UsageMetadata
from langchain_core.messages.tool import tool_call_chunk

from gateway import chat
from gateway.api.event_stream import LastEvent
from gateway.api.schemas import ChatCompletionRequest
from gateway.chat.params import tool_choice
from gateway.chat.stream import ToolCallDeltas, _add_usage
from gateway.config import Settings
from gateway.errors import InvalidRequestError, RateLimitedError, UpstreamError
from gateway.providers import create_adapter
from gateway.providers.base import ProviderAdapter


def adapter(provider: str = "openai") -> ProviderAdapter:
    return create_adapter(Settings(provider=provider))


def request(**fields: Any) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({"messages": [{"role": "user", "content": "hi"}], **fields})


class ScriptedModel:
    """Quacks like a BaseChatModel: replays chunks, then optionally raises."""

    def __init__(self, chunks: list[AIMessageChunk], error: Exception | None = None,
                 result: AIMessage | None = None) -> None:
        self.chunks, self.error, self.result = chunks, error, result
        self.calls: list[dict[str, Any]] = []

    async def ainvoke(self, messages: list[Any], **params: Any) -> AIMessage:
        self.calls.append({"messages": messages, **params})
        if self.error:
            raise self.error
        assert self.result is not None
        return self.result

    async def astream(self, messages: list[Any], **params: Any) -> AsyncIterator[AIMessageChunk]:
        self.calls.append({"messages": messages, **params})
        for c in self.chunks:
            yield c
        if self.error:
            raise self.error


def as_model(fake: ScriptedModel) -> BaseChatModel:
    """The fake where the gateway takes a chat model: it calls only `ainvoke` and `astream`, which the fake has."""
    return cast(BaseChatModel, fake)


def usage(inp: int, out: int) -> UsageMetadata:
    return {"input_tokens": inp, "output_tokens": out, "total_tokens": inp + out}


def events(raw: list[bytes]) -> list[Any]:
    out: list[Any] = []
    for part in raw:  # a part may carry several events (the closing ones are sent together)
        assert part.startswith(b"data: ") and part.endswith(b"\n\n")
        for frame in part[:-2].split(b"\n\n"):
            assert frame.startswith(b"data: ")
            data = frame[6:]
            out.append("[DONE]" if data == b"[DONE]" else orjson.loads(data))
    return out


async def collect(body: AsyncIterator[bytes]) -> list[bytes]:
    return [frame async for frame in body]


def test_to_langchain_maps_every_role() -> None:
    req = ChatCompletionRequest.model_validate({"messages": [
        {"role": "system", "content": "s"}, {"role": "developer", "content": "d"},
        {"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]})
    converted = chat.to_langchain(req.messages)
    assert [type(m) for m in converted] == [SystemMessage, SystemMessage, HumanMessage, AIMessage]
    assert [m.content for m in converted] == ["s", "d", "u", "a"]


def test_params_send_either_cap_as_max_tokens_and_rename() -> None:
    req = request(temperature=0.5, top_p=0.5, max_completion_tokens=20, stop="END", seed=7)
    model = ScriptedModel([])
    assert chat.prepare(adapter("cohere"), as_model(model), req)[1] == {
        "temperature": 0.5, "p": 0.5, "max_tokens": 20, "stop": ["END"], "seed": 7}
    assert chat.prepare(adapter("openai"), as_model(model), request())[1] == {}
    assert chat.prepare(adapter("anthropic"), as_model(model), request(user="u1"))[1] == {
        "extra_body": {"metadata": {"user_id": "u1"}}}


def test_usage_of_and_accumulation() -> None:
    assert chat.usage_of(AIMessage(content="x")) is None
    assert chat.usage_of(AIMessage(content="x", usage_metadata=usage(3, 4))) == {
        "prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    total = None
    for part in ({"prompt_tokens": 5, "completion_tokens": 0, "total_tokens": 5}, None,
                 {"prompt_tokens": 0, "completion_tokens": 2, "total_tokens": 2}):
        total = _add_usage(total, part)
    assert total == {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    # The details a provider reports, under OpenAI's names; those it does not report are left out.
    detailed = usage(10, 8) | {"input_token_details": {"cache_read": 6, "cache_creation": 2},
                               "output_token_details": {"reasoning": 5}}
    assert chat.usage_of(AIMessage(content="x", usage_metadata=detailed)) == {
        "prompt_tokens": 10, "completion_tokens": 8, "total_tokens": 18,
        "prompt_tokens_details": {"cached_tokens": 6, "cache_write_tokens": 2},
        "completion_tokens_details": {"reasoning_tokens": 5}}
    lifetimes = {"cache_read": 1, "cache_creation": 0, "ephemeral_5m_input_tokens": 2, "ephemeral_1h_input_tokens": 3}
    split_writes = chat.usage_of(AIMessage(content="x", usage_metadata=usage(10, 8) | {
        "input_token_details": lifetimes}))
    assert split_writes is not None and split_writes["prompt_tokens_details"] == {"cached_tokens": 1,
                                                                                  "cache_write_tokens": 5}
    split = [{"prompt_tokens": 9, "completion_tokens": 0, "total_tokens": 9,
              "prompt_tokens_details": {"cached_tokens": 6}},
             {"prompt_tokens": 0, "completion_tokens": 3, "total_tokens": 3,
              "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 2}}]
    assert _add_usage(_add_usage(None, split[0]), split[1]) == {
        "prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12, "prompt_tokens_details": {"cached_tokens": 6},
        "completion_tokens_details": {"reasoning_tokens": 2}}


async def test_complete_builds_an_openai_document() -> None:
    result = AIMessage(content="Echo: hi", usage_metadata=usage(2, 3),
                       response_metadata={"stop_reason": "max_tokens", "model_name": "claude-x"})
    model = ScriptedModel([], result=result)
    doc = await chat.complete(adapter("anthropic"), as_model(model), request(max_tokens=3), "claude-sonnet-4-6", "c1")
    assert doc["object"] == "chat.completion" and doc["id"] == "c1" and doc["model"] == "claude-x"
    assert doc["choices"] == [{"index": 0, "message": {"role": "assistant", "content": "Echo: hi", "refusal": None},
                               "logprobs": None, "finish_reason": "length"}]
    assert doc["usage"] == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}
    assert model.calls[0]["max_tokens"] == 3


async def test_complete_maps_upstream_errors() -> None:
    model = ScriptedModel([], error=ValueError("No generation chunks were returned"))
    with pytest.raises(UpstreamError):
        await chat.complete(adapter(), as_model(model), request(), "m", "c1")


async def test_stream_emits_openai_chunks_usage_and_done() -> None:
    chunks = [AIMessageChunk(content="", usage_metadata=usage(5, 0)),
              AIMessageChunk(content="Echo:"), AIMessageChunk(content=" hi"),
              AIMessageChunk(content="", usage_metadata=usage(0, 2), response_metadata={"stop_reason": "end_turn"})]
    req = request(stream=True, stream_options={"include_usage": True})
    body = await chat.stream(adapter("anthropic"), as_model(ScriptedModel(chunks)), req, "claude-sonnet-4-6", "c9")
    parts = await collect(body)
    got = events(parts)
    assert got[-1] == "[DONE]"
    # Chunks that arrive together (no wait between them here) go out in one write, with the response's end.
    assert len(parts) == 1 and type(parts[0]) is LastEvent
    deltas = [e["choices"][0]["delta"] for e in got[:-1] if e["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert "".join(d.get("content", "") for d in deltas) == "Echo: hi"
    final = [e for e in got[:-1] if e["choices"] and e["choices"][0]["finish_reason"]]
    assert len(final) == 1 and final[0]["choices"][0]["finish_reason"] == "stop"
    usage_event = got[-2]
    assert usage_event["choices"] == [] and usage_event["usage"] == {
        "prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    assert all(e["id"] == "c9" and e["object"] == "chat.completion.chunk" for e in got[:-1])


async def test_stream_without_include_usage_has_no_usage_event() -> None:
    body = await chat.stream(adapter(), as_model(ScriptedModel([AIMessageChunk(content="a")])), request(stream=True),
                             "m", "c")
    got = events(await collect(body))
    assert all("usage" not in e for e in got[:-1]) and got[-1] == "[DONE]"


async def test_error_before_first_chunk_raises_so_the_route_answers_with_its_status() -> None:
    import httpx2
    import openai

    resp = httpx2.Response(429, headers={"retry-after": "3"}, request=httpx2.Request("POST", "http://u"))
    model = ScriptedModel([], error=openai.RateLimitError("slow", response=resp, body=None))
    with pytest.raises(RateLimitedError) as info:
        await chat.stream(adapter(), as_model(model), request(stream=True), "m", "c")
    assert info.value.retry_after == 3


async def test_error_mid_stream_becomes_an_error_event_then_done() -> None:
    import httpx2

    model = ScriptedModel([AIMessageChunk(content="partial")], error=httpx2.RemoteProtocolError("peer closed"))
    body = await chat.stream(adapter(), as_model(model), request(stream=True), "m", "c")
    parts = await collect(body)
    got = events(parts)
    assert [e["choices"][0]["delta"]["content"] for e in got[:2]] == ["", "partial"]
    assert got[-2]["error"]["type"] == "upstream_error" and got[-2]["error"]["code"] == "upstream_unreachable"
    assert got[-1] == "[DONE]"
    assert len(parts) == 1 and type(parts[0]) is LastEvent  # the chunk before the failure, its error and [DONE]


async def test_mid_stream_a_fault_of_the_gateway_is_not_blamed_on_the_upstream(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def broken(_: AIMessageChunk) -> list[dict[str, Any]]:
        raise KeyError("a bug")

    chunks = [AIMessageChunk(content="a"), AIMessageChunk(content="", tool_call_chunks=[
        tool_call_chunk(name="f", args="{}", id="t1", index=0)])]
    monkeypatch.setattr(ToolCallDeltas, "deltas", lambda _self, chunk: broken(chunk))
    body = await chat.stream(adapter(), as_model(ScriptedModel(chunks)), request(stream=True), "m", "c")
    with caplog.at_level(logging.ERROR, logger="gateway"):
        got = events(await collect(body))
    assert got[-2]["error"]["type"] == got[-2]["error"]["code"] == "internal_error" and got[-1] == "[DONE]"
    [logged] = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert logged.exc_info is not None and logged.exc_info[0] is KeyError
    # What the upstream iterator raises (the SDK, LangChain's parsing of the stream) stays the upstream's.
    upstream = ScriptedModel([AIMessageChunk(content="a")], error=KeyError("choices"))
    body = await chat.stream(adapter(), as_model(upstream), request(stream=True), "m", "c")
    assert events(await collect(body))[-2]["error"]["code"] == "upstream_error"


def test_assistant_tool_calls_and_tool_results_become_langchain_messages() -> None:
    req = request(messages=[
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
            {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "not json"}},
            # Not JSON either: a provider that sends arguments as an object could not encode them.
            {"id": "c3", "type": "function", "function": {"name": "g", "arguments": '{"x": NaN}'}},
            {"id": "c4", "type": "function", "function": {"name": "g", "arguments": '{"x": "\\udc00"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "one"}])
    _, ai, tool = chat.to_langchain(req.messages)
    assert isinstance(ai, AIMessage) and isinstance(tool, ToolMessage)
    assert [(c["id"], c["name"], c["args"]) for c in ai.tool_calls] == [("c1", "f", {"a": 1})]
    assert [(c["id"], c["args"]) for c in ai.invalid_tool_calls] == [  # kept, not dropped
        ("c2", "not json"), ("c3", '{"x": NaN}'), ("c4", '{"x": "\\udc00"}')]
    assert tool.tool_call_id == "c1" and tool.content == "one"


def test_a_tool_result_in_text_parts_is_its_text() -> None:
    # langchain-cohere sends a list content as its JSON (`[{"type": "text", ...}]`): the text goes to every provider.
    req = request(messages=[
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "name": "f",
         "content": [{"type": "text", "text": "sunny, "}, {"type": "text", "text": "21 C"}]}])
    tool = chat.to_langchain(req.messages)[2]
    assert tool == ToolMessage(content="sunny, 21 C", tool_call_id="c1", name="f")


def test_an_assistant_refusal_part_is_text_to_the_provider() -> None:
    req = request(messages=[
        {"role": "user", "content": "bad idea"},
        {"role": "assistant", "content": [{"type": "text", "text": "Well."}, {"type": "refusal", "refusal": "No."}]},
        {"role": "user", "content": "ok"}])
    assert chat.to_langchain(req.messages)[1] == AIMessage(content=[
        {"type": "text", "text": "Well."}, {"type": "text", "text": "No."}])
    assert req.messages[1].text == "Well.No."  # what the limiter counts


def test_refused_parameters_and_tool_choice_forms_are_named() -> None:
    model = ScriptedModel([])
    with pytest.raises(InvalidRequestError) as info:
        chat.prepare(adapter("anthropic"), as_model(model), request(seed=1))
    assert info.value.param == "seed" and info.value.status == 400
    with pytest.raises(InvalidRequestError) as info:
        chat.prepare(adapter("anthropic"), as_model(model), request(response_format={"type": "json_object"}))
    assert info.value.param == "response_format"
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
    assert tool_choice(adapter("anthropic"), request(tools=[tool], tool_choice="required")) == {"type": "any"}
    assert tool_choice(adapter("cohere"), request(tools=[tool], tool_choice="auto")) is None
    named = {"type": "function", "function": {"name": "f"}}
    assert tool_choice(adapter("openai"), request(tools=[tool], tool_choice=named)) == named

async def test_streamed_tool_calls_open_with_id_and_name_then_send_argument_fragments() -> None:
    chunks = [AIMessageChunk(content="", tool_call_chunks=[tool_call_chunk(name="f", args="", id="t1", index=1)]),
              AIMessageChunk(content="", tool_call_chunks=[tool_call_chunk(args='{"a"', index=1)]),
              AIMessageChunk(content="", tool_call_chunks=[tool_call_chunk(args=": 1}", index=1)]),
              AIMessageChunk(content="", tool_call_chunks=[tool_call_chunk(name="g", args="{}", id="t2", index=None)],
                             response_metadata={"stop_reason": "tool_use"})]
    body = await chat.stream(adapter("anthropic"), as_model(ScriptedModel(chunks)), request(stream=True), "m", "c")
    calls = [e["choices"][0]["delta"]["tool_calls"][0] for e in events(await collect(body))[:-1]
             if e["choices"] and "tool_calls" in e["choices"][0]["delta"]]
    assert calls == [
        {"index": 0, "id": "t1", "type": "function", "function": {"name": "f", "arguments": ""}},
        {"index": 0, "function": {"arguments": '{"a"'}}, {"index": 0, "function": {"arguments": ": 1}"}},
        {"index": 1, "id": "t2", "type": "function", "function": {"name": "g", "arguments": ""}},
        {"index": 1, "function": {"arguments": "{}"}}]


async def test_a_failed_generation_is_an_upstream_error_not_a_stop() -> None:
    result = AIMessage(content="partial", response_metadata={"finish_reason": "ERROR"})
    with pytest.raises(UpstreamError) as info:
        await chat.complete(adapter("cohere"), as_model(ScriptedModel([], result=result)), request(), "m", "c1")
    assert info.value.code == "upstream_failed"
    chunks = [AIMessageChunk(content="par"), AIMessageChunk(content="", response_metadata={"finish_reason": "ERROR"})]
    body = await chat.stream(adapter("cohere"), as_model(ScriptedModel(chunks)), request(stream=True), "m", "c1")
    got = events(await collect(body))
    assert got[-2]["error"]["code"] == "upstream_failed" and got[-1] == "[DONE]"


def test_plain_text_messages_convert_exactly_as_langchain_does() -> None:
    from langchain_core.messages import convert_to_messages

    from gateway.api.chat_request import ChatCompletionRequest
    from gateway.chat.messages import to_langchain

    raw = [{"role": "system", "content": "be brief"}, {"role": "developer", "content": "as a dev"},
           {"role": "user", "content": "hi", "name": "bob"}, {"role": "user", "content": "plain"}]
    req = ChatCompletionRequest.model_validate({"model": "m", "messages": raw})
    assert to_langchain(req.messages) == convert_to_messages(raw)


def test_assistant_turns_convert_as_langchain_does_and_a_refusal_is_the_turns_text() -> None:
    from langchain_core.messages import AIMessage, convert_to_messages

    from gateway.api.chat_request import ChatCompletionRequest
    from gateway.chat.messages import to_langchain

    plain = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello", "name": "bot"},
             {"role": "assistant", "content": [{"type": "text", "text": "parts"}]}, {"role": "user", "content": "x"}]
    req = ChatCompletionRequest.model_validate({"model": "m", "messages": plain})
    assert to_langchain(req.messages) == convert_to_messages(plain)
    # What the SDK sends back for a reply it received: refusal, audio and function_call as null, or a refusal.
    echoed = [{"role": "user", "content": "hi"},
              {"role": "assistant", "content": "hello", "refusal": None, "audio": None, "function_call": None},
              {"role": "user", "content": "bad idea"}, {"role": "assistant", "content": None, "refusal": "I can't."},
              {"role": "user", "content": "ok"}]
    req = ChatCompletionRequest.model_validate({"model": "m", "messages": echoed})
    converted = to_langchain(req.messages)
    assert converted[1] == AIMessage(content="hello") and converted[3] == AIMessage(content="I can't.")
    # Content and a refusal together (a reply has one or the other): the refusal follows the content.
    both = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "sure", "refusal": "no"},
            {"role": "assistant", "content": [{"type": "text", "text": "part"}], "refusal": "no"}]
    req = ChatCompletionRequest.model_validate({"model": "m", "messages": both})
    parts: list[str | dict[str, Any]] = [{"type": "text", "text": "part"}, {"type": "text", "text": "no"}]
    assert to_langchain(req.messages)[1:] == [AIMessage(content="sure\n\nno"), AIMessage(content=parts)]


def test_a_named_tool_choice_must_name_an_offered_tool() -> None:
    from pydantic import ValidationError

    from gateway.api.chat_request import ChatCompletionRequest

    tool = {"type": "function", "function": {"name": "f"}}
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": [tool]}
    choice = {"type": "function", "function": {"name": "f"}}
    assert ChatCompletionRequest.model_validate({**body, "tool_choice": choice}).tool_choice is not None
    with pytest.raises(ValidationError, match="names function 'g', which is not in tools") as info:
        ChatCompletionRequest.model_validate({**body, "tool_choice": {"type": "function", "function": {"name": "g"}}})
    assert info.value.errors()[0]["loc"] == ("tool_choice",)


@pytest.mark.parametrize(("message", "says"), [
    ({"role": "assistant", "content": "x", "audio": {"id": "audio_1"}}, "Input should be None"),
    ({"role": "assistant", "content": "x", "function_call": {"name": "f", "arguments": "{}"}}, "Input should be None"),
])
def test_assistant_fields_the_gateway_cannot_honour_are_refused(message: dict[str, Any], says: str) -> None:
    from pydantic import ValidationError

    from gateway.api.chat_request import ChatCompletionRequest

    with pytest.raises(ValidationError, match=says):
        ChatCompletionRequest.model_validate({"model": "m", "messages": [{"role": "user", "content": "hi"}, message]})


# LangChain's OpenAI and Anthropic integrations name themselves in every chunk's metadata, beside what it carries.
@pytest.mark.parametrize("named", [{}, {"model_provider": "openai"}])
async def test_every_event_is_the_whole_chunk_document_in_openais_key_order(named: dict[str, Any]) -> None:
    logprobs = {"content": [{"token": " hi", "logprob": -0.1, "bytes": [32, 104, 105], "top_logprobs": []}]}
    chunks = [AIMessageChunk(content="Echo:", response_metadata={**named}),
              AIMessageChunk(content=" hi", response_metadata={**named, "logprobs": logprobs}),
              AIMessageChunk(content=[{"type": "text", "text": "!", "index": 0}]),  # block content: via `.text`
              AIMessageChunk(content="", response_metadata={**named, "finish_reason": "stop"})]
    body = await chat.stream(adapter(), as_model(ScriptedModel(chunks)), request(stream=True), "gpt-4o-mini", "c7")
    got = events(await collect(body))
    created = got[0]["created"]

    def doc(delta: dict[str, Any], finish: str | None = None, lp: Any = None) -> dict[str, Any]:
        return {"id": "c7", "object": "chat.completion.chunk", "created": created, "model": "gpt-4o-mini",
                "choices": [{"index": 0, "delta": delta, "logprobs": lp, "finish_reason": finish}]}

    expected = [doc({"role": "assistant", "content": ""}), doc({"content": "Echo:"}),
                doc({"content": " hi"}, lp=logprobs), doc({"content": "!"}), doc({}, "stop"), "[DONE]"]
    assert got == expected
    assert [list(e) for e in got[:-1]] == [list(e) for e in expected[:-1]]  # the keys in OpenAI's order
    assert [list(e["choices"][0]) for e in got[:-1]] == [["index", "delta", "logprobs", "finish_reason"]] * 5
