"""Provider adapters: declared parameter and stop-reason maps, and SDK exceptions → gateway errors.

The exceptions are the SDKs' own classes built around real `httpx2`/`httpx` responses,
exactly as each SDK raises them.
"""

from __future__ import annotations

import json
import logging
import typing
from typing import Any

import anthropic
import cohere
import httpx
import httpx2
import openai
import pytest
from cohere.types.chat_finish_reason import ChatFinishReason
from langchain_anthropic import ChatAnthropic
from langchain_cohere import ChatCohere
from langchain_mistralai import ChatMistralAI
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

import catalogue
from gateway.config import Settings
from gateway.errors import (
    GatewayError,
    InvalidRequestError,
    RateLimitedError,
    UpstreamBadResponseError,
    UpstreamError,
    UpstreamTimeoutError,
)
from gateway.providers import adapter_class, create_adapter
from gateway.providers.anthropic import ChatAnthropicOn
from gateway.providers.base import ProviderAdapter, from_status, retry_after_seconds

PROVIDERS = catalogue.names()
CHAT_MODEL_TYPES: dict[str, type] = {"openai": ChatOpenAI, "anthropic": ChatAnthropic, "cohere": ChatCohere,
                                     "mistral": ChatMistralAI, "openai-compatible": ChatOpenAI}


def adapter(provider: str, **settings: Any) -> ProviderAdapter:
    return create_adapter(Settings(provider=provider, **settings))


def _req2() -> httpx2.Request:
    return httpx2.Request("POST", "http://upstream.test/v1/x")


def _resp2(status: int, headers: dict[str, str] | None = None) -> httpx2.Response:
    return httpx2.Response(status, headers=headers or {}, request=_req2(), json={"error": {"message": "m"}})


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_catalogue_row_has_an_adapter(provider: str) -> None:
    cls = adapter_class(provider)
    assert issubclass(cls, ProviderAdapter) and cls.__module__ == catalogue.provider(provider).adapter.split(":")[0]


def test_unknown_provider_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown provider 'gemini'; known: openai"):
        adapter_class("gemini")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_build_model_uses_the_official_integration(provider: str) -> None:
    a, row = adapter(provider), catalogue.provider(provider)
    assert (a.name, a.base_url, a.models, a.embedding_models) == (row.name, row.base_url, row.models,
                                                                   row.embedding_models)
    model_type = CHAT_MODEL_TYPES[row.kind]
    model = a.chat_model(a.models[0], "sk-test")
    assert isinstance(model, model_type)
    assert a.chat_model(a.models[0], "sk-test") is model  # cached
    assert a.chat_model(a.models[0], "sk-rotated") is not model  # a new key builds a new model


def test_configuration_reaches_the_chat_model() -> None:
    a = adapter("openai", upstream_base_url="http://127.0.0.1:9/v1", upstream_timeout_s=7, max_retries=0,
                models="m1,m2")
    model = a.chat_model("m2", "sk")
    assert isinstance(model, ChatOpenAI)
    assert (model.openai_api_base, model.request_timeout, model.max_retries) == ("http://127.0.0.1:9/v1", 7.0, 0)
    assert a.models == ("m1", "m2")


def test_model_cache_is_bounded() -> None:
    a = adapter("openai")
    for i in range(40):
        a.chat_model("gpt-4o-mini", f"k{i}")
    assert len(a._cache) <= 16


def test_param_map_renames_and_drops_unset() -> None:
    params = {"temperature": 0.2, "top_p": 0.9, "max_tokens": None}
    assert adapter("cohere").invoke_params(params) == {"temperature": 0.2, "p": 0.9}
    assert adapter("openai").invoke_params(params) == {"temperature": 0.2, "top_p": 0.9}
    assert adapter("anthropic").invoke_params({"max_tokens": 5}) == {"max_tokens": 5}


@pytest.mark.parametrize(("provider", "metadata", "expected"), [
    ("openai", {"finish_reason": "stop"}, "stop"),
    ("openai", {"finish_reason": "length"}, "length"),
    ("openai", {"finish_reason": "tool_calls"}, "tool_calls"),
    ("anthropic", {"stop_reason": "end_turn"}, "stop"),
    ("anthropic", {"stop_reason": "stop_sequence"}, "stop"),
    ("anthropic", {"stop_reason": "max_tokens"}, "length"),
    ("anthropic", {"stop_reason": "tool_use"}, "tool_calls"),
    ("anthropic", {"stop_reason": "refusal"}, "content_filter"),
    ("cohere", {"finish_reason": "COMPLETE"}, "stop"),
    ("cohere", {"finish_reason": "MAX_TOKENS"}, "length"),
    ("cohere", {"finish_reason": "TOOL_CALL"}, "tool_calls"),
    ("cohere", {"finish_reason": "SOMETHING_NEW"}, "something_new"),
    ("openai", {}, None),
    ("anthropic", {"finish_reason": "stop"}, None),  # the wrong key is not read
])
def test_finish_reason_mapping(provider: str, metadata: dict[str, str], expected: str | None) -> None:
    assert adapter(provider).finish_reason(metadata) == expected


# -- error mapping ---------------------------------------------------------------------------------
def _expect(err: GatewayError, kind: type[GatewayError], status: int, code: str | None = None) -> None:
    assert type(err) is kind, repr(err)
    assert err.status == status
    if code is not None:
        assert err.code == code


OPENAI_FINISHES = {"stop", "length", "tool_calls", "content_filter", "function_call"}


@pytest.mark.parametrize(("provider", "reasons", "key"), [
    ("anthropic", typing.get_args(anthropic.types.StopReason), "stop_reason"),
    ("cohere", typing.get_args(typing.get_args(ChatFinishReason)[0]), "finish_reason"),
])
def test_every_stop_reason_of_the_sdk_is_an_openai_finish_reason_or_a_failure(provider: str, reasons: tuple,
                                                                               key: str) -> None:
    gateway = create_adapter(Settings(provider=provider))
    for reason in reasons:
        if reason in gateway.failed_finishes:
            with pytest.raises(UpstreamError):
                gateway.finish_reason({key: reason})
        else:
            assert gateway.finish_reason({key: reason}) in OPENAI_FINISHES, reason



@pytest.mark.parametrize("sdk", [openai, anthropic], ids=["openai", "anthropic"])
def test_status_errors_of_openai_and_anthropic_sdks(sdk) -> None:
    a = adapter(sdk.__name__)
    rate = a.map_error(sdk.RateLimitError("slow down", response=_resp2(429, {"retry-after": "7"}), body=None))
    _expect(rate, RateLimitedError, 429, "rate_limit_exceeded")
    assert rate.retry_after == 7
    _expect(a.map_error(sdk.InternalServerError("boom", response=_resp2(500), body=None)), UpstreamError, 502)
    _expect(a.map_error(sdk.APIStatusError("busy", response=_resp2(503), body=None)), UpstreamError, 502)
    _expect(a.map_error(sdk.AuthenticationError("no", response=_resp2(401), body=None)),
            UpstreamError, 502, "upstream_auth")
    _expect(a.map_error(sdk.BadRequestError("bad", response=_resp2(400), body=None)),
            InvalidRequestError, 400, "upstream_rejected")
    # The provider's own reason for a rejection reaches the client, on one bounded line.
    inner = {"type": "invalid_request_error", "message": "messages: roles must\n alternate"}
    body = inner if sdk is openai else {"type": "error", "error": inner}  # openai's SDK unwraps `error`
    rejected = a.map_error(sdk.BadRequestError("bad", response=_resp2(400), body=body))
    assert rejected.message.endswith("(status 400): messages: roles must alternate"), rejected.message
    _expect(a.map_error(sdk.APIStatusError("gw", response=_resp2(504), body=None)), UpstreamTimeoutError, 504)
    _expect(a.map_error(sdk.APITimeoutError(request=_req2())), UpstreamTimeoutError, 504)
    _expect(a.map_error(sdk.APIConnectionError(request=_req2())), UpstreamError, 502, "upstream_unreachable")
    _expect(a.map_error(sdk.APIResponseValidationError(response=_resp2(200), body=None)),
            UpstreamBadResponseError, 502, "upstream_bad_response")
    # The gateway's own account out of credit (OpenAI: 429 insufficient_quota; Anthropic: 402 billing_error).
    quota = {"type": "insufficient_quota", "code": "insufficient_quota", "message": "You exceeded your quota"}
    spent = (a.map_error(sdk.RateLimitError("quota", response=_resp2(429), body=quota)) if sdk is openai else
             a.map_error(sdk.APIStatusError("billing", response=_resp2(402),
                                            body={"type": "error", "error": {"type": "billing_error"}})))
    _expect(spent, UpstreamError, 502, "upstream_quota_exhausted")
    assert spent.retryable is False and spent.retry_after is None


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_raw_httpx2_errors_while_streaming_are_mapped(provider: str) -> None:
    a = adapter(provider)
    _expect(a.map_error(httpx2.RemoteProtocolError("peer closed connection")), UpstreamError, 502,
            "upstream_unreachable")
    _expect(a.map_error(httpx2.ReadTimeout("slow")), UpstreamTimeoutError, 504)


def test_cohere_sdk_errors() -> None:
    a = adapter("cohere")
    rate = a.map_error(cohere.TooManyRequestsError(body={"message": "slow"}, headers={"retry-after": "3"}))
    _expect(rate, RateLimitedError, 429)
    assert rate.retry_after == 3
    _expect(a.map_error(cohere.InternalServerError(body={})), UpstreamError, 502, "upstream_error")
    _expect(a.map_error(cohere.ServiceUnavailableError(body={})), UpstreamError, 502)
    _expect(a.map_error(cohere.UnauthorizedError(body={})), UpstreamError, 502, "upstream_auth")
    _expect(a.map_error(cohere.BadRequestError(body={})), InvalidRequestError, 400)
    assert a.map_error(cohere.BadRequestError(body={"message": "x" * 900})).message.endswith("x" * 499 + "…")
    _expect(a.map_error(cohere.GatewayTimeoutError(body={})), UpstreamTimeoutError, 504)
    _expect(a.map_error(cohere.core.api_error.ApiError(status_code=402, body={"message": "billing limit"})),
            UpstreamError, 502, "upstream_quota_exhausted")
    # the SDK raises ApiError(status_code=200) when a successful answer is not JSON
    _expect(a.map_error(cohere.core.api_error.ApiError(status_code=200, body="{trunc")),
            UpstreamBadResponseError, 502, "upstream_bad_response")
    # cohere uses plain httpx underneath
    _expect(a.map_error(httpx.ReadTimeout("slow")), UpstreamTimeoutError, 504)
    _expect(a.map_error(httpx.ConnectError("refused")), UpstreamError, 502, "upstream_unreachable")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_generic_errors_never_become_500(provider: str, caplog: pytest.LogCaptureFixture) -> None:
    a = adapter(provider)
    _expect(a.map_error(TimeoutError()), UpstreamTimeoutError, 504)
    _expect(a.map_error(json.JSONDecodeError("x", "{", 0)), UpstreamBadResponseError, 502)
    _expect(a.map_error(ValueError("No generation chunks were returned")), UpstreamBadResponseError, 502)
    response = httpx.Response(429, headers={"Retry-After": "2"}, request=httpx.Request("GET", "http://u"))
    limited = a.map_error(httpx.HTTPStatusError("429", request=response.request, response=response))
    _expect(limited, RateLimitedError, 429)
    assert limited.retry_after == 2
    with caplog.at_level(logging.WARNING, logger="gateway.upstream"):
        other = a.map_error(RuntimeError("secret sk-live-123 inside"))
    _expect(other, UpstreamError, 502)
    assert "sk-live" not in other.message and "RuntimeError" in other.message
    # the operator sees what was raised (its type; gateway.logs writes where, never the message)
    assert [(r.getMessage(), r.exc_info[0]) for r in caplog.records if r.exc_info] == [
        ("upstream call failed", RuntimeError)]
    own = RateLimitedError(retry_after=9)
    assert a.map_error(own) is own


@pytest.mark.parametrize(("status", "kind", "http"), [
    (429, RateLimitedError, 429), (500, UpstreamError, 502), (502, UpstreamError, 502), (503, UpstreamError, 502),
    (504, UpstreamTimeoutError, 504), (408, UpstreamTimeoutError, 504), (401, UpstreamError, 502),
    (403, UpstreamError, 502), (404, InvalidRequestError, 400), (422, InvalidRequestError, 400),
    (418, UpstreamError, 502),
])
def test_from_status(status: int, kind: type[GatewayError], http: int) -> None:
    _expect(from_status(status, {}), kind, http)


@pytest.mark.parametrize(("status", "body", "spent"), [
    (402, None, True), (402, {"message": "billing limit"}, True),
    (429, {"error": {"type": "insufficient_quota", "code": "insufficient_quota"}}, True),
    (429, {"code": "insufficient_quota"}, True), (429, {"type": "insufficient_quota", "code": None}, True),
    (429, {"error": {"type": "requests", "code": "rate_limit_exceeded"}}, False), (429, None, False),
    (429, "insufficient_quota", False), (400, {"code": "insufficient_quota"}, False),
])
def test_an_account_out_of_credit_is_not_a_rate_limit(status: int, body: object, spent: bool) -> None:
    mapped = from_status(status, {"retry-after": "3"}, body)
    assert (mapped.code == "upstream_quota_exhausted") is spent
    assert mapped.retryable is (False if spent else None)


@pytest.mark.parametrize(("headers", "seconds"), [
    (None, 1), ({}, 1), ({"retry-after": "5"}, 5), ({"Retry-After": "5"}, 5), ({"retry-after": "2.7"}, 2),
    ({"retry-after": "0"}, 1), ({"retry-after": "-4"}, 1), ({"retry-after": "999999"}, 3600),
    ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 1), ({"retry-after": "soon"}, 1), ({"retry-after": ""}, 1),
])
def test_retry_after_parsing(headers: dict[str, str] | None, seconds: int) -> None:
    assert retry_after_seconds(headers) == seconds


def test_retry_after_reads_case_insensitive_httpx_headers() -> None:
    assert retry_after_seconds(httpx.Headers({"RETRY-AFTER": "4"})) == 4


def test_mistral_rejection_carries_mistrals_reason_and_statuses_map() -> None:
    a = adapter("mistral")
    req = httpx.Request("POST", "http://upstream.test/v1/chat/completions")
    body = {"object": "error", "message": "temperature: Input should be <= 1.5", "type": "invalid_request_error"}
    rejected = httpx.HTTPStatusError("422", request=req, response=httpx.Response(422, json=body, request=req))
    err = a.map_error(rejected)
    assert isinstance(err, InvalidRequestError) and "temperature: Input should be <= 1.5" in err.message
    limited = httpx.Response(429, headers={"retry-after": "7"}, text="not json", request=req)
    err = a.map_error(httpx.HTTPStatusError("429", request=req, response=limited))
    assert isinstance(err, RateLimitedError) and err.retry_after == 7
    assert isinstance(a.map_error(httpx.ConnectError("refused", request=req)), UpstreamError)


@pytest.mark.parametrize(("provider", "sdk"), [("openai", openai), ("anthropic", anthropic)])
async def test_upstream_transport_is_one_shared_aiohttp_client_by_default_and_httpx_on_request(
        provider: str, sdk: Any) -> None:
    fast = adapter(provider)
    one, other = fast.build_model(fast.models[0], "sk-one"), fast.build_model(fast.models[-1], "sk-other")
    shared = fast.http_client()
    assert isinstance(shared, sdk.DefaultAioHttpClient)
    assert isinstance(one, ChatOpenAI | ChatAnthropicOn) and isinstance(other, ChatOpenAI | ChatAnthropicOn)
    assert one.http_async_client is shared and other.http_async_client is shared
    plain = adapter(provider, upstream_http="httpx")
    if provider == "anthropic":
        assert plain.http_client() is None
        assert getattr(plain.build_model(plain.models[0], "sk-test"), "http_async_client", None) is None  # SDK pool
    else:  # the SDK's own httpx client, carrying the adapter's response hooks as the aiohttp one does
        hooked = plain.http_client()
        assert type(hooked) is sdk.DefaultAsyncHttpxClient and hooked.event_hooks["response"] == list(
            plain.response_hooks) == shared.event_hooks["response"]
        assert getattr(plain.build_model(plain.models[0], "sk-test"), "http_async_client", None) is hooked
        await plain.aclose()
    await fast.aclose()
    assert shared.is_closed


def _reply(status: int, body: bytes, **headers: str) -> httpx2.Response:
    return httpx2.Response(status, content=body, headers=headers,
                           request=httpx2.Request("POST", "http://upstream.test/v1/chat/completions"))


@pytest.mark.parametrize(("reply", "final"), [
    (_reply(429, b'{"error": {"type": "insufficient_quota", "code": "insufficient_quota"}}'), "false"),
    (_reply(429, b'{"error": {"type": "rate_limit_exceeded", "code": null}}'), None),  # passes: the SDK retries
    (_reply(429, b'{"error": {"code": "insufficient_quota"}}', **{"x-should-retry": "true"}), "true"),  # said so
    (_reply(429, b"<html>quota</html>"), None),
    (_reply(500, b'{"error": {"code": "insufficient_quota"}}'), None),
])
async def test_openais_spent_account_is_marked_final_for_the_sdk(reply: httpx2.Response, final: str | None) -> None:
    (hook,) = adapter("openai").response_hooks
    await hook(reply)
    assert reply.headers.get("x-should-retry") == final


async def test_anthropic_models_send_through_the_shared_client_with_langchains_parameters() -> None:
    a = adapter("anthropic", upstream_base_url="http://upstream.test", max_retries=1, upstream_timeout_s=7.0)
    model = a.build_model("claude-x", "sk-ant-test")
    assert isinstance(model, ChatAnthropicOn)
    client = model._async_client  # what ChatAnthropic sends through
    assert client._client is a.http_client()
    assert client.api_key == "sk-ant-test" and str(client.base_url).startswith("http://upstream.test")
    assert client.max_retries == 1 and client.timeout == 7.0
    # timeout and stop: their defaults, spelled out (pyright reads LangChain's `Field(None, alias=...)` as none)
    langchains = ChatAnthropic(model_name="x", api_key=SecretStr("k"), timeout=None, stop=None)
    assert client.default_headers["User-Agent"] == langchains._client_params["default_headers"]["User-Agent"]
    await a.aclose()


@pytest.mark.parametrize(("provider", "sdk", "model"), [("openai", openai, "gpt-4o-mini"),
                                                        ("anthropic", anthropic, "claude-x")])
async def test_refused_connection_under_aiohttp_is_unreachable_not_timeout(provider: str, sdk: Any,
                                                                           model: str) -> None:
    # The aiohttp transport may report a refused connection as a connect timeout (openai's does); the gateway
    # must not.
    base = "http://127.0.0.1:9/v1" if provider == "openai" else "http://127.0.0.1:9"
    a = adapter(provider, upstream_base_url=base, max_retries=0)
    chat = a.chat_model(model, "sk-test")
    assert isinstance(chat, ChatOpenAI | ChatAnthropicOn) and chat.http_async_client is not None
    with pytest.raises(sdk.APIConnectionError) as info:
        await chat.ainvoke("hello")
    mapped = a.map_error(info.value)
    assert isinstance(mapped, UpstreamError) and mapped.code == "upstream_unreachable"
    await a.aclose()  # closes the shared aiohttp session
    assert chat.http_async_client.is_closed
