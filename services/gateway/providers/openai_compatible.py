"""Self-hosted OpenAI-compatible servers (vLLM, Ollama, TGI, LM Studio): `ChatOpenAI` with the row's base URL.

A provider *kind*: every catalogue row with this adapter is one named instance (`local-llama`, …) with
its own gateway, route, Vault key path and limits. The server speaks OpenAI's wire format, so the
OpenAI adapter's model building and error mapping apply unchanged; what such servers do not have is
refused by name instead of being sent and silently ignored.
"""

from __future__ import annotations

from gateway.providers.openai import OpenAIAdapter


class OpenAICompatibleAdapter(OpenAIAdapter):
    """Chat completions against a self-hosted server speaking the OpenAI protocol."""

    needs_user_turn = True  # many models' chat templates render nothing without one

    # No OpenAI `metadata` to route through extra_body (refused below); response_format as OpenAI's adapter sends it.
    # The output cap as `max_tokens`, through extra_body: langchain-openai renames a `max_tokens` keyword to OpenAI's
    # `max_completion_tokens`, which Ollama does not read (its OpenAI layer maps `max_tokens` only), so neither the
    # client's cap nor the gateway's would bind there. vLLM, TGI, llama.cpp and LM Studio read `max_tokens` too.
    param_map = {"response_format": OpenAIAdapter.param_map["response_format"], "max_tokens": "extra_body.max_tokens"}
    refused = {"metadata": "no request metadata on a self-hosted server", "store": "no stored completions",
               "service_tier": "no service tiers", "reasoning_effort": "not mapped for self-hosted models",
               "verbosity": "not mapped for self-hosted models",
               "safety_identifier": "no end-user id on a self-hosted server",
               "prompt_cache_key": "the server caches prompts by its own rules",
               "prompt_cache_retention": "the server caches prompts by its own rules",
               "prompt_cache_options": "the server caches prompts by its own rules"}
    embedding_dimensions = {}  # the server's model decides its size; `dimensions` is refused by name
    embeds_token_ids = False  # ids of OpenAI's tokenizer mean nothing to the server's own model
    # OpenAI's default, which every such server answers: some have no base64 (the openai SDK's default ask).
    upstream_encoding = "float"
