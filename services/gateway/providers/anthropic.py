"""Anthropic adapter: `langchain_anthropic.ChatAnthropic`."""

from __future__ import annotations

import anthropic
from langchain_anthropic import ChatAnthropic
from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr

from gateway.errors import GatewayError, UpstreamBadResponseError, UpstreamError, UpstreamTimeoutError
from gateway.providers.base import NAMED, ProviderAdapter, from_status


class AnthropicAdapter(ProviderAdapter):
    """Messages API of Anthropic, exposed as OpenAI chat completions."""

    finish_reason_key = "stop_reason"
    param_map = {"user": "extra_body.metadata.user_id"}
    refused = {"seed": "no sampling seed", "presence_penalty": "no penalties", "frequency_penalty": "no penalties",
               "logit_bias": "no logit bias", "logprobs": "no log probabilities",
               "top_logprobs": "no log probabilities", "metadata": "only a user id (send `user`)",
               "store": "no stored completions", "service_tier": "different tiers",
               "reasoning_effort": "extended thinking is configured per deployment"}
    tool_choices = {"auto": "auto", "none": {"type": "none"}, "required": "any", "function": NAMED}
    structured_methods = {"json_schema": "json_schema"}  # output_config.format; no schemaless JSON mode
    finish_reasons = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
                      "tool_use": "tool_calls", "refusal": "content_filter"}

    def build_model(self, model: str, api_key: str) -> BaseChatModel:
        return ChatAnthropic(
            model_name=model,
            api_key=SecretStr(api_key),
            base_url=self.base_url,
            timeout=self.settings.upstream_timeout_s,
            max_retries=self.settings.max_retries,
            stop=None,
        )

    def map_sdk_error(self, exc: BaseException) -> GatewayError | None:
        if isinstance(exc, anthropic.APITimeoutError):
            return UpstreamTimeoutError()
        if isinstance(exc, anthropic.APIConnectionError):
            return UpstreamError("the connection to the upstream provider failed", code="upstream_unreachable")
        if isinstance(exc, anthropic.APIStatusError):
            return from_status(exc.status_code, exc.response.headers, exc.body)
        if isinstance(exc, anthropic.APIResponseValidationError | anthropic.APIError):
            return UpstreamBadResponseError()
        return None

    messages_api = True
