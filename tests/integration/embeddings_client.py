"""What the embeddings tests share: the providers that have embeddings, and a client of the route for each."""

from __future__ import annotations

import httpx
import openai

import catalogue
from tests.support.stack import RunningStack

# Every catalogue row with embeddings, at its default (first) model.
MODELS = {p.name: p.embedding_models[0] for p in catalogue.providers() if p.embedding_models}


def embeddings_sdk(stack: RunningStack, provider: str, http: httpx.Client) -> openai.OpenAI:
    """The official openai SDK on the provider's route, through the stack's edge."""
    return openai.OpenAI(base_url=f"{stack.url}/{provider}/v1", api_key=stack.keys[provider], max_retries=0,
                         http_client=http)  # pyright: ignore[reportArgumentType]  # httpx.Client accepted at runtime


def post_embeddings(http: httpx.Client, stack: RunningStack, provider: str, body: object) -> httpx.Response:
    """A raw POST of `body` to the provider's embeddings route, with its client key."""
    return http.post(f"{stack.url}/{provider}/v1/embeddings", json=body,
                     headers={"Authorization": f"Bearer {stack.keys[provider]}"})
