"""Cohere adapter: `langchain_cohere.ChatCohere` (Cohere v2 chat)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Self

import cohere
import httpx
from cohere.core.api_error import ApiError
from langchain_cohere import ChatCohere, CohereEmbeddings
from langchain_cohere import chat_models as cohere_chat_models
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.messages.ai import UsageMetadata
from langchain_core.runnables import Runnable
from pydantic import Field, SecretStr, model_validator

from gateway.errors import GatewayError, InvalidRequestError, UpstreamBadResponseError
from gateway.providers import cohere_parse
from gateway.providers.base import NAMED, Embedded, EmbedOptions, ProviderAdapter, from_status
from gateway.providers.wrap import wrap_once

cohere_parse.install()  # before any Cohere client parses a response


def _billed(usage_of: Callable[[Any], UsageMetadata | None]) -> Callable[[Any], UsageMetadata | None]:
    """langchain-cohere's usage of a reply, from Cohere's `billed_units`, as it reads a stream's.

    Its reply path reads `usage.tokens` (Cohere's prompt template included: 71 tokens for 5 billed, in Cohere's
    own example) and its stream path `usage.billed_units`: the same request counted two ways, in the client's
    usage, the audit and the token budgets. The billed count is what Cohere charges, and what its embeddings
    report."""
    @functools.wraps(usage_of)
    def billed_usage(response: Any) -> UsageMetadata | None:
        billed = response.usage.billed_units if response.usage is not None else None
        if billed is None or billed.input_tokens is None or billed.output_tokens is None:
            return usage_of(response)
        read, written = int(billed.input_tokens), int(billed.output_tokens)
        return UsageMetadata(input_tokens=read, output_tokens=written, total_tokens=read + written)
    return billed_usage


wrap_once(cohere_chat_models, "_get_usage_metadata_v2", _billed)  # where ChatCohere's reply path looks it up


class ChatCohereRetries(ChatCohere):
    """ChatCohere whose calls, streams included, retry as GATEWAY_MAX_RETRIES says.

    The Cohere SDK retries a plain call's 429 or 5xx only as its `request_options` ask (2 when they say nothing;
    ChatCohere has no setting) and never a stream. So its async client runs over `upstream`, the adapter's
    retrying transport, and is told not to retry itself (every call ChatCohere makes spreads its default params
    into the SDK call), which would multiply the attempts."""

    upstream: Any = Field(exclude=True)  # ProviderAdapter.retrying_transport: an httpx_retries.RetryTransport

    @model_validator(mode="after")
    def _over_upstream(self) -> Self:
        self.async_client = _client_over(  # what ChatCohere's validator builds, over `upstream`
            self.upstream, self.cohere_api_key, self.user_agent, self.timeout_seconds, self.base_url)
        return self

    @property
    def _default_params(self) -> dict[str, Any]:
        return {**super()._default_params, "request_options": {"max_retries": 0}}


class CohereEmbeddingsRetries(CohereEmbeddings):
    """CohereEmbeddings over the retrying transport, as ChatCohereRetries: the Cohere SDK retries no timeout
    and no lost connection (CohereAdapter.embed tells it not to retry the statuses the transport retries)."""

    upstream: Any = Field(exclude=True)

    @model_validator(mode="after")
    def _over_upstream(self) -> Self:
        self.async_client = _client_over(self.upstream, self.cohere_api_key, self.user_agent, self.request_timeout,
                                         self.base_url)
        return self


def _client_over(upstream: Any, api_key: SecretStr | str | None, client_name: str, timeout: float | None,
                 base_url: str | None) -> cohere.AsyncClient:
    """The Cohere SDK's async client, its requests over `upstream` (an httpx transport)."""
    key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key  # str() would mask it
    return cohere.AsyncClient(api_key=key, client_name=client_name, timeout=timeout, base_url=base_url,
                              httpx_client=httpx.AsyncClient(transport=upstream, follow_redirects=True))


class CohereAdapter(ProviderAdapter):
    """Cohere v2 chat, exposed as OpenAI chat completions."""

    param_map = {"top_p": "p"}
    refused = {"logit_bias": "no logit bias", "logprobs": "not mapped", "top_logprobs": "not mapped",
               "user": "no end-user id", "metadata": "no request metadata", "store": "no stored completions",
               "service_tier": "no service tiers", "reasoning_effort": "not mapped", "verbosity": "not mapped",
               "safety_identifier": "no end-user id", "prompt_cache_key": "no prompt cache settings",
               "prompt_cache_retention": "no prompt cache settings", "prompt_cache_options": "no prompt cache settings"}
    one_call_checked = True  # Cohere v2 calls tools in parallel, and has no switch for it
    # Cohere v2's ranges: p 0.01 to 0.99 (OpenAI's top_p goes to 1, which asks for no cut: taken, not sent), and
    # penalties 0 to 1 (OpenAI's go from -2 to 2).
    value_ranges = {"top_p": (0.01, 0.99), "presence_penalty": (0, 1), "frequency_penalty": (0, 1)}
    refused_message_name = "its messages carry no participant name"
    refused_unparsed_arguments = "langchain-cohere sends only the tool calls whose arguments parse"
    last_roles = (frozenset({"user", "tool"}), "langchain-cohere sends a conversation only when it ends with a user "
                                               "message or a tool result")
    # Cohere v2: tool_choice REQUIRED / NONE; "auto" is the default (omitted).
    tool_choices = {"auto": None, "none": "NONE", "required": "REQUIRED", "function": NAMED}
    finish_reasons = {"COMPLETE": "stop", "STOP_SEQUENCE": "stop", "MAX_TOKENS": "length",
                      "TOOL_CALL": "tool_calls"}
    failed_finishes = frozenset({"ERROR", "TIMEOUT"})  # Cohere v2 ChatFinishReason: the generation failed

    # The most each model writes (Cohere's model pages). Cohere refuses a larger max_tokens ("too many tokens: max
    # tokens must be less than or equal to 4096, the maximum output for this model"), and langchain-cohere ships
    # no model profiles: given as the model's profile, a request naming no cap is sent this (default_output_cap).
    output_maxima: ClassVar[Mapping[str, int]] = {
        "command-a-03-2025": 8192, "command-a-vision-07-2025": 8192, "command-a-reasoning-08-2025": 32768,
        "command-r-plus-08-2024": 4096, "command-r-08-2024": 4096, "command-r7b-12-2024": 4096}

    def build_model(self, model: str, api_key: str) -> BaseChatModel:
        most = self.output_maxima.get(model)
        return ChatCohereRetries(
            model=model,
            cohere_api_key=SecretStr(api_key),
            base_url=self.base_url,
            timeout_seconds=self.settings.upstream_timeout_s,
            upstream=self.retrying_transport(),  # the Cohere SDK retries no lost connection
            profile=None if most is None else {"max_output_tokens": most},
        )

    def bind_tools(self, model: BaseChatModel, tools: list[dict[str, Any]], tool_choice: Any,
                   parallel_tool_calls: bool | None) -> Runnable[Any, Any]:
        # Cohere v2 tools are OpenAI's function tools, so they are bound as they are:
        # ChatCohere.bind_tools would flatten nested parameter schemas. A named function
        # is forced by offering only that one with REQUIRED.
        if isinstance(tool_choice, dict):  # a named function (named_tool_choice), whatever its name
            name = tool_choice["function"]["name"]
            tools, tool_choice = [t for t in tools if t["function"]["name"] == name], "REQUIRED"
        extra: dict[str, Any] = {} if tool_choice is None else {"tool_choice": tool_choice}
        tools, strict = _strict_tools(tools)
        if strict:
            extra["strict_tools"] = True
        return model.bind(tools=tools, **extra)

    def map_sdk_error(self, exc: BaseException) -> GatewayError | None:
        if isinstance(exc, ApiError) and exc.status_code is not None:
            if 200 <= exc.status_code < 300:  # the SDK could not parse a successful answer
                return UpstreamBadResponseError()
            return from_status(exc.status_code, exc.headers, exc.body)
        return None

    embed_batch = 96  # texts per Cohere embed call (the API's limit)
    # What the texts are for: documents (the default, what an OpenAI client means) or the queries searching them.
    embed_input_types = ("search_document", "search_query", "classification", "clustering")

    def build_embeddings(self, model: str, api_key: str) -> Embeddings:
        # A plain str on purpose: CohereEmbeddings reads the key through get_from_dict_or_env, which
        # turns a SecretStr into its masked text ("**********").
        # client and async_client are fields its validator fills from the key.
        return CohereEmbeddingsRetries(  # pyright: ignore[reportCallIssue]
            model=model, cohere_api_key=api_key, base_url=self.base_url,
            request_timeout=self.settings.upstream_timeout_s, upstream=self.retrying_transport())

    async def embed(self, embeddings: Embeddings, model: str, texts: Sequence[str], asked: EmbedOptions) -> Embedded:
        # aembed_documents drops the billed tokens, which audit and limits need: call the
        # client LangChain configured directly (the Embedder splits a request into calls the API accepts).
        # `truncate` NONE: Cohere's default (END) cuts a text past the model's context without a word; OpenAI's
        # API refuses it, and so does Cohere then (a 400 the client gets).
        assert isinstance(embeddings, CohereEmbeddings)
        resp = await embeddings.async_client.embed(model=model, texts=list(texts),
                                                   input_type=asked.input_type or "search_document",
                                                   embedding_types=["float"], truncate="NONE", batching=False,
                                                   request_options={"max_retries": 0})  # the transport's
        billed = resp.meta.billed_units if resp.meta else None
        tokens = None if billed is None or billed.input_tokens is None else int(billed.input_tokens)
        return Embedded(list(resp.embeddings.float_ or []), tokens)


def _strict_tools(tools: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], bool]:
    """OpenAI's per-function `strict` as Cohere's `strict_tools`, one switch for every tool of the request.

    Cohere's function has no `strict` field: the tools go without it, and with `strict_tools` when every
    tool asked for it. Strict and non-strict tools together have no Cohere form: a 400 naming the first tool
    whose `strict` differs from the first's.
    """
    wanted = [bool(t["function"].get("strict")) for t in tools]
    for i, value in enumerate(wanted):
        if value != wanted[0]:
            raise InvalidRequestError(
                f"tools.{i}.function.strict: the cohere provider applies strict schema adherence to every tool of "
                "a request or to none (its strict_tools): send the same strict on every tool",
                code="unsupported_parameter", param=f"tools.{i}.function.strict")
    plain = [{**t, "function": {k: v for k, v in t["function"].items() if k != "strict"}} for t in tools]
    return plain, bool(wanted) and wanted[0]
