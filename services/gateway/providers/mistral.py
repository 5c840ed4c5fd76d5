"""Mistral adapter: `langchain_mistralai.ChatMistralAI` (Mistral's chat completions API).

ChatMistralAI talks to the API with httpx itself (no vendor SDK), so its failures are httpx's:
HTTP statuses arrive as `httpx.HTTPStatusError` and transport errors as httpx's own classes, which
the base adapter already maps. It retries only transport errors (tenacity, `max_retries`).
"""

from __future__ import annotations

import math

import httpx
from langchain_core.language_models import BaseChatModel
from langchain_mistralai import ChatMistralAI
from pydantic import SecretStr

from gateway.errors import GatewayError
from gateway.providers.base import NAMED, ProviderAdapter, from_status


class MistralAdapter(ProviderAdapter):
    """Mistral chat completions, exposed as OpenAI chat completions."""

    param_map = {"seed": "random_seed"}
    refused = {"logit_bias": "no logit bias", "logprobs": "no log probabilities",
               "top_logprobs": "no log probabilities", "user": "no end-user id", "metadata": "no request metadata",
               "store": "no stored completions", "service_tier": "no service tiers",
               "reasoning_effort": "reasoning is chosen by model"}
    # Mistral: "any" forces some tool call; a named function is sent as {"type": "function", ...} by LangChain.
    tool_choices = {"auto": "auto", "none": "none", "required": "any", "function": NAMED}
    finish_reasons = {"stop": "stop", "length": "length", "model_length": "length", "tool_calls": "tool_calls"}
    failed_finishes = frozenset({"error"})

    def build_model(self, model: str, api_key: str) -> BaseChatModel:
        return ChatMistralAI(
            model_name=model,
            api_key=SecretStr(api_key),
            base_url=self.base_url,
            timeout=math.ceil(self.settings.upstream_timeout_s),  # an int of seconds in ChatMistralAI
            max_retries=self.settings.max_retries,
        )

    def map_sdk_error(self, exc: BaseException) -> GatewayError | None:
        # No vendor SDK: a status arrives as httpx's error with the body already read; Mistral's own
        # reason (`{"object": "error", "message": ...}`) goes with a rejection. The rest is httpx's, mapped
        # by the base adapter.
        if isinstance(exc, httpx.HTTPStatusError):
            try:
                body = exc.response.json()
            except ValueError:
                body = None
            return from_status(exc.response.status_code, exc.response.headers, body)
        return None
