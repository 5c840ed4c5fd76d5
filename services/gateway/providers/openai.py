"""OpenAI adapter: `langchain_openai.ChatOpenAI`."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import httpx2
import langchain_openai.chat_models.base as _lc_openai
import openai
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.outputs import ChatGenerationChunk
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from pydantic import SecretStr

from gateway.config import Settings
from gateway.errors import GatewayError
from gateway.providers import openai_body, sdk_errors, sdk_models, sdk_urls
from gateway.providers.base import Embedded, EmbedOptions, ProviderAdapter, account_out_of_credit


async def _run_inline(_executor: object, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


def convert_responses_inline() -> None:
    """Make ChatOpenAI convert its responses on the event loop instead of in a worker thread."""
    # Why: ChatOpenAI._agenerate converts every response in a thread pool (`run_in_executor`). The
    # conversion is a few microseconds of pure Python, while the thread hop costs ~0.3 ms CPU per
    # request (measured: 1.50 → 1.23 ms per ainvoke). A gateway process serves only the gateway, so
    # run it inline. Only langchain_openai's module reference is replaced (LangChain's own helper is
    # untouched), and only once an adapter is built: importing this module changes nothing.
    _lc_openai.run_in_executor = _run_inline  # pyright: ignore[reportPrivateImportUsage]  # the binding it calls


class ChatOpenAIRefusals(ChatOpenAI):
    """ChatOpenAI that keeps a streamed refusal (`delta.refusal`), as it keeps a whole reply's.

    LangChain's stream conversion reads a delta's content and tool calls only, so the text of a refusal (the
    model declining, e.g. under structured outputs) vanished from streams: it is put where LangChain puts a
    non-streamed refusal, `additional_kwargs["refusal"]`.
    """

    def _convert_chunk_to_generation_chunk(self, chunk: dict, default_chunk_class: type,
                                           base_generation_info: dict | None) -> ChatGenerationChunk | None:
        generated = super()._convert_chunk_to_generation_chunk(chunk, default_chunk_class, base_generation_info)
        choices = chunk.get("choices")
        # "" included: OpenAI opens a refusal with `"content": null, "refusal": ""`, and so does the gateway.
        refusal = (choices[0].get("delta") or {}).get("refusal") if choices else None
        if generated is not None and type(refusal) is str:
            generated.message.additional_kwargs["refusal"] = refusal
        return generated


async def _spent_account_is_final(response: httpx2.Response) -> None:
    """Response hook: mark a 429 that says the account is out of credit `x-should-retry: false`.

    The openai SDK retries every 429 (GATEWAY_MAX_RETRIES times, backing off about 0.5 s, then 1 s) unless the reply
    says otherwise in that header, which it obeys; OpenAI's `insufficient_quota` does not pass with time, so
    retrying it only delays the answer. Other replies cost a status comparison."""
    if response.status_code != 429 or "x-should-retry" in response.headers:
        return
    await response.aread()  # an error body, small; the SDK reads the cached content afterwards
    try:
        body = json.loads(response.content)
    except ValueError:
        return
    if account_out_of_credit(429, body):
        response.headers["x-should-retry"] = "false"


class OpenAIAdapter(ProviderAdapter):
    """Chat completions against the OpenAI API (or anything speaking its protocol)."""

    needs_user_turn = False  # OpenAI answers a conversation of system/developer messages only

    # LangChain keeps `metadata` for its own run metadata: send OpenAI's through `extra_body`. And given a
    # `response_format`, ChatOpenAI calls the SDK's parse and stream helpers, which refuse a tool without
    # `strict: true` (ValueError) and raise on a reply that ends with `length` or `content_filter`: sent as a
    # body field, the call is the plain create it is for any request and the reply comes back as it ended.
    param_map = {"metadata": "extra_body.metadata", "response_format": "extra_body.response_format"}
    finish_reasons = {"stop": "stop", "length": "length", "tool_calls": "tool_calls",
                      "content_filter": "content_filter"}
    structured_methods = {"json_object": "passthrough", "json_schema": "passthrough"}
    aiohttp_client = openai.DefaultAioHttpClient
    httpx_client = openai.DefaultAsyncHttpxClient
    response_hooks = (_spent_account_is_final,)

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        convert_responses_inline()
        openai_body.install()
        sdk_models.install(openai._base_client)
        sdk_urls.install(openai._base_client)

    def build_model(self, model: str, api_key: str) -> BaseChatModel:
        return ChatOpenAIRefusals(
            model=model,
            api_key=SecretStr(api_key),
            base_url=self.base_url,
            timeout=self.settings.upstream_timeout_s,
            max_retries=self.settings.max_retries,
            stream_usage=True,
            http_async_client=self.http_client(),  # see ProviderAdapter.http_client
            # The gateway bounds the silence between chunks itself, for every provider, with one timer per
            # stream (GATEWAY_STREAM_IDLE_TIMEOUT_S); LangChain's own bound wraps every chunk in a task
            # (`asyncio.wait_for`): 0.1 to 0.5 ms CPU per streamed completion, measured (#18).
            stream_chunk_timeout=None,
            # The upstream call is always Chat Completions, the API this route relays: left to decide,
            # ChatOpenAI switches to the Responses API for some models (gpt-5-pro; gpt-6 with tools), whose
            # requests, replies and streams are another protocol (and which a self-hosted server may lack).
            use_responses_api=False,
        )

    def map_sdk_error(self, exc: BaseException) -> GatewayError | None:
        return sdk_errors.map_error(openai, exc)

    embedding_dimensions = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072}
    embeds_token_ids = True  # what LangChain's OpenAIEmbeddings sends by default (tiktoken's ids)
    embeds_user = True  # OpenAI's end-user id (abuse monitoring); self-hosted OpenAI servers take the field too
    # The vectors' encoding asked upstream (None: the openai SDK's, base64, which it decodes); the client's own
    # `encoding_format` is applied to the answer by the gateway.
    upstream_encoding: ClassVar[str | None] = None

    def build_embeddings(self, model: str, api_key: str) -> Embeddings:
        # check_embedding_ctx_length=False sends the text as is: the token-splitting path needs
        # tiktoken, which downloads its encodings at first use.
        return OpenAIEmbeddings(model=model, api_key=SecretStr(api_key), base_url=self.base_url,
                                timeout=self.settings.upstream_timeout_s, max_retries=self.settings.max_retries,
                                check_embedding_ctx_length=False, http_async_client=self.http_client())

    async def embed(self, embeddings: Embeddings, model: str, texts: Sequence[str] | Sequence[list[int]],
                    asked: EmbedOptions) -> Embedded:
        # aembed_documents drops the reported usage, which audit and limits need: call the
        # client LangChain configured (key, base URL, timeout, retries) directly instead.
        assert isinstance(embeddings, OpenAIEmbeddings)
        extra: dict[str, Any] = {"dimensions": asked.dimensions} if asked.dimensions else {}
        if asked.user is not None:
            extra["user"] = asked.user
        if self.upstream_encoding is not None:
            extra["encoding_format"] = self.upstream_encoding
        resp = await embeddings.async_client.create(input=list(texts), model=model, **extra)
        vectors = [item.embedding for item in sorted(resp.data, key=lambda item: item.index)]
        return Embedded(vectors, resp.usage.prompt_tokens if resp.usage else None)
