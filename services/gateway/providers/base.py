"""Provider adapters: the one place where a vendor's specifics live.

An adapter knows four things about its provider and nothing about HTTP routing:
- how to build the LangChain chat model (official integration package, base URL,
  timeout, retries) — `build_model`;
- how OpenAI-style request parameters are named for it — `param_map`, declared; which ones it
  cannot honour — `refused`, declared; which `tool_choice` forms and `response_format` types it
  maps, and onto what — `tool_choices`, `structured_methods`, declared;
- how its stop reasons read in OpenAI terms — `finish_reasons`, declared;
- how its SDK's exceptions map onto the gateway error tree — `map_error`.

Chat models are cached per (model, key): building one creates HTTP clients, and a
rotated key simply produces a new cache entry while in-flight requests keep theirs.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable

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
from gateway.providers import signatures

_log = logging.getLogger("gateway.upstream")

_MODEL_CACHE_SIZE = 16
NAMED = "<function name>"  # tool_choices value: the named function, as `named_tool_choice` writes it


class ProviderAdapter(ABC):
    """Base of the per-provider adapters (see the module docstring)."""

    # OpenAI parameter -> this provider's keyword; a dotted name nests (`metadata.user_id`).
    param_map: ClassVar[Mapping[str, str]] = {}
    # OpenAI parameter -> why this provider cannot honour it (a 400 naming the parameter).
    refused: ClassVar[Mapping[str, str]] = {}
    # OpenAI parameter -> (values this provider has no equivalent of, why): a 400 naming the parameter for those.
    refused_values: ClassVar[Mapping[str, tuple[frozenset[Any], str]]] = {}
    # Why this provider's messages cannot carry OpenAI's participant `name` (a 400 naming the message's
    # `name`); None: the integration sends it. Its LangChain integration would drop it without a word.
    refused_message_name: ClassVar[str | None] = None
    # Why this provider takes no image `detail` ("low", "high"; "auto" is its own choice anyway); None: it does.
    refused_image_detail: ClassVar[str | None] = None
    # Why an assistant tool call whose `arguments` are not a JSON object cannot be sent on (its integration
    # needs the object: it would send `{}` instead, or leave the call out); None: sent on as the string it is.
    refused_unparsed_arguments: ClassVar[str | None] = None
    # Why this provider's structured outputs cannot leave an object open (`additionalProperties` true or a
    # schema, in a json_schema response_format): a 400 naming it; None: they can. Its integration would close it.
    refused_open_objects: ClassVar[str | None] = None
    # Why an assistant turn cannot carry text beside its tool calls here (a 400 naming its content); None: it can.
    refused_text_with_tool_calls: ClassVar[str | None] = None
    # Whether a conversation needs a user turn here (OpenAI takes one of system/developer messages only; Anthropic,
    # Cohere and Mistral answer nothing without one): a 422 naming `messages` otherwise.
    needs_user_turn: ClassVar[bool] = True
    # The roles a conversation may end with here, and why (a 400 naming the last message otherwise); None: any.
    last_roles: ClassVar[tuple[frozenset[str], str] | None] = None
    # OpenAI tool_choice form ("auto", "none", "required", "function") -> the value bind_tools gets;
    # NAMED: `named_tool_choice(name)` (LangChain builds the provider's form); absent forms are refused.
    tool_choices: ClassVar[Mapping[str, Any]] = {"auto": "auto", "none": "none", "required": "required",
                                                 "function": NAMED}
    # response_format type -> the `with_structured_output` method of the LangChain integration, or "passthrough":
    # the provider takes OpenAI's response_format as it is (a parameter like the others, through `param_map`).
    structured_methods: ClassVar[Mapping[str, str]] = {"json_object": "json_mode", "json_schema": "json_schema"}
    finish_reasons: ClassVar[Mapping[str, str]] = {}
    finish_reason_key: ClassVar[str] = "finish_reason"
    # Stop reasons that mean the generation failed: answered as an upstream error, never as `stop`.
    failed_finishes: ClassVar[frozenset[str]] = frozenset()
    # A number parameter's range at this provider where it is narrower than OpenAI's: a value outside it is a 400
    # naming it (the value asking for the default, chat/params.py NEUTRAL, is taken anyway: it is not sent).
    value_ranges: ClassVar[Mapping[str, tuple[float, float]]] = {}
    # The provider has no switch for parallel tool calls, and may call several tools in one turn: `false` is held
    # by the gateway instead, which fails a reply that calls more than one (bind_tools gets None).
    one_call_checked: ClassVar[bool] = False
    # The SDK's aiohttp-based HTTP client class (`DefaultAioHttpClient`), for SDKs that have one.
    aiohttp_client: ClassVar[Callable[..., Any] | None] = None
    # httpx response hooks of the shared upstream client (`http_client`), each awaited on every reply.
    response_hooks: ClassVar[tuple[Callable[[Any], Awaitable[None]], ...]] = ()
    # The SDK's httpx client class: what carries `response_hooks` when GATEWAY_UPSTREAM_HTTP=httpx.
    httpx_client: ClassVar[Callable[..., Any] | None] = None

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Name, default URL and models, embeddings: the catalogue row (one kind serves many rows).
        self.entry = catalogue.provider(settings.provider)
        self.name = self.entry.name
        self.models: tuple[str, ...] = settings.models or self.entry.models
        self.base_url = settings.upstream_base_url or self.entry.base_url
        self.embedding_models: tuple[str, ...] = self.entry.embedding_models
        self._cache: OrderedDict[tuple[str, str], BaseChatModel] = OrderedDict()
        self._http: Any = None
        self._transport: httpx.AsyncBaseTransport | None = None
        signatures.install()  # LangChain's per-request signature inspection, once per method

    @abstractmethod
    def build_model(self, model: str, api_key: str) -> BaseChatModel:
        """Construct the provider's LangChain chat model."""

    @abstractmethod
    def map_sdk_error(self, exc: BaseException) -> GatewayError | None:
        """Map a provider-SDK exception, or return None when it is not one."""

    def chat_model(self, model: str, api_key: str) -> BaseChatModel:
        """Return a cached chat model for this model and key."""
        cache_key = (model, api_key)
        found = self._cache.get(cache_key)
        if found is not None:
            self._cache.move_to_end(cache_key)
            return found
        built = self.build_model(model, api_key)
        self._cache[cache_key] = built
        while len(self._cache) > _MODEL_CACHE_SIZE:
            self._cache.popitem(last=False)
        return built

    def http_client(self) -> Any:
        """The SDK HTTP client every model of this adapter shares, or None for the SDK's own pool.

        aiohttp (`GATEWAY_UPSTREAM_HTTP`, the default) where the SDK offers it: it keeps idle upstream
        connections in O(1), where the SDKs' httpx2 pool probes every idle connection on each request. One
        client per adapter, so a model evicted from the cache (a rotated key) leaves nothing open; the SDK
        still applies its timeout and retries per request. An adapter with `response_hooks` gets one under
        httpx too: the SDK's own httpx client class, carrying them."""
        if self._http is not None:
            return self._http
        if self.aiohttp_client is not None and self.settings.upstream_http == "aiohttp":
            make = self.aiohttp_client
        elif self.response_hooks and self.httpx_client is not None:
            make = self.httpx_client  # the SDK's own httpx client, as it would build, plus the hooks
        else:
            return None
        hooks = {"response": list(self.response_hooks)} if self.response_hooks else None
        self._http = make(timeout=self.settings.upstream_timeout_s, event_hooks=hooks)
        return self._http

    def retrying_transport(self) -> httpx.AsyncBaseTransport:
        """One httpx transport for every model of this adapter, retrying as the openai and anthropic SDKs do
        (`status_retry`), for an integration whose own client retries less. Shared, so a model evicted from the
        cache (a rotated key) leaves no connection open."""
        if self._transport is None:
            # Imported here: httpx-retries is in the images of the integrations that need it only.
            from gateway.providers.status_retry import retrying_transport

            self._transport = retrying_transport(self.settings.max_retries)
        return self._transport

    async def aclose(self) -> None:
        """Close the shared HTTP client (aiohttp sessions warn otherwise) and transport, forget the cached models."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        if self._transport is not None:
            await self._transport.aclose()
            self._transport = None
        self._cache.clear()

    def invoke_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Rename OpenAI-style parameters to this provider's names (dotted names nest), dropping unset ones."""
        out: dict[str, Any] = {}
        for key, value in params.items():
            if value is None:
                continue
            *parents, leaf = self.param_map.get(key, key).split(".")
            target = out
            for part in parents:
                target = target.setdefault(part, {})
            target[leaf] = value
        return out

    def named_tool_choice(self, name: str) -> Any:
        """The value `bind_tools` gets for a named function: OpenAI's object, which no integration reads as a mode
        (a bare name would be: a tool may be called `auto` or `any`)."""
        return {"type": "function", "function": {"name": name}}

    def bind_tools(self, model: BaseChatModel, tools: list[dict[str, Any]], tool_choice: Any,
                   parallel_tool_calls: bool | None) -> Runnable[Any, Any]:
        """Bind OpenAI-format tools with LangChain's `bind_tools` (the integration converts them).

        A mode (a string from `tool_choices`, already the provider's word) is bound beside them, not handed to
        `bind_tools`: langchain-openai and langchain-mistralai read a string that is also a tool's name as a
        choice of that tool."""
        extra: dict[str, Any] = {} if parallel_tool_calls is None else {"parallel_tool_calls": parallel_tool_calls}
        if isinstance(tool_choice, str):
            return model.bind_tools(tools, **extra).bind(tool_choice=tool_choice)
        return model.bind_tools(tools, tool_choice=tool_choice, **extra)

    def check_forced_tools(self, model: BaseChatModel, reasoning_effort: str | None) -> None:
        """Raise a 400 naming `tool_choice` when this model cannot be made to call a tool (`required` or a named
        function) under this `reasoning_effort`; nothing by default."""
        return

    def check_conversation(self, model: BaseChatModel, messages: Sequence[BaseMessage]) -> None:
        """Raise a 400 for an arrangement of messages this provider's integration refuses as the call starts
        (it would raise there, a 502 blamed on the upstream); nothing by default."""
        return

    def finish_reason(self, metadata: Mapping[str, Any]) -> str | None:
        """Translate the provider's stop reason into OpenAI's vocabulary."""
        raw = metadata.get(self.finish_reason_key)
        if raw is None:
            return None
        if str(raw) in self.failed_finishes:
            raise UpstreamError(f"the upstream provider ended the generation with {raw}", code="upstream_failed")
        return self.finish_reasons.get(str(raw), str(raw).lower())

    def map_error(self, exc: BaseException) -> GatewayError:
        """Map any exception raised while calling the provider onto the error tree."""
        if isinstance(exc, GatewayError):
            return exc
        mapped = self.map_sdk_error(exc)
        if mapped is not None:
            return mapped
        if isinstance(exc, TimeoutError) or _is_httpx(exc, "TimeoutException"):
            return UpstreamTimeoutError()
        if _is_httpx(exc, "TransportError"):
            return UpstreamError("the connection to the upstream provider failed", code="upstream_unreachable")
        if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
            return UpstreamBadResponseError()
        if isinstance(exc, httpx.HTTPStatusError):
            return from_status(exc.response.status_code, exc.response.headers)
        if isinstance(exc, ValueError) and "No generation chunks" in str(exc):
            return UpstreamBadResponseError()  # langchain-core: the stream ended without a usable chunk
        # Unclassified (an integration tripping over an unexpected reply, or a bug in one): the client gets a
        # 502 naming the type; the log gets the type and where it was raised (gateway.logs: never the message).
        _log.warning("upstream call failed", exc_info=exc)
        return UpstreamError(f"upstream call failed ({type(exc).__name__})")

    # Capabilities beyond chat (issue 17). `embedding_models` (from the catalogue) empty: the
    # provider offers no embeddings and the route answers 404.
    # Models that honour `dimensions` (shorter vectors), with their native size (the largest accepted).
    embedding_dimensions: ClassVar[Mapping[str, int]] = {}
    # Takes OpenAI's token-id input (ids of OpenAI's tokenizer, which only OpenAI's models read): `embed`
    # then gets lists of ids as its inputs.
    embeds_token_ids: ClassVar[bool] = False
    # Sends OpenAI's embeddings `user` (the end-user id) on: `embed` then gets it; elsewhere it is a 400 naming it.
    embeds_user: ClassVar[bool] = False
    # Takes Cohere's `input_type` (what the texts are for), an extension of OpenAI's body: `embed` then gets it
    # (None: the adapter's default); elsewhere it is a 400 naming it.
    embed_input_types: ClassVar[tuple[str, ...]] = ()
    # The provider's bounds on one embeddings call: texts, and UTF-8 bytes of text (bytes bound tokens from above
    # for byte-level tokenizers, so a batch within it is within the provider's token limit). None: unbounded; the
    # Embedder splits a request into calls within them.
    embed_batch: ClassVar[int | None] = None
    embed_batch_bytes: ClassVar[int | None] = None
    messages_api: ClassVar[bool] = False  # serves the Anthropic Messages API (`/v1/messages`) natively

    def build_embeddings(self, model: str, api_key: str) -> Embeddings:
        """Construct the provider's LangChain embeddings model."""
        raise NotImplementedError(f"provider {self.name} has no embeddings")

    async def embed(self, embeddings: Embeddings, model: str, texts: Sequence[str], asked: EmbedOptions) -> Embedded:
        """Embed `texts` (one vector each, in order) in one upstream call, with the tokens the provider reports
        (an adapter that `embeds_token_ids` widens `texts` to lists of token ids too)."""
        return Embedded(await embeddings.aembed_documents(list(texts)), None)


@dataclass(frozen=True, slots=True)
class EmbedOptions:
    """What an embeddings request asks besides its inputs (None: not asked; the checks are the Embedder's)."""

    dimensions: int | None = None
    user: str | None = None
    input_type: str | None = None


@dataclass(frozen=True, slots=True)
class Embedded:
    """Vectors in input order and the input tokens the provider reported (None when it reports none)."""

    vectors: list[list[float]]
    tokens: int | None


def _is_httpx(exc: BaseException, class_name: str) -> bool:
    """True for httpx's (or a vendored httpx fork's, e.g. httpx2) exception class of that name."""
    return any(cls.__name__ == class_name and cls.__module__.split(".")[0].startswith("httpx")
               for cls in type(exc).__mro__)


def from_status(status: int, headers: Mapping[str, str] | None = None, body: object = None) -> GatewayError:
    """Map an upstream HTTP status onto the gateway error tree (`body`: the SDK's parsed error body)."""
    if account_out_of_credit(status, body):
        return UpstreamError("the upstream provider refused the gateway's account: its credit or quota is spent "
                             "(the operator must act; a retry cannot pass)", code="upstream_quota_exhausted",
                             retryable=False)
    if status == 429:
        return RateLimitedError(retry_after=retry_after_seconds(headers))
    if status in (401, 403):
        return UpstreamError("the upstream provider rejected the gateway's credentials", code="upstream_auth")
    if status in (408, 504):
        return UpstreamTimeoutError()
    if status in (400, 404, 413, 422):
        reason = upstream_message(body)
        return InvalidRequestError(f"the upstream provider rejected the request (status {status})"
                                   + (f": {reason}" if reason else ""), code="upstream_rejected")
    return UpstreamError(f"upstream provider error (status {status})")


def failed_mid_stream(body: object) -> UpstreamError:
    """The error for a provider's error event in a stream it had begun with a 200: what it said, its kind named
    (OpenAI's error object, Anthropic's `error` event, Mistral's). Not a malformed reply, nor "status 200"."""
    error = body.get("error") if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping) else body
    kind = (error.get("type") or error.get("code")) if isinstance(error, Mapping) else None
    said = upstream_message(body) or "no reason given"
    return UpstreamError(f"the upstream provider failed during the stream ({kind or 'error'}): {said}")


def account_out_of_credit(status: int, body: object) -> bool:
    """Whether the provider refuses the gateway's account itself for billing: Anthropic's, Cohere's and
    Mistral's 402, OpenAI's 429 `insufficient_quota` (a rate limit's 429 passes in seconds; this one does not)."""
    if status == 402:
        return True
    if status != 429:
        return False
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        body = body["error"]
    return isinstance(body, Mapping) and "insufficient_quota" in (body.get("code"), body.get("type"))


_MESSAGE_MAX = 500


def upstream_message(body: object) -> str | None:
    """The provider's own message from its error body, one line and bounded; None when it gave none.

    A rejected request is the client's to fix, and the provider says what is wrong with it (OpenAI and
    Mistral: `{"error": {"message"}}`, the openai SDK passing the inner object; Anthropic:
    `{"type": "error", "error": {"message"}}`; Cohere: `{"message"}`). Only 4xx rejections carry it.
    """
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        body = body["error"]
    message = body.get("message") if isinstance(body, Mapping) else None
    if not isinstance(message, str) or not message.strip():
        return None
    line = " ".join(message.split())
    return line if len(line) <= _MESSAGE_MAX else line[: _MESSAGE_MAX - 1] + "…"


def retry_after_seconds(headers: Mapping[str, str] | None, default: int = 1) -> int:
    """Read Retry-After (seconds form) from upstream headers, clamped to [1, 3600]."""
    if not headers:
        return default
    raw = headers.get("retry-after") or headers.get("Retry-After")
    try:
        return max(1, min(3600, int(float(raw)))) if raw else default
    except ValueError:
        return default
