"""Every OpenAI chat parameter is honoured (it reaches the provider under its own name) or refused with
a 400 naming it — never dropped. Each provider's refusals come from its adapter's declared table."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import catalogue
from gateway.chat.params import PASSTHROUGH
from gateway.providers import adapter_class
from tests.support.stack import RunningStack

pytestmark = pytest.mark.integration

TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
# A valid value of each optional parameter (with what it needs besides, e.g. tools).
SAMPLES: dict[str, dict[str, Any]] = {
    "temperature": {"temperature": 0.3}, "top_p": {"top_p": 0.5}, "seed": {"seed": 7},
    "presence_penalty": {"presence_penalty": 0.5}, "frequency_penalty": {"frequency_penalty": 0.25},
    "logit_bias": {"logit_bias": {"50256": -100}}, "logprobs": {"logprobs": True},
    "top_logprobs": {"logprobs": True, "top_logprobs": 2}, "user": {"user": "end-user-1"},
    "metadata": {"metadata": {"team": "a"}}, "store": {"store": True}, "service_tier": {"service_tier": "auto"},
    "reasoning_effort": {"reasoning_effort": "high"}, "verbosity": {"verbosity": "low"},
    "safety_identifier": {"safety_identifier": "user-hash-1"}, "prompt_cache_key": {"prompt_cache_key": "tenant-a"},
    "prompt_cache_retention": {"prompt_cache_retention": "24h"},
    "prompt_cache_options": {"prompt_cache_options": {"mode": "explicit", "ttl": "30m"}},
    "parallel_tool_calls": {"tools": [TOOL], "parallel_tool_calls": False},
}
# Where each honoured parameter lands in the provider's own request body.
LANDS = {
    "openai": {"top_p": "top_p", "metadata": "metadata", "user": "user", "reasoning_effort": "reasoning_effort",
               "verbosity": "verbosity", "safety_identifier": "safety_identifier",
               "prompt_cache_key": "prompt_cache_key", "prompt_cache_retention": "prompt_cache_retention",
               "prompt_cache_options": "prompt_cache_options"},
    "anthropic": {"top_p": "top_p", "user": "metadata.user_id", "reasoning_effort": "output_config.effort"},
    "cohere": {"top_p": "p", "seed": "seed", "presence_penalty": "presence_penalty"},
    "mistral": {"top_p": "top_p", "seed": "random_seed", "presence_penalty": "presence_penalty"},
}
# Rows of the self-hosted kind speak OpenAI's request body.
LANDS.update({p.name: {"top_p": "top_p", "user": "user"} for p in catalogue.providers()
              if p.kind == "openai-compatible"})


def post(http: httpx.Client, stack: RunningStack, provider: str, **fields: Any) -> httpx.Response:
    body = {"model": stack.model(provider), "messages": [{"role": "user", "content": "hi"}], **fields}
    return http.post(f"{stack.url}/{provider}/v1/chat/completions", json=body,
                     headers={"Authorization": f"Bearer {stack.keys[provider]}"})


def dig(doc: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        doc = doc[part]
    return doc


def test_the_samples_cover_every_parameter_passed_or_refused() -> None:
    declared = set(PASSTHROUGH) | {"parallel_tool_calls"}
    for name in catalogue.names():
        declared |= set(adapter_class(name).refused)
    assert declared <= set(SAMPLES)


@pytest.mark.local_stack  # reads the mock's last request: no other client may send in between
@pytest.mark.parametrize("param", sorted(SAMPLES))
def test_each_parameter_is_honoured_or_refused(stack: RunningStack, provider: str, http: httpx.Client,
                                               param: str) -> None:
    resp = post(http, stack, provider, **SAMPLES[param])
    if param in adapter_class(provider).refused:
        assert resp.status_code == 400, resp.text
        err = resp.json()["error"]
        assert err["param"] in SAMPLES[param] and err["param"] in adapter_class(provider).refused
        assert err["code"] == "unsupported_parameter" and provider in err["message"]
        return
    assert resp.status_code == 200, resp.text
    sent = http.get(f"{stack.mock_url}/_mock/stats").json()[provider]["last_params"]
    where = LANDS[provider].get(param)  # every catalogue row needs an entry: a KeyError names a new one
    if where:
        assert dig(sent, where) == SAMPLES[param][param]


@pytest.mark.parametrize(("fields", "param", "says"), [
    ({"frobnicate": 1}, "frobnicate", "frobnicate: unrecognized parameter"),
    ({"functions": [{"name": "f"}]}, "functions", "functions: not supported by this gateway (deprecated by OpenAI"),
    ({"modalities": ["audio"]}, "modalities", "modalities: not supported by this gateway (only text output"),
    ({"prediction": {"type": "content", "content": "x"}}, "prediction", "prediction: not supported by this gateway"),
    ({"web_search_options": {}}, "web_search_options", "web_search_options: not supported by this gateway")])
def test_unknown_parameters_get_a_400_naming_them(stack: RunningStack, provider: str, http: httpx.Client,
                                                  fields: dict[str, Any], param: str, says: str) -> None:
    resp = post(http, stack, provider, **fields)
    assert resp.status_code == 400 and resp.json()["error"]["param"] == param
    assert resp.json()["error"]["code"] == "unsupported_parameter"
    assert resp.json()["error"]["message"].startswith(says)


@pytest.mark.local_stack  # reads the mock's last request: no other client may send in between
def test_a_null_for_what_the_gateway_does_not_serve_is_not_set_and_top_p_may_be_0(stack: RunningStack,
                                                                                http: httpx.Client) -> None:
    # What a client sends for "not set" (the SDK types these Optional); OpenAI's top_p range includes 0.
    from gateway.api.chat_request import NOT_SERVED

    resp = post(http, stack, "openai", top_p=0, **dict.fromkeys(NOT_SERVED))
    assert resp.status_code == 200, resp.text
    sent = http.get(f"{stack.mock_url}/_mock/stats").json()["openai"]["last_params"]
    assert sent["top_p"] == 0 and NOT_SERVED.keys().isdisjoint(sent), sent


@pytest.mark.local_stack  # reads the mock's last request: no other client may send in between
def test_a_sampling_parameter_left_out_is_the_providers_default(stack: RunningStack, provider: str,
                                                                http: httpx.Client) -> None:
    # Not the integration's own default (langchain-mistralai's temperature 0.7, top_p 1): the provider's, as
    # OpenAI's API applies its own to a request without them.
    assert post(http, stack, provider).status_code == 200
    sent = http.get(f"{stack.mock_url}/_mock/stats").json()[provider]["last_params"]
    left_out = {"temperature", LANDS[provider]["top_p"], "seed", LANDS[provider].get("seed", "seed"),
                "presence_penalty", "frequency_penalty"}
    assert left_out.isdisjoint(sent), sent


@pytest.mark.local_stack  # reads the mock's last request: no other client may send in between
def test_a_value_asking_for_the_default_is_taken_everywhere_and_sent_nowhere(stack: RunningStack, provider: str,
                                                                             http: httpx.Client) -> None:
    # What many clients send on every request. Providers refuse some outright (the mock as they do): Anthropic's
    # recent models top_p beside temperature, Cohere a p of 1 and both penalties together; others take no penalty,
    # log probabilities or storage at all.
    defaults = {"top_p": 1, "presence_penalty": 0, "frequency_penalty": 0.0, "logprobs": False, "store": False}
    resp = post(http, stack, provider, temperature=0.5, **defaults)
    assert resp.status_code == 200, resp.text
    sent = http.get(f"{stack.mock_url}/_mock/stats").json()[provider]["last_params"]
    assert sent["temperature"] == 0.5
    assert {LANDS[provider]["top_p"], *defaults}.isdisjoint(sent), sent
    moved = post(http, stack, provider, top_p=0.9)  # any other value is the client's: sent, or refused by name
    assert moved.status_code == 200 and dig(http.get(f"{stack.mock_url}/_mock/stats").json()[provider]["last_params"],
                                            LANDS[provider]["top_p"]) == 0.9, moved.text


# The output cap under the name each server reads: OpenAI's current one for OpenAI; `max_tokens` for self-hosted
# servers (Ollama reads no other; vLLM, TGI and llama.cpp take it too), as langchain-openai renames it.
CAP_NAMES = {"openai": "max_completion_tokens", "anthropic": "max_tokens", "cohere": "max_tokens",
             "mistral": "max_tokens"}
CAP_NAMES.update({p.name: "max_tokens" for p in catalogue.providers() if p.kind == "openai-compatible"})


@pytest.mark.local_stack  # reads the mock's last request: no other client may send in between
@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens", None])
def test_the_output_cap_reaches_the_provider_under_the_name_it_reads(stack: RunningStack, provider: str,
                                                                     http: httpx.Client, field: str | None) -> None:
    # None: the gateway's own cap (GATEWAY_MAX_TOKENS_LIMIT, or the model's maximum), which must bind too.
    assert post(http, stack, provider, **({field: 50} if field else {})).status_code == 200
    sent = http.get(f"{stack.mock_url}/_mock/stats").json()[provider]["last_params"]
    caps = {name: sent[name] for name in ("max_tokens", "max_completion_tokens") if name in sent}
    assert list(caps) == [CAP_NAMES[provider]], sent
    assert caps[CAP_NAMES[provider]] == 50 if field else caps[CAP_NAMES[provider]] > 0


@pytest.mark.local_stack  # reads the mock's last request: no other client may send in between
def test_an_object_valued_parameter_reaches_openai_as_sent_when_streamed(stack: RunningStack,
                                                                          http: httpx.Client) -> None:
    options = {"mode": "implicit", "ttl": "30m"}
    resp = post(http, stack, "openai", stream=True, prompt_cache_options=options, verbosity="high")
    assert resp.status_code == 200 and resp.text.endswith("data: [DONE]\n\n")
    sent = http.get(f"{stack.mock_url}/_mock/stats").json()["openai"]["last_params"]
    assert sent["prompt_cache_options"] == options and sent["verbosity"] == "high" and sent["stream"] is True


@pytest.mark.local_stack  # reads the mock's last request: no other client may send in between
@pytest.mark.parametrize("value", ["none", "minimal", "max"])
def test_every_reasoning_effort_openai_documents_is_accepted(stack: RunningStack, http: httpx.Client,
                                                             value: str) -> None:
    assert post(http, stack, "openai", reasoning_effort=value).status_code == 200
    assert http.get(f"{stack.mock_url}/_mock/stats").json()["openai"]["last_params"]["reasoning_effort"] == value


def test_an_effort_level_the_model_does_not_have_is_refused_by_name(stack: RunningStack, http: httpx.Client) -> None:
    # claude-sonnet-4-6's levels (its LangChain profile): low, medium, high, max; xhigh is claude-opus-4-7's.
    resp = post(http, stack, "anthropic", model="claude-sonnet-4-6", reasoning_effort="xhigh")
    assert resp.status_code == 400, resp.text
    err = resp.json()["error"]
    assert (err["param"], err["code"]) == ("reasoning_effort", "unsupported_parameter")
    assert err["message"] == ("reasoning_effort: 'xhigh' is not an effort level of claude-sonnet-4-6 "
                              "(it takes low, medium, high, max)")
    assert post(http, stack, "anthropic", model="claude-sonnet-4-6", reasoning_effort="max").status_code == 200


def test_a_conversation_without_a_user_turn_is_the_providers_call(stack: RunningStack, provider: str,
                                                                  http: httpx.Client) -> None:
    # OpenAI answers one of system/developer messages only; the others answer nothing without a user turn.
    resp = post(http, stack, provider, messages=[{"role": "system", "content": "say hello"},
                                                 {"role": "developer", "content": "briefly"}])
    if not adapter_class(provider).needs_user_turn:
        assert resp.status_code == 200, resp.text
        return
    assert resp.status_code == 422, resp.text
    err = resp.json()["error"]
    assert (err["param"], err["code"]) == ("messages", "invalid_field") and provider in err["message"]


def test_n_above_one_is_refused_and_one_is_fine(stack: RunningStack, provider: str, http: httpx.Client) -> None:
    resp = post(http, stack, provider, n=2)
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "n"
    assert resp.json()["error"]["code"] == "unsupported_parameter"  # the SDKs' BadRequestError, as OpenAI's own
    assert resp.json()["error"]["message"] == (
        "n: not supported by this gateway (one choice per request: send 2 requests for 2 choices)")
    assert post(http, stack, provider, n=1).status_code == 200


@pytest.mark.parametrize("stream", [False, True])
def test_a_stop_sequence_ends_the_reply_where_the_provider_stopped(stack: RunningStack, provider: str,
                                                                   http: httpx.Client, stream: bool) -> None:
    # Every provider stops before the sequence (Anthropic's stop_sequence and Cohere's STOP_SEQUENCE are "stop").
    resp = post(http, stack, provider, messages=[{"role": "user", "content": "one two three four"}],
                stop=["four", "three"], stream=stream)
    assert resp.status_code == 200, resp.text
    if stream:
        choices = [json.loads(line[6:])["choices"] for line in resp.text.split("\n\n") if line.startswith("data: {")]
        text = "".join(c[0]["delta"].get("content") or "" for c in choices if c)
        finish = [c[0]["finish_reason"] for c in choices if c and c[0]["finish_reason"]]
    else:
        text, finish = resp.json()["choices"][0]["message"]["content"], [resp.json()["choices"][0]["finish_reason"]]
    assert (text, finish) == ("Echo: one two ", ["stop"])


def test_an_empty_message_anthropic_refuses_gets_its_words(stack: RunningStack, http: httpx.Client) -> None:
    # langchain-anthropic leaves an empty assistant turn out and strips a final one's trailing whitespace; an
    # empty user turn goes on, and Anthropic's verdict reaches the client (its index counts Anthropic's messages:
    # the system prompt is not one of them).
    for messages, ok in (([{"role": "user", "content": "hi"}, {"role": "assistant", "content": ""},
                           {"role": "user", "content": "again"}], True),
                         ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Sure, "}], True),
                         ([{"role": "system", "content": "be brief"}, {"role": "user", "content": ""}], False)):
        resp = post(http, stack, "anthropic", messages=messages)
        if ok:
            assert resp.status_code == 200, resp.text
            continue
        assert resp.status_code == 400 and resp.json()["error"]["code"] == "upstream_rejected", resp.text
        assert resp.json()["error"]["message"] == (
            "the upstream provider rejected the request (status 400): messages.0: all messages must have non-empty "
            "content except for the optional final assistant message")


@pytest.mark.local_stack  # reads the mock's last request: no other client may send in between
def test_tool_choice_reaches_the_provider_in_its_own_form(stack: RunningStack, provider: str,
                                                          http: httpx.Client) -> None:
    other = {"type": "function", "function": {"name": "g", "parameters": {"type": "object", "properties": {}}}}
    resp = post(http, stack, provider, tools=[TOOL, other], tool_choice={"type": "function", "function": {"name": "g"}})
    assert resp.status_code == 200 and resp.json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "g"
    sent = http.get(f"{stack.mock_url}/_mock/stats").json()[provider]["last_params"]
    openai_form = {"type": "function", "function": {"name": "g"}}
    expected = {"anthropic": {"type": "tool", "name": "g"}, "cohere": "REQUIRED"}.get(provider, openai_form)
    assert sent["tool_choice"] == expected
    if provider == "cohere":  # forced by offering only the named function
        assert [t["function"]["name"] for t in sent["tools"]] == ["g"]


@pytest.mark.parametrize("stream", [False, True])
def test_the_service_tier_that_served_the_request_reaches_the_client(stack: RunningStack, http: httpx.Client,
                                                                     stream: bool) -> None:
    # OpenAI names the tier that served a request in its reply (and streamed chunks); "auto" is served by "default".
    for asked, served in ((None, "default"), ("auto", "default"), ("flex", "flex"), ("priority", "priority")):
        body: dict[str, Any] = {} if asked is None else {"service_tier": asked}
        if stream:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
        resp = post(http, stack, "openai", **body)
        assert resp.status_code == 200, resp.text
        if stream:
            events = [json.loads(line[6:]) for line in resp.text.split("\n\n") if line.startswith("data: {")]
            assert [e.get("service_tier") for e in events[-2:]] == [served, served]  # the finish and usage chunks
        else:
            assert resp.json()["service_tier"] == served


@pytest.mark.local_stack  # reads the mock's last request: no other client may send in between
@pytest.mark.parametrize("arguments", ["not json", '{"x": NaN}', "[1, 2]"])
def test_tool_call_arguments_not_a_json_object_are_sent_as_they_are_or_refused(
        stack: RunningStack, provider: str, http: httpx.Client, arguments: str) -> None:
    # langchain-anthropic would send `{}` in their place (or fail to encode a NaN), langchain-cohere would leave the
    # call out: a 400 naming them there; the OpenAI-shaped wires carry the string as it came.
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}}
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "c1", "content": "one"}]
    resp = post(http, stack, provider, messages=messages, tools=[TOOL])
    why = adapter_class(provider).refused_unparsed_arguments
    if why is not None:
        assert resp.status_code == 400, resp.text
        error = resp.json()["error"]
        assert error["code"] == "unsupported_parameter"
        assert error["param"] == "messages.1.tool_calls.0.function.arguments"
        assert error["message"].endswith(f"({why})")
        return
    assert resp.status_code == 200, resp.text
    sent = http.get(f"{stack.mock_url}/_mock/stats").json()[provider]["last_messages"]
    assert [m["tool_calls"][0]["function"]["arguments"] for m in sent if m.get("tool_calls")] == [arguments]
