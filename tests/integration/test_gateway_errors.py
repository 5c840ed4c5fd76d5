"""Through nginx, for every provider: each upstream fault maps to its documented error, and bad input is a 4xx.

Faults come from `[[mock:fault=…]]` directives in the last user message, so they pass through the
gateway untouched. Never a 500, never a stack trace, never a key in a response.
"""

from __future__ import annotations

import json
import ssl
from typing import Any

import httpx
import httpx2
import openai
import pytest

import catalogue
from gateway.providers import adapter_class
from tests.support.stack import RunningStack

pytestmark = pytest.mark.integration
PROVIDERS = catalogue.names()


def post_chat(stack: RunningStack, http: httpx.Client, provider: str, text: str, **body: Any) -> httpx.Response:
    payload = {"model": stack.model(provider), "messages": [{"role": "user", "content": text}], **body}
    return http.post(f"{stack.url}/{provider}/v1/chat/completions", json=payload,
                     headers={"Authorization": f"Bearer {stack.keys[provider]}"})


def assert_error(resp: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json"), resp.headers
    err = resp.json()["error"]
    assert {"message", "type", "code"} <= set(err)
    assert "Traceback" not in resp.text and "mock-" not in resp.text and "lgw_" not in resp.text
    if code:
        assert err["code"] == code, err
    return err


def sse_events(resp: httpx.Response) -> list[Any]:
    out: list[Any] = []
    for line in resp.text.splitlines():
        if line.startswith("data: "):
            data = line[6:]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize(("fault", "status", "code"), [
    ("429", 429, "rate_limit_exceeded"),
    ("500", 502, "upstream_error"),
    ("503", 502, "upstream_error"),
    ("malformed", 502, "upstream_bad_response"),
    ("quota", 502, "upstream_quota_exhausted"),  # the gateway's own account: out of credit upstream
])
def test_upstream_fault_maps_to_status(stack: RunningStack, http: httpx.Client, provider: str, stream: bool,
                                       fault: str, status: int, code: str) -> None:
    resp = post_chat(stack, http, provider, f"hello [[mock:fault={fault}]]", stream=stream)
    assert_error(resp, status, code)
    if status == 429:
        assert int(resp.headers["retry-after"]) >= 1


# Each provider's own stop reasons (the mock sends the word it is told), in OpenAI's words or failed.
STOP_REASONS = [(p, raw, mapped) for p in PROVIDERS for raw, mapped in adapter_class(p).finish_reasons.items()
                if mapped != "tool_calls"]  # a tool-call stop comes with its calls (test_chat_tools.py)
FAILED = [(p, raw) for p in PROVIDERS for raw in sorted(adapter_class(p).failed_finishes)]


@pytest.mark.parametrize(("provider", "raw", "mapped"), STOP_REASONS)
def test_a_providers_stop_reason_reaches_the_client_in_openais_words(stack: RunningStack, http: httpx.Client,
                                                                     provider: str, raw: str, mapped: str) -> None:
    plain = post_chat(stack, http, provider, f"an answer [[mock:finish={raw}]]")
    assert plain.status_code == 200 and plain.json()["choices"][0]["finish_reason"] == mapped, plain.text
    events = sse_events(post_chat(stack, http, provider, f"an answer [[mock:finish={raw}]]", stream=True))
    assert [c["finish_reason"] for e in events[:-1] for c in e.get("choices") or [] if c["finish_reason"]] == [mapped]


@pytest.mark.parametrize(("provider", "finish"), FAILED)
def test_a_failed_generation_is_an_upstream_error(stack: RunningStack, http: httpx.Client, provider: str,
                                                  finish: str) -> None:
    plain = post_chat(stack, http, provider, f"half an answer [[mock:finish={finish}]]")
    assert finish in assert_error(plain, 502, "upstream_failed")["message"]
    streamed = post_chat(stack, http, provider, f"half an answer [[mock:finish={finish}]]", stream=True)
    assert streamed.status_code == 200  # the text had started: the failure is reported in-band, never as `stop`
    events = sse_events(streamed)
    assert events[-1] == "[DONE]" and events[-2]["error"]["code"] == "upstream_failed"
    assert not any(e.get("choices") and e["choices"][0]["finish_reason"] for e in events[:-2])


def test_disconnect_before_the_body_completes_is_502(stack: RunningStack, http: httpx.Client, provider: str) -> None:
    assert_error(post_chat(stack, http, provider, "a b c [[mock:fault=disconnect]]"), 502, "upstream_unreachable")


def test_mid_stream_disconnect_ends_with_an_error_event(stack: RunningStack, http: httpx.Client,
                                                        provider: str) -> None:
    resp = post_chat(stack, http, provider, "one two three four five six [[mock:fault=disconnect]]", stream=True)
    assert resp.status_code == 200  # the stream had started: the failure is reported in-band
    events = sse_events(resp)
    assert events[-1] == "[DONE]"
    assert events[-2]["error"]["code"] == "upstream_unreachable"
    assert events[-2]["error"]["type"] == "upstream_error"
    deltas = [e["choices"][0]["delta"] for e in events[:-2]]
    assert not deltas or deltas[0]["role"] == "assistant"  # what came first opened the turn (text: none yet)
    assert not any(e.get("choices") and e["choices"][0]["finish_reason"] for e in events[:-2])


def test_sdk_sees_typed_errors(stack: RunningStack, provider: str, http: httpx.Client) -> None:
    sdk = openai.OpenAI(base_url=f"{stack.url}/{provider}/v1", api_key=stack.keys[provider], max_retries=0,
                        http_client=http)  # pyright: ignore[reportArgumentType]  # httpx.Client accepted at runtime
    msgs: Any = [{"role": "user", "content": "x [[mock:fault=429]]"}]
    with pytest.raises(openai.RateLimitError) as limited:
        sdk.chat.completions.create(model=stack.model(provider), messages=msgs)
    assert limited.value.response.headers["retry-after"]
    with pytest.raises(openai.RateLimitError):
        list(sdk.chat.completions.create(model=stack.model(provider), messages=msgs, stream=True))
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.APIError) as in_band:  # the error event mid-stream
        list(sdk.chat.completions.create(model=stack.model(provider), stream=True,
                                         messages=[{"role": "user", "content": "a b c d [[mock:fault=disconnect]]"}]))
    assert in_band.value.code == "upstream_unreachable"


def test_a_spent_upstream_account_is_not_retried_by_the_sdk(stack: RunningStack, provider: str) -> None:
    # The provider's 402 (OpenAI's 429 insufficient_quota) is the operator's to fix: a client retry cannot pass.
    sent: list[str] = []
    http = httpx2.Client(verify=ssl.create_default_context(cafile=str(stack.ca)), timeout=60,
                         event_hooks={"request": [lambda request: sent.append(request.url.path)]})
    msgs: Any = [{"role": "user", "content": "x [[mock:fault=quota]]"}]
    with openai.OpenAI(base_url=f"{stack.url}/{provider}/v1", api_key=stack.keys[provider], http_client=http,
                       max_retries=2) as sdk, pytest.raises(openai.InternalServerError) as refused:
        sdk.chat.completions.create(model=stack.model(provider), messages=msgs)
    assert refused.value.code == "upstream_quota_exhausted" and "operator" in refused.value.message
    assert refused.value.response.headers["x-should-retry"] == "false"
    assert sent == [f"/{provider}/v1/chat/completions"]


def _mock_faults(stack: RunningStack, provider: str) -> int:
    return int(httpx.get(f"{stack.mock_url}/_mock/stats", timeout=10).json()[provider]["faults"])


@pytest.mark.local_stack  # counts the mock's faults: no other client may provoke one in between
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_the_gateway_asks_a_spent_upstream_account_once(stack: RunningStack, http: httpx.Client, provider: str,
                                                        stream: bool) -> None:
    # No credit left does not pass with time: the gateway's own SDK client must not spend its retries (and the
    # caller's wait) on it, as it does on a rate limit's 429 (GATEWAY_MAX_RETRIES is 2 here).
    before = _mock_faults(stack, provider)
    assert_error(post_chat(stack, http, provider, "x [[mock:fault=quota]]", stream=stream), 502,
                 "upstream_quota_exhausted")
    assert _mock_faults(stack, provider) - before == 1


def _big() -> bytes:
    return json.dumps({"messages": [{"role": "user", "content": "x" * 2_000_000}]}).encode()


BAD_INPUT: dict[str, tuple[dict[str, Any], int]] = {
    "invalid json": ({"content": b'{"messages": [', "headers": {"content-type": "application/json"}}, 400),
    "empty messages": ({"json": {"messages": []}}, 422),
    "missing messages": ({"json": {"model": None}}, 422),
    "unknown role": ({"json": {"messages": [{"role": "wizard", "content": "x"}]}}, 422),
    "tool role": ({"json": {"messages": [{"role": "tool", "content": "x"}]}}, 422),
    "unknown model": ({"json": {"model": "gpt-99", "messages": [{"role": "user", "content": "x"}]}}, 404),
    "negative max_tokens": ({"json": {"messages": [{"role": "user", "content": "x"}], "max_tokens": -5}}, 422),
    "zero max_tokens": ({"json": {"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}}, 422),
    "huge max_tokens": ({"json": {"messages": [{"role": "user", "content": "x"}], "max_tokens": 10**12}}, 400),
    "text/plain": ({"content": b'{"messages": [{"role": "user", "content": "x"}]}',
                    "headers": {"content-type": "text/plain"}}, 400),
    "form body": ({"data": {"messages": "x"}}, 400),
    "no content-type": ({"content": b'{"messages": [{"role": "user", "content": "x"}]}'}, 400),
    "messages not a list": ({"json": {"messages": "hello"}}, 422),
    "content not a string": ({"json": {"messages": [{"role": "user", "content": 42}]}}, 422),
    "temperature a string": ({"json": {"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}}, 422),
    "temperature too high": ({"json": {"messages": [{"role": "user", "content": "x"}], "temperature": 9}}, 422),
    "body is a list": ({"json": [1, 2]}, 422),
    "body is null": ({"content": b"null", "headers": {"content-type": "application/json"}}, 422),
    "invalid utf-8": ({"content": b'{"messages": [{"role": "user", "content": "\xff"}]}',
                       "headers": {"content-type": "application/json"}}, 400),
    "oversized body": ({"content": _big(), "headers": {"content-type": "application/json"}}, 413),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_a_clear_4xx(stack: RunningStack, http: httpx.Client, provider: str, case: str) -> None:
    kwargs, status = BAD_INPUT[case]
    headers = {"Authorization": f"Bearer {stack.keys[provider]}", **kwargs.get("headers", {})}
    resp = http.post(f"{stack.url}/{provider}/v1/chat/completions", **{**kwargs, "headers": headers})
    assert resp.status_code == status, resp.text[:300]
    err = assert_error(resp, status)
    if status == 422:
        assert err.get("param"), err  # the field is named


def test_oversized_body_straight_to_the_gateway_is_json_413(stack: RunningStack, provider: str) -> None:
    if provider not in stack.gateway_urls:
        pytest.skip("gateway ports are not reachable on an external stack")
    resp = httpx.post(f"{stack.gateway_urls[provider]}/v1/chat/completions", content=_big(),
                      headers={"Authorization": f"Bearer {stack.keys[provider]}", "content-type": "application/json"})
    assert_error(resp, 413, "request_too_large")


def test_agent_bad_input(stack: RunningStack, http: httpx.Client, provider: str) -> None:
    url = f"{stack.url}/{provider}/v1/agent"
    auth = {"Authorization": f"Bearer {stack.keys[provider]}"}
    assert_error(http.post(url, json={}, headers=auth), 422)
    assert_error(http.post(url, json={"input": "x", "tools": ["shell"]}, headers=auth), 422)
    assert_error(http.post(url, json={"input": "x", "model": "nope"}, headers=auth), 404, "model_not_found")
    assert_error(http.post(url, json={"input": "x", "max_steps": 0}, headers=auth), 422)
    assert_error(http.post(url, content=b"{", headers={**auth, "content-type": "application/json"}), 400)


def test_unknown_routes_and_methods(stack: RunningStack, http: httpx.Client, provider: str) -> None:
    auth = {"Authorization": f"Bearer {stack.keys[provider]}"}
    assert http.get(f"{stack.url}/{provider}/v1/nothing-here", headers=auth).status_code == 404
    assert http.get(f"{stack.url}/{provider}/v1/chat/completions", headers=auth).status_code == 405
    assert http.get(f"{stack.url}/gemini/v1/models", headers=auth).status_code == 404
