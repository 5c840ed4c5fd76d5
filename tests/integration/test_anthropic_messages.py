"""`POST /anthropic/v1/messages` through nginx: the official `anthropic` SDK and `ChatAnthropic`, unchanged."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterator
from typing import TypedDict, Unpack, cast

import anthropic
import httpx
import httpx2
import pytest
from anthropic.types import MessageParam, ThinkingConfigParam, ToolParam, ToolUseBlockParam
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import AIMessageChunk
from pydantic import SecretStr

from tests.integration.sdk_narrowing import error_body, text_of, tool_use
from tests.support.stack import RunningStack

pytestmark = pytest.mark.integration
MODEL = "claude-sonnet-4-6"
WEATHER: ToolParam = {"name": "get_weather", "description": "Weather of a city", "input_schema": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
ASK_TOOL = 'weather please [[mock:tool=get_weather {"city": "Paris"}]]'


class _Credential(TypedDict, total=False):
    api_key: str
    auth_token: str


class _Account(TypedDict, total=False):  # the SDK sends these as anthropic-workspace-id, anthropic-user-profile-id
    workspace_id: str
    user_profile_id: str


def _client(stack: RunningStack, **credential: Unpack[_Credential]) -> anthropic.Anthropic:
    http = httpx2.Client(verify=ssl.create_default_context(cafile=str(stack.ca)), timeout=60)
    return anthropic.Anthropic(base_url=f"{stack.url}/anthropic", http_client=http, max_retries=0, **credential)


@pytest.fixture
def client(stack: RunningStack) -> Iterator[anthropic.Anthropic]:
    with _client(stack, api_key=stack.keys["anthropic"]) as c:
        yield c


def _refused_by_name(client: anthropic.Anthropic, header: str, **account: Unpack[_Account]) -> None:
    """Both routes refuse a request for another account than the provider key's, the first by its header's name."""
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "x"}], **account)
    assert error_body(bad.value)["error"]["message"].startswith(f"{header}: not supported by this gateway")
    with pytest.raises(anthropic.BadRequestError):
        client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "x"}], **account)


def _post(http: httpx.Client, stack: RunningStack, body: object, **headers: str) -> httpx.Response:
    hdrs = {"x-api-key": stack.keys["anthropic"], "anthropic-version": "2023-06-01", **headers}
    return http.post(f"{stack.url}/anthropic/v1/messages", json=body, headers=hdrs)


def test_plain_with_system_and_stop_sequences(client: anthropic.Anthropic) -> None:
    msg = client.messages.create(model=MODEL, max_tokens=100, system="be brief", stop_sequences=["###"],
                                 messages=[{"role": "user", "content": "hello gateway"}])
    assert msg.type == "message" and msg.role == "assistant" and msg.id.startswith("msg_")
    assert [b.type for b in msg.content] == ["text"] and text_of(msg.content[0]) == "Echo: hello gateway"
    assert msg.stop_reason == "end_turn" and msg.model == MODEL
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (4, 3)
    # one that the reply holds ends it there, and Anthropic says which, plain and streamed
    ask: list[MessageParam] = [{"role": "user", "content": "one two ### three"}]
    cut = client.messages.create(model=MODEL, max_tokens=100, stop_sequences=["three", "###"], messages=ask)
    assert (text_of(cut.content[0]), cut.stop_reason, cut.stop_sequence) == ("Echo: one two ", "stop_sequence", "###")
    with client.messages.stream(model=MODEL, max_tokens=100, stop_sequences=["###"], messages=ask) as stream:
        streamed, final = "".join(stream.text_stream), stream.get_final_message()
    assert (streamed, final.stop_reason, final.stop_sequence) == ("Echo: one two ", "stop_sequence", "###")


def test_bearer_credential_is_the_gateway_client_key(stack: RunningStack) -> None:
    with _client(stack, auth_token=stack.keys["anthropic"]) as c:
        msg = c.messages.create(model=MODEL, max_tokens=20, messages=[{"role": "user", "content": "hi"}])
    assert text_of(msg.content[0]) == "Echo: hi"


def test_stream_events_and_text(client: anthropic.Anthropic) -> None:
    with client.messages.stream(model=MODEL, max_tokens=100,
                                messages=[{"role": "user", "content": "stream these words please"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Echo: stream these words please"
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 5
    events = [e.type for e in client.messages.create(model=MODEL, max_tokens=100, stream=True,
                                                      messages=[{"role": "user", "content": "a b"}])]
    assert events[0] == "message_start" and events[-1] == "message_stop"
    assert events[1] == "content_block_start" and "message_delta" in events
    assert events.count("content_block_delta") == 3


def test_tool_use_round_trip(client: anthropic.Anthropic) -> None:
    first = client.messages.create(model=MODEL, max_tokens=100, tools=[WEATHER],
                                   tool_choice={"type": "auto"}, messages=[{"role": "user", "content": ASK_TOOL}])
    assert first.stop_reason == "tool_use"
    call = first.content[0]
    assert call.type == "tool_use" and call.name == "get_weather" and call.input == {"city": "Paris"}
    second = client.messages.create(model=MODEL, max_tokens=100, tools=[WEATHER], messages=[
        {"role": "user", "content": ASK_TOOL},
        {"role": "assistant", "content": [cast(ToolUseBlockParam, call.model_dump())]},  # the block's dump, as is
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}]}])
    assert text_of(second.content[0]) == "Tool result: sunny"


def test_tool_use_streamed(client: anthropic.Anthropic) -> None:
    with client.messages.stream(model=MODEL, max_tokens=100, tools=[WEATHER],
                                messages=[{"role": "user", "content": ASK_TOOL}]) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[0].type == "tool_use" and final.content[0].input == {"city": "Paris"}


def test_integers_beyond_64_bits_go_both_ways_exactly(client: anthropic.Anthropic) -> None:
    big = 123456789012345678901234567890
    tool: ToolParam = {**WEATHER, "input_schema": {
        "type": "object", "properties": {"days": {"type": "integer", "maximum": big}}}}
    ask = f'weather please [[mock:tool=get_weather {{"city": "Paris", "days": {big}}}]]'
    first = client.messages.create(model=MODEL, max_tokens=100, tools=[tool],
                                   messages=[{"role": "user", "content": ask}])
    call = tool_use(first.content[0])
    assert call.input == {"city": "Paris", "days": big}
    with client.messages.stream(model=MODEL, max_tokens=100, tools=[tool],
                                messages=[{"role": "user", "content": ask}]) as stream:
        assert tool_use(stream.get_final_message().content[0]).input == {"city": "Paris", "days": big}
    # Sent back in the conversation, as the SDK's own block: the limiter's reading of it was a fault (500).
    second = client.messages.create(model=MODEL, max_tokens=100, tools=[tool], messages=[
        {"role": "user", "content": ask},
        {"role": "assistant", "content": [cast(ToolUseBlockParam, call.model_dump())]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}]}])
    assert text_of(second.content[0]) == "Tool result: sunny"


def test_count_tokens(client: anthropic.Anthropic) -> None:
    counted = client.messages.count_tokens(model=MODEL, system="be brief",
                                           messages=[{"role": "user", "content": "hello gateway"}])
    assert counted.input_tokens == 4


def test_chat_anthropic_invoke_and_stream(stack: RunningStack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(stack.ca))  # ChatAnthropic builds its own HTTP client
    llm = ChatAnthropic(base_url=f"{stack.url}/anthropic", api_key=SecretStr(stack.keys["anthropic"]),
                        model_name=MODEL, max_retries=0, max_tokens_to_sample=200, timeout=60, stop=None,
                        temperature=0.2, top_k=5)
    answer = llm.invoke("hello from langchain")
    assert answer.text == "Echo: hello from langchain"
    assert answer.usage_metadata is not None and answer.usage_metadata["output_tokens"] == 4
    chunks = list(llm.stream("stream from langchain please"))
    assert "".join(c.text for c in chunks) == "Echo: stream from langchain please"
    assert len([c for c in chunks if c.text]) >= 4 and all(isinstance(c, AIMessageChunk) for c in chunks)
    tooled = llm.bind_tools([WEATHER]).invoke(ASK_TOOL)
    assert tooled.tool_calls[0]["name"] == "get_weather"
    assert tooled.tool_calls[0]["args"] == {"city": "Paris"}


def test_sdk_errors_are_anthropic_shaped(stack: RunningStack, client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as not_found:
        client.messages.create(model="claude-nope", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert error_body(not_found.value)["error"]["type"] == "not_found_error"
    with _client(stack, api_key="sk-not-a-gateway-key") as bad, pytest.raises(anthropic.AuthenticationError) as auth:
        bad.messages.create(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert auth.value.body == {"type": "error", "error": {"type": "authentication_error",  # the edge's page
                                                          "message": "invalid credentials for this provider"},
                               "request_id": auth.value.request_id}
    with _client(stack, api_key=stack.keys["openai"]) as other, pytest.raises(anthropic.PermissionDeniedError):
        other.messages.create(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(anthropic.RateLimitError) as limited:
        client.messages.create(model=MODEL, max_tokens=10,
                               messages=[{"role": "user", "content": "x [[mock:fault=429]]"}])
    assert limited.value.response.headers["retry-after"] == "1"
    assert error_body(limited.value)["error"]["type"] == "rate_limit_error"
    # Anthropic's 402 billing_error is the gateway's account, not the client's: an api_error not to retry.
    with pytest.raises(anthropic.InternalServerError) as spent:
        client.messages.create(model=MODEL, max_tokens=10,
                               messages=[{"role": "user", "content": "x [[mock:fault=quota]]"}])
    assert spent.value.status_code == 502 and spent.value.response.headers["x-should-retry"] == "false"
    assert error_body(spent.value)["error"]["type"] == "api_error" and "operator" in spent.value.message


@pytest.mark.parametrize(("body", "param"), [
    ({"messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
    ({"max_tokens": 10, "messages": []}, "messages"),
    ({"max_tokens": 10, "messages": [{"role": "system", "content": "x"}]}, "messages.0.role"),
    ({"max_tokens": 10, "messages": [{"role": "user", "content": [{"type": "video", "url": "x"}]}]},
     "messages.0.content"),
    ({"max_tokens": 10, "messages": [{"role": "user", "content": "x"}], "frequency_penalty": 1}, "frequency_penalty"),
    ({"max_tokens": "ten", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
    ({"max_tokens": 10_000_000, "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
    ({"max_tokens": 10, "messages": [{"role": "user", "content": "x"}] * 10_000}, "messages"),
    ({"max_tokens": 10, "messages": [{"role": "user", "content": "x"}], "stream": "yes"}, "stream"),
])
def test_bad_input_is_a_clear_400(stack: RunningStack, http: httpx.Client, body: dict, param: str) -> None:
    resp = _post(http, stack, {"model": MODEL, **body})
    assert resp.status_code == 400, resp.text
    doc = resp.json()
    assert doc["type"] == "error" and doc["error"]["type"] == "invalid_request_error"
    assert param in doc["error"]["message"]


@pytest.mark.local_stack  # reads the mock's last request: no other client may send in between
def test_every_parameter_of_the_sdk_reaches_anthropic_as_sent(stack: RunningStack, client: anthropic.Anthropic,
                                                             http: httpx.Client) -> None:
    sent = {"cache_control": {"type": "ephemeral", "ttl": "1h"}, "speed": "fast", "inference_geo": "us",
            "diagnostics": {"previous_message_id": None}, "thinking": {"type": "adaptive", "display": "omitted"},
            "output_config": {"effort": "xhigh"}, "service_tier": "standard_only", "metadata": {"user_id": "u-1"}}
    msg = client.messages.create(model=MODEL, max_tokens=2048, messages=[{"role": "user", "content": "hi"}],
                                 **sent)
    assert text_of(msg.content[-1]) == "Echo: hi"  # after the (omitted) thinking
    received = http.get(f"{stack.mock_url}/_mock/stats").json()["anthropic"]["last_params"]
    assert {k: received.get(k) for k in sent} == sent  # the null that opts into diagnostics included
    thinkings: tuple[ThinkingConfigParam, ...] = (
        {"type": "between_tools"}, {"type": "enabled", "budget_tokens": 1024, "display": "summarized"})
    for thinking in thinkings:
        client.messages.create(model=MODEL, max_tokens=2048, messages=[{"role": "user", "content": "hi"}],
                               thinking=thinking)
        assert http.get(f"{stack.mock_url}/_mock/stats").json()["anthropic"]["last_params"]["thinking"] == thinking
    counted = client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "hi"}],
                                           cache_control={"type": "ephemeral"}, speed="standard",
                                           output_config={"effort": "low"})
    assert counted.input_tokens > 0


def test_what_the_gateway_does_not_serve_is_refused_by_name(stack: RunningStack, client: anthropic.Anthropic,
                                                            http: httpx.Client) -> None:
    body = {"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}
    refused = _post(http, stack, {**body, "container": "container_1"})
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["message"].startswith("container: not supported by this gateway (server tools")
    enabled_without_budget = _post(http, stack, {**body, "thinking": {"type": "enabled"}})
    assert enabled_without_budget.status_code == 400 and "thinking.enabled.budget_tokens" in enabled_without_budget.text
    # The SDK sends these as headers; behind the gateway the provider key's account is the only one.
    _refused_by_name(client, "anthropic-workspace-id", workspace_id="wrkspc_1")
    _refused_by_name(client, "anthropic-user-profile-id", user_profile_id="prof_1")


@pytest.mark.parametrize("version", [None, "2020-01-01"])
def test_anthropic_version_is_required(stack: RunningStack, http: httpx.Client, version: str | None) -> None:
    body = {"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}
    headers = {"x-api-key": stack.keys["anthropic"]} | ({"anthropic-version": version} if version else {})
    resp = http.post(f"{stack.url}/anthropic/v1/messages", json=body, headers=headers)
    assert resp.status_code == 400
    assert "anthropic-version" in resp.json()["error"]["message"]


def test_beta_features_are_forwarded_and_the_upstream_verdict_reaches_the_client(
        stack: RunningStack, client: anthropic.Anthropic, http: httpx.Client) -> None:
    # The SDK's beta namespace sends `anthropic-beta`; a published beta name passes through to the upstream.
    msg = client.beta.messages.create(model=MODEL, max_tokens=20, betas=["token-efficient-tools-2025-02-19"],
                                      messages=[{"role": "user", "content": "hi"}])
    assert text_of(msg.content[0]) == "Echo: hi"
    # A name Anthropic never published is refused by the upstream, and its own reason reaches the client.
    refused = _post(http, stack, {"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]},
                    **{"anthropic-beta": "made-up-feature"})
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["type"] == "invalid_request_error" and "`made-up-feature`" in error["message"]  # Anthropic's own
    # A header that is not a list of names never leaves the gateway.
    bad = _post(http, stack, {"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]},
                **{"anthropic-beta": "a b;c"})
    assert bad.status_code == 400 and "anthropic-beta" in bad.json()["error"]["message"], bad.text


@pytest.mark.parametrize(("messages", "says"), [
    ([{"role": "user", "content": ""}], "messages.0: all messages must have non-empty content except for the "
                                        "optional final assistant message"),
    ([{"role": "user", "content": [{"type": "text", "text": " "}]}], "text content blocks must contain non-whitespace"),
    ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Sure, "}],
     "final assistant content cannot end with trailing whitespace"),
])
def test_content_anthropic_refuses_gets_its_verdict(stack: RunningStack, http: httpx.Client, messages: list,
                                                    says: str) -> None:
    # Sent on as the client wrote it: Anthropic's own 400 reaches the client, in Anthropic's shape.
    refused = _post(http, stack, {"model": MODEL, "max_tokens": 10, "messages": messages})
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["type"] == "invalid_request_error" and says in refused.json()["error"]["message"]


def test_edge_errors_on_the_route(stack: RunningStack, http: httpx.Client) -> None:
    url = f"{stack.url}/anthropic/v1/messages"
    missing = http.post(url, json={})
    assert missing.status_code == 401 and missing.json()["error"]["type"] == "authentication_error"
    assert missing.json()["type"] == "error"
    got = http.get(url, headers={"x-api-key": stack.keys["anthropic"]})
    assert got.status_code == 405 and got.json()["type"] == "error"
    big = _post(http, stack, {"model": MODEL, "max_tokens": 1,
                              "messages": [{"role": "user", "content": "y" * 2_000_000}]})
    assert big.status_code == 413 and big.json()["error"]["type"] == "request_too_large"


def test_other_providers_have_no_messages_route(stack: RunningStack, http: httpx.Client) -> None:
    for provider in ("openai", "cohere"):
        resp = http.post(f"{stack.url}/{provider}/v1/messages", headers={"x-api-key": stack.keys[provider]},
                         json={"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]})
        assert resp.status_code == 404, resp.text


@pytest.mark.local_stack
def test_usage_is_audited(stack: RunningStack, http: httpx.Client) -> None:
    ids = []
    # The second pair: 2 of the 4 prompt tokens read from the prompt cache, which Anthropic leaves out of
    # its input_tokens: the record counts every prompt token, as the chat route does.
    for content in ("count my words", "count my words [[mock:cached=2]]"):
        for stream in (False, True):
            resp = _post(http, stack, {"model": MODEL, "max_tokens": 50, "stream": stream,
                                       "messages": [{"role": "user", "content": content}]})
            assert resp.status_code == 200
            ids.append(resp.headers["x-request-id"])
    time.sleep(0.2)
    text = (stack.state_dir / "audit" / "anthropic.log").read_text()
    records = {r["request_id"]: r for r in map(json.loads, text.splitlines())}
    for request_id, streamed, prompt in zip(ids, (False, True) * 2, (3, 3, 4, 4), strict=True):
        rec = records[request_id]
        assert rec["route"] == "messages" and rec["streamed"] is streamed and rec["status"] == 200
        assert (rec["prompt_tokens"], rec["completion_tokens"]) == (prompt, 4)
    assert "count my words" not in text


def test_the_sdks_models_calls_get_anthropics_records_of_the_allowed_models(client: anthropic.Anthropic,
                                                                              stack: RunningStack) -> None:
    allowed = [m["id"] for m in httpx.get(f"{stack.url}/anthropic/v1/models", verify=str(stack.ca), headers={
        "Authorization": f"Bearer {stack.keys['anthropic']}"}).json()["data"]]  # the OpenAI-shaped list
    listed = list(client.models.list())
    assert sorted(m.id for m in listed) == sorted(allowed) and MODEL in allowed
    assert all(m.type == "model" and m.lifecycle == "active" and m.display_name and m.created_at for m in listed)
    first = client.models.list(limit=1)
    assert len(first.data) == 1 and first.has_more and first.last_id == listed[0].id
    assert [m.id for m in client.models.list(limit=1)] == [m.id for m in listed]  # the SDK pages with after_id
    one = client.models.retrieve(MODEL)
    assert (one.id, one.lifecycle) == (MODEL, "active")
    with pytest.raises(anthropic.NotFoundError) as info:
        client.models.retrieve("claude-not-allowed-here")
    body = info.value.body
    assert isinstance(body, dict) and body["error"]["type"] == "not_found_error"  # Anthropic-shaped, from the gateway


def test_the_edges_own_errors_on_the_models_routes_follow_the_client(stack: RunningStack,
                                                                       http: httpx.Client) -> None:
    with _client(stack, api_key="sk-not-a-gateway-key") as bad, pytest.raises(anthropic.AuthenticationError) as auth:
        bad.models.list()
    assert auth.value.body == {"type": "error", "error": {"type": "authentication_error",  # the edge's page
                                                          "message": "invalid credentials for this provider"},
                               "request_id": auth.value.request_id}
    native = {"anthropic-version": "2023-06-01"}
    for path in ("/anthropic/v1/models", f"/anthropic/v1/models/{MODEL}"):
        anthropic_shaped = http.get(f"{stack.url}{path}", headers=native)
        assert anthropic_shaped.status_code == 401 and anthropic_shaped.json()["type"] == "error"
        openai_shaped = http.get(f"{stack.url}{path}")  # the openai SDK's call: OpenAI's shape, as before
        assert openai_shaped.status_code == 401 and "type" not in openai_shaped.json()
        assert openai_shaped.json()["error"]["type"] == "authentication_error"
        wrong = http.delete(f"{stack.url}{path}", headers={**native, "x-api-key": stack.keys["anthropic"]})
        assert wrong.status_code == 405 and wrong.json()["type"] == "error"
        assert wrong.headers["allow"] == "GET, HEAD, OPTIONS"


def test_the_edges_own_errors_elsewhere_follow_the_client(stack: RunningStack, client: anthropic.Anthropic,
                                                          http: httpx.Client) -> None:
    # What the SDK has and the gateway does not serve (batches, files): nginx's 404, in the shape it parses.
    with pytest.raises(anthropic.NotFoundError) as batches:
        client.messages.batches.list()
    assert error_body(batches.value)["error"]["type"] == "not_found_error"
    assert "v1/messages, v1/messages/count_tokens" in error_body(batches.value)["error"]["message"]
    native = {"anthropic-version": "2023-06-01", "x-api-key": stack.keys["anthropic"]}
    for path in ("/anthropic/v1/files", "/v1/messages", "/no-such-provider/v1/messages"):  # under and outside
        anthropic_shaped = http.post(f"{stack.url}{path}", headers=native, json={})
        assert anthropic_shaped.status_code == 404 and anthropic_shaped.json() == {  # the same page, its own id
            **error_body(batches.value), "request_id": anthropic_shaped.headers["request-id"]}
        openai_shaped = http.post(f"{stack.url}{path}", headers={"x-api-key": stack.keys["anthropic"]}, json={})
        assert openai_shaped.status_code == 404 and openai_shaped.json()["error"]["code"] == "not_found"
    # On chat, the edge's refusals follow the same rule: a missing credential, for each client.
    chat = f"{stack.url}/anthropic/v1/chat/completions"
    assert http.post(chat, json={}, headers={"anthropic-version": "2023-06-01"}).json()["type"] == "error"
    assert "type" not in http.post(chat, json={}).json()
