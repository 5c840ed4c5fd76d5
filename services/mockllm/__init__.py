"""Deterministic mock upstream speaking the OpenAI, Anthropic and Cohere wire protocols."""

from mockllm.config import MockConfig

__all__ = ["MockConfig"]
