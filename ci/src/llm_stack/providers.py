"""The provider list of the Dagger module.

GENERATED from services/catalogue/providers.toml by `python -m catalogue.generate`; do not edit.
"""

from typing import Final

PROVIDERS: Final = ("openai", "anthropic", "cohere", "mistral", "local-llama",)
# Environment variable of each provider's key (the gateway and vaultctl read it).
KEY_ENV: Final = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "cohere": "COHERE_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "local-llama": "LOCAL_LLAMA_API_KEY",
}
# Path of each provider's API on the mock upstream (its base URL there).
MOCK_PATHS: Final = {
    "openai": "/v1",
    "anthropic": "",
    "cohere": "",
    "mistral": "/mistral/v1",
    "local-llama": "/local-llama/v1",
}
