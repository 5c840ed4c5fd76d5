"""Mistral adapter: `langchain_mistralai.ChatMistralAI` (Mistral's chat completions API).

ChatMistralAI talks to the API with httpx itself (no vendor SDK), so its failures are httpx's:
HTTP statuses arrive as `httpx.HTTPStatusError` and transport errors as httpx's own classes, which
the base adapter already maps.
"""

from __future__ import annotations

import functools
import math
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from functools import cache
from typing import Any

import httpx
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_mistralai import ChatMistralAI, MistralAIEmbeddings
from langchain_mistralai import chat_models as mistral_chat_models
from pydantic import Field, SecretStr
from tokenizers import Tokenizer, models, pre_tokenizers

from gateway.errors import GatewayError, UpstreamBadResponseError
from gateway.providers.base import NAMED, Embedded, EmbedOptions, ProviderAdapter, failed_mid_stream, from_status
from gateway.providers.wrap import wrap_once


class MistralStreamError(Exception):
    """An error object in a Mistral stream under way, which langchain-mistralai would skip as a chunk without
    choices (the stream then ended with no finish: reported as truncated, the provider's reason lost)."""

    def __init__(self, body: Mapping[str, Any]) -> None:
        super().__init__("error event in the upstream stream")
        self.body = body


def _errors_raised(aiter_sse: Callable[..., AsyncIterator[dict]]) -> Callable[..., AsyncIterator[dict]]:
    @functools.wraps(aiter_sse)
    async def events(event_source_mgr: Any) -> AsyncIterator[dict]:
        async for event in aiter_sse(event_source_mgr):
            if isinstance(event, dict) and "choices" not in event and (
                    isinstance(event.get("error"), Mapping) or event.get("object") == "error"):
                raise MistralStreamError(event)
            yield event
    return events


wrap_once(mistral_chat_models, "_aiter_sse", _errors_raised)  # where ChatMistralAI's async stream looks it up


class ChatMistralAIOn(ChatMistralAI):
    """ChatMistralAI whose client runs over `upstream`, the adapter's retrying transport, sending only the
    sampling parameters a request names.

    Its own loop (tenacity) retries transport errors only, `max_retries` counting attempts, 4 to 10 s apart: a 429
    or a 503 reached the client at once. The transport retries as the openai and anthropic SDKs do, 429/5xx
    replies and lost connections GATEWAY_MAX_RETRIES times, streams included; the loop is left one attempt."""

    upstream: Any = Field(exclude=True)  # ProviderAdapter.retrying_transport: an httpx_retries.RetryTransport

    @property
    def _default_params(self) -> dict[str, Any]:
        # Its class defaults (temperature 0.7, top_p 1) would go with every request: a request that names
        # neither gets Mistral's own defaults, as an OpenAI request gets OpenAI's. A request's values are bound
        # per call and still go.
        params = super()._default_params
        for name in ("temperature", "top_p"):
            if name not in self.model_fields_set:
                params.pop(name, None)
        return params


class MistralAdapter(ProviderAdapter):
    """Mistral chat completions, exposed as OpenAI chat completions."""

    param_map = {"seed": "random_seed"}
    refused = {"logit_bias": "no logit bias", "logprobs": "no log probabilities",
               "top_logprobs": "no log probabilities", "user": "no end-user id", "metadata": "no request metadata",
               "store": "no stored completions", "service_tier": "no service tiers",
               "reasoning_effort": "reasoning is chosen by model", "verbosity": "no verbosity setting",
               "safety_identifier": "no end-user id", "prompt_cache_key": "no prompt cache settings",
               "prompt_cache_retention": "no prompt cache settings", "prompt_cache_options": "no prompt cache settings"}
    refused_message_name = "its messages carry no participant name"
    refused_text_with_tool_calls = "langchain-mistralai sends an assistant turn's tool calls without its text"
    # Mistral: "any" forces some tool call; a named function goes as OpenAI's object (named_tool_choice).
    tool_choices = {"auto": "auto", "none": "none", "required": "any", "function": NAMED}
    finish_reasons = {"stop": "stop", "length": "length", "model_length": "length", "tool_calls": "tool_calls"}
    # Mistral takes OpenAI's response_format as it is; langchain-mistralai's json_schema method would force
    # `strict` and make every property required.
    structured_methods = {"json_object": "passthrough", "json_schema": "passthrough"}
    failed_finishes = frozenset({"error"})

    def upstream_client(self, api_key: str) -> httpx.AsyncClient:
        """The client ChatMistralAI and MistralAIEmbeddings would build for this key (their headers and timeout),
        over the adapter's retrying transport."""
        return httpx.AsyncClient(base_url=self.base_url, timeout=self._timeout,
                                 transport=self.retrying_transport(),
                                 headers={"Content-Type": "application/json", "Accept": "application/json",
                                          "Authorization": f"Bearer {api_key}"})

    @property
    def _timeout(self) -> int:
        return math.ceil(self.settings.upstream_timeout_s)  # an int of seconds in the integration

    def build_model(self, model: str, api_key: str) -> BaseChatModel:
        return ChatMistralAIOn(
            model_name=model,
            api_key=SecretStr(api_key),
            base_url=self.base_url,
            timeout=self._timeout,
            max_retries=1,  # attempts, in its loop: the transport retries
            async_client=self.upstream_client(api_key),
            upstream=self.retrying_transport(),
        )

    def map_sdk_error(self, exc: BaseException) -> GatewayError | None:
        # No vendor SDK: a status arrives as httpx's error with the body already read; Mistral's own
        # reason (`{"object": "error", "message": ...}`) goes with a rejection. The rest is httpx's, mapped
        # by the base adapter.
        if isinstance(exc, MistralStreamError):
            return failed_mid_stream(exc.body)
        if isinstance(exc, httpx.HTTPStatusError):
            try:
                body = exc.response.json()
            except ValueError:
                body = None
            return from_status(exc.response.status_code, exc.response.headers, body)
        return None

    # mistral-embed has one size (1024); codestral-embed answers `output_dimension` up to 3072.
    embedding_dimensions = {"codestral-embed": 3072}
    # Mistral refuses a call of more than 16,384 tokens in all ("Too many tokens in batch"), which langchain-mistralai
    # splits by its tokenizer: here by UTF-8 bytes, which a byte-fallback tokenizer never exceeds in tokens, with
    # room for two more per text (its start token and the space put before it). And at most 512 texts a call.
    embed_batch = 512
    embed_batch_bytes = 16_384 - 2 * 512

    def build_embeddings(self, model: str, api_key: str) -> Embeddings:
        return MistralAIEmbeddings(model=model, api_key=SecretStr(api_key), endpoint=self.base_url,
                                   timeout=self._timeout, tokenizer=_batching_tokenizer(),
                                   async_client=self.upstream_client(api_key))

    async def embed(self, embeddings: Embeddings, model: str, texts: Sequence[str], asked: EmbedOptions) -> Embedded:
        # aembed_documents drops the reported usage, which audit and limits need: post through the client
        # LangChain configured (key, base URL, timeout) instead (the Embedder splits a request into calls within
        # Mistral's bounds).
        assert isinstance(embeddings, MistralAIEmbeddings)
        body: dict[str, Any] = {"model": model, "input": list(texts)}
        if asked.dimensions:
            body["output_dimension"] = asked.dimensions
        resp = await embeddings.async_client.post("/embeddings", json=body)
        resp.raise_for_status()
        try:
            doc = resp.json()
            data = sorted(doc["data"], key=lambda item: item["index"])
            vectors = [[float(v) for v in item["embedding"]] for item in data]
            usage = doc.get("usage") or {}
        except (ValueError, KeyError, TypeError) as exc:
            raise UpstreamBadResponseError() from exc
        tokens = usage.get("prompt_tokens")
        return Embedded(vectors, tokens if isinstance(tokens, int) else None)


@cache
def _batching_tokenizer() -> Tokenizer:
    """A local word tokenizer for MistralAIEmbeddings' own batching (not used on this path, which posts once).

    Without one, constructing the class downloads Mixtral's tokenizer from Hugging Face: egress from a
    gateway pod and a start-up delay, for a count the adapter does not need.
    """
    tokenizer = Tokenizer(models.WordLevel(vocab={"[UNK]": 0}, unk_token="[UNK]"))  # noqa: S106 (not a secret)
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return tokenizer
