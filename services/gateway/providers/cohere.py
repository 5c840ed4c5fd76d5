"""Cohere adapter: `langchain_cohere.ChatCohere` (Cohere v2 chat)."""

from __future__ import annotations

from cohere.core.api_error import ApiError
from langchain_cohere import ChatCohere
from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr

from gateway.errors import GatewayError, UpstreamBadResponseError
from gateway.providers.base import ProviderAdapter, from_status


class CohereAdapter(ProviderAdapter):
    """Cohere v2 chat, exposed as OpenAI chat completions."""

    name = "cohere"
    key_env = "COHERE_API_KEY"
    default_base_url = "https://api.cohere.com"
    default_models = ("command-a-03-2025", "command-r-plus-08-2024", "command-r7b-12-2024")
    param_map = {"top_p": "p"}
    finish_reasons = {"COMPLETE": "stop", "STOP_SEQUENCE": "stop", "MAX_TOKENS": "length",
                      "TOOL_CALL": "tool_calls", "ERROR": "stop"}

    def build_model(self, model: str, api_key: str) -> BaseChatModel:
        # ChatCohere exposes no retry setting; the Cohere SDK retries 429/5xx itself.
        return ChatCohere(
            model=model,
            cohere_api_key=SecretStr(api_key),
            base_url=self.base_url,
            timeout_seconds=self.settings.upstream_timeout_s,
        )

    def map_sdk_error(self, exc: BaseException) -> GatewayError | None:
        if isinstance(exc, ApiError) and exc.status_code is not None:
            if 200 <= exc.status_code < 300:  # the SDK could not parse a successful answer
                return UpstreamBadResponseError()
            return from_status(exc.status_code, exc.headers)
        return None
