"""The catalogue's default models: ones the vendor still serves and the pinned LangChain integration knows.

Anthropic retires models on announced dates, after which requests naming them fail. Its SDK carries the
deprecation table (model -> end of life), and the LangChain integrations carry a profile per model they
know (limits, and whether it takes `temperature`). A default model missing from either check is one a
deployment with a real key would find broken; these tests fail when an SDK upgrade reports it.
"""

from __future__ import annotations

import pytest
from anthropic.resources.messages import DEPRECATED_MODELS

import catalogue
from gateway.config import Settings
from gateway.providers import create_adapter

# Vendor-hosted providers whose LangChain integration publishes model profiles (langchain-cohere does not;
# a self-hosted row serves whatever its operator loaded).
PROFILED = ("openai", "anthropic", "mistral")


def test_no_default_anthropic_model_is_deprecated() -> None:
    listed = {m: DEPRECATED_MODELS[m] for m in catalogue.provider("anthropic").models if m in DEPRECATED_MODELS}
    assert not listed, f"deprecated by Anthropic, with their end of life: {listed}"


def test_the_deprecation_table_is_the_sdks_own() -> None:
    # The check above is only as good as the table: it names dated models the catalogue once shipped.
    assert "claude-sonnet-4-5" in DEPRECATED_MODELS
    assert "2026" in DEPRECATED_MODELS["claude-sonnet-4-5"]


@pytest.mark.parametrize("name", PROFILED)
def test_every_default_model_has_a_profile_and_takes_what_the_adapter_passes(name: str) -> None:
    adapter = create_adapter(Settings(provider=name))
    for model_name in catalogue.provider(name).models:
        profile = adapter.build_model(model_name, "test-key").profile
        assert profile, f"{name}: {model_name} is unknown to the pinned LangChain integration (retired?)"
        if "temperature" not in adapter.refused:  # passed through: the model must accept it
            assert profile.get("temperature") is not False, f"{name}: {model_name} takes no temperature"
