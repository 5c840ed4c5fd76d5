"""Provider adapters, chosen by the catalogue row's kind and imported lazily.

Lazy import matters: each provider image installs only its own SDK, so the OpenAI
image must never import the Anthropic or Cohere modules.
"""

from __future__ import annotations

from importlib import import_module

import catalogue
from gateway.config import Settings
from gateway.providers.base import ProviderAdapter


def adapter_class(name: str) -> type[ProviderAdapter]:
    """Import and return the adapter class of the catalogue provider `name`."""
    module_name, _, attr = catalogue.provider(name).adapter.partition(":")
    return getattr(import_module(module_name), attr)


def create_adapter(settings: Settings) -> ProviderAdapter:
    """Build the adapter for the provider this service is configured for."""
    return adapter_class(settings.provider)(settings)


__all__ = ["ProviderAdapter", "adapter_class", "create_adapter"]
