"""Provider registry: name → adapter class, imported lazily.

Lazy import matters: each provider image installs only its own SDK, so the OpenAI
image must never import the Anthropic or Cohere modules.
"""

from __future__ import annotations

from importlib import import_module

from gateway.config import Settings
from gateway.providers.base import ProviderAdapter

REGISTRY: dict[str, str] = {
    "openai": "gateway.providers.openai:OpenAIAdapter",
    "anthropic": "gateway.providers.anthropic:AnthropicAdapter",
    "cohere": "gateway.providers.cohere:CohereAdapter",
}


def adapter_class(name: str) -> type[ProviderAdapter]:
    """Import and return the adapter class registered under `name`."""
    try:
        module_name, _, attr = REGISTRY[name].partition(":")
    except KeyError:
        raise ValueError(f"unknown provider {name!r}; known: {', '.join(REGISTRY)}") from None
    return getattr(import_module(module_name), attr)


def create_adapter(settings: Settings) -> ProviderAdapter:
    """Build the adapter for the provider this service is configured for."""
    return adapter_class(settings.provider)(settings)


__all__ = ["REGISTRY", "ProviderAdapter", "adapter_class", "create_adapter"]
