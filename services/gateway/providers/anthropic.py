"""Anthropic adapter: `langchain_anthropic.ChatAnthropic`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cached_property
from typing import Any

import anthropic
from langchain_anthropic import ChatAnthropic
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableBinding
from pydantic import Field, SecretStr

from gateway.config import Settings
from gateway.errors import GatewayError, InvalidRequestError
from gateway.providers import sdk_errors, sdk_models, sdk_urls
from gateway.providers.base import NAMED, ProviderAdapter


class ChatAnthropicOn(ChatAnthropic):
    """ChatAnthropic whose SDK client sends through a given HTTP client (LangChain's class has no setting for it).

    The SDK client is built from LangChain's own parameters (key, base URL, timeout, retries, headers)."""

    http_async_client: Any = Field(default=None, exclude=True)

    @cached_property
    def _async_client(self) -> anthropic.AsyncClient:
        return anthropic.AsyncClient(**self._client_params, http_client=self.http_async_client)


class AnthropicAdapter(ProviderAdapter):
    """Messages API of Anthropic, exposed as OpenAI chat completions."""

    finish_reason_key = "stop_reason"
    param_map = {"user": "extra_body.metadata.user_id"}
    refused = {"seed": "no sampling seed", "presence_penalty": "no penalties", "frequency_penalty": "no penalties",
               "logit_bias": "no logit bias", "logprobs": "no log probabilities",
               "top_logprobs": "no log probabilities", "metadata": "only an end-user id: send `user`",
               "store": "no stored completions", "service_tier": "different tiers",
               "verbosity": "no verbosity setting", "safety_identifier": "only an end-user id: send `user`",
               "prompt_cache_key": "caching is marked per content block, in the Messages API",
               "prompt_cache_retention": "caching is marked per content block, in the Messages API",
               "prompt_cache_options": "caching is marked per content block, in the Messages API"}
    # reasoning_effort goes to langchain-anthropic's own `reasoning_effort`: Anthropic's `output_config.effort`,
    # with adaptive thinking. Its levels are low, medium, high, xhigh and max; none below low.
    refused_values = {"reasoning_effort": (frozenset({"none", "minimal"}),
                                           "Anthropic's effort levels are low, medium, high, xhigh and max")}
    value_ranges = {"temperature": (0, 1)}  # Anthropic's, for every model (OpenAI's goes to 2)
    refused_message_name = "its messages carry no participant name"
    refused_image_detail = "it sizes images itself"
    refused_unparsed_arguments = "its tool calls carry their arguments as an object; langchain-anthropic would send {}"
    # Anthropic's own objects: langchain-anthropic reads a string as a mode if it is `any` or `auto`, else as a
    # tool's name (a tool may be called either).
    tool_choices = {"auto": {"type": "auto"}, "none": {"type": "none"}, "required": {"type": "any"},
                    "function": NAMED}
    structured_methods = {"json_schema": "json_schema"}  # output_config.format; no schemaless JSON mode
    refused_open_objects = ("Anthropic's structured outputs close every object (additionalProperties: false); "
                            "the anthropic SDK's schema transform would close this one, leaving its keys unfillable")
    finish_reasons = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
                      "model_context_window_exceeded": "length", "tool_use": "tool_calls", "refusal": "content_filter"}
    # A paused turn waits for the client to continue a server tool's work, which this route never starts.
    failed_finishes = frozenset({"pause_turn"})
    aiohttp_client = anthropic.DefaultAioHttpClient

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        sdk_models.install(anthropic._base_client)
        sdk_urls.install(anthropic._base_client)

    def build_model(self, model: str, api_key: str) -> BaseChatModel:
        http = self.http_client()  # see ProviderAdapter.http_client
        params: dict[str, Any] = {
            "model_name": model, "api_key": SecretStr(api_key), "base_url": self.base_url,
            "timeout": self.settings.upstream_timeout_s, "max_retries": self.settings.max_retries, "stop": None}
        return ChatAnthropic(**params) if http is None else ChatAnthropicOn(**params, http_async_client=http)

    def map_sdk_error(self, exc: BaseException) -> GatewayError | None:
        return sdk_errors.map_error(anthropic, exc)

    def check_forced_tools(self, model: BaseChatModel, reasoning_effort: str | None) -> None:
        # With an effort, langchain-anthropic turns on adaptive thinking for the models that take `xhigh` (Opus 4.7
        # and later), and Anthropic forces no tool call while thinking ("Thinking may not be enabled when
        # tool_choice forces tool use"): a 400 naming tool_choice here, not Anthropic's after a round trip.
        profile = getattr(model, "profile", None) or {}
        if reasoning_effort and "xhigh" in (profile.get("reasoning_effort_levels") or []):
            name = getattr(model, "model", "this model")
            raise InvalidRequestError(
                f"tool_choice: {name} thinks under reasoning_effort, and Anthropic forces no tool call while thinking "
                "(send tool_choice auto or none, or no reasoning_effort)", code="unsupported_parameter",
                param="tool_choice")

    def named_tool_choice(self, name: str) -> Any:
        return {"type": "tool", "name": name}

    def bind_tools(self, model: BaseChatModel, tools: list[dict[str, Any]], tool_choice: Any,
                   parallel_tool_calls: bool | None) -> Runnable[Any, Any]:
        # OpenAI: "omitting parameters defines a function with an empty parameter list"; langchain-anthropic
        # reads `parameters` for its `input_schema`, which Anthropic requires.
        for i, tool in enumerate(tools):
            parameters = tool["function"].get("parameters") or {}
            composed = [key for key in _ROOT_COMPOSITIONS if key in parameters]
            if composed:  # langchain-anthropic would drop the tool with only a warning: refused instead
                raise InvalidRequestError(
                    f"tools.{i}.function.parameters: a top-level {composed[0]} is not supported by Anthropic's "
                    "tool input_schema (make it a property of an object schema)",
                    code="unsupported_schema", param=f"tools.{i}.function.parameters")
            if parameters.get("type", "object") != "object":  # Anthropic's input_schema is an object's
                raise InvalidRequestError(
                    f"tools.{i}.function.parameters: Anthropic's tool input_schema describes an object (type "
                    f"'object'), not {json.dumps(parameters['type'])}", code="unsupported_schema",
                    param=f"tools.{i}.function.parameters")
        if tool_choice == {"type": "none"}:  # no call to run in parallel, and Anthropic's `none` has no such field
            parallel_tool_calls = None
        bound = super().bind_tools(model, [_with_parameters(t) for t in tools], tool_choice, parallel_tool_calls)
        return _with_strict(bound, [t["function"].get("strict") for t in tools])

    def check_conversation(self, model: BaseChatModel, messages: Sequence[BaseMessage]) -> None:
        """langchain-anthropic sends one system prompt (a lone later one is moved there) and, for models whose
        profile takes them, system turns in place after a user turn and before an assistant turn (or last); any
        other arrangement of several system messages raises ValueError as the call starts. Only requests with
        several are formatted here, ahead of the call."""
        if sum(message.type == "system" for message in messages) < 2 or not isinstance(model, ChatAnthropic):
            return
        try:
            model._get_request_payload(list(messages))  # its own formatting, with its model's profile
        except ValueError as exc:
            said = str(exc).rstrip(".")
            raise InvalidRequestError(
                f"messages: {said} (the anthropic provider takes one system prompt; more system messages only "
                "with models that take them in place: after a user turn, before an assistant turn or last)",
                code="unsupported_parameter", param="messages") from None

    messages_api = True


# The schema compositions Anthropic does not take at the top of a tool's input_schema.
_ROOT_COMPOSITIONS = ("oneOf", "anyOf")


def _with_strict(bound: Runnable[Any, Any], strict: list[bool | None]) -> Runnable[Any, Any]:
    """Each tool's own `strict`, which langchain-anthropic drops from an OpenAI-format tool.

    Its `bind_tools` takes one `strict` for every tool, and keeps none unless given it. Anthropic takes `strict`
    per tool, as OpenAI does: it is set on each converted tool (one per tool, in order: every tool is kept).
    """
    if all(value is None for value in strict):
        return bound
    assert isinstance(bound, RunnableBinding)
    pairs = zip(bound.kwargs["tools"], strict, strict=True)
    return bound.bind(tools=[tool if value is None else {**tool, "strict": value} for tool, value in pairs])


def _with_parameters(tool: dict[str, Any]) -> dict[str, Any]:
    """The function's parameters as Anthropic's input_schema: an object schema. None given is no parameter; a
    schema naming no type (`{}`, properties alone) describes the arguments object, as OpenAI's always is."""
    function = tool["function"]
    parameters = function.get("parameters")
    if parameters is None:
        parameters = {"type": "object", "properties": {}}
    elif "type" not in parameters:
        parameters = {"type": "object", **parameters}
    else:
        return tool
    return {**tool, "function": {**function, "parameters": parameters}}
