"""Embeddings through LangChain's embeddings classes: OpenAI request in, OpenAI response out."""

from __future__ import annotations

import array
import base64
import sys
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.embeddings import Embeddings

from gateway import context
from gateway.api.embeddings_schemas import EmbeddingRequest
from gateway.errors import InvalidRequestError, UnknownModelError, UpstreamBadResponseError
from gateway.providers.base import EmbedOptions, ProviderAdapter

_CACHE_SIZE = 16


class Embedder:
    """Runs embeddings requests for one provider; models are cached per (model, key) like chat models."""

    def __init__(self, adapter: ProviderAdapter) -> None:
        self.adapter = adapter
        self._cache: OrderedDict[tuple[str, str], Embeddings] = OrderedDict()

    def resolve_model(self, requested: str | None) -> str:
        """Return the embeddings model to use (default: the first declared); 404 when not offered."""
        allowed = self.adapter.embedding_models
        model = requested or allowed[0]
        if model not in allowed:
            raise UnknownModelError(f"embedding model '{model}' is not available on this gateway; "
                                    f"allowed: {', '.join(allowed)}", param="model")
        return model

    def model(self, name: str, api_key: str) -> Embeddings:
        """Return a cached embeddings model for this model and key."""
        key = (name, api_key)
        found = self._cache.get(key)
        if found is not None:
            self._cache.move_to_end(key)
            return found
        built = self._cache[key] = self.adapter.build_embeddings(name, api_key)
        while len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return built

    async def create(self, req: EmbeddingRequest, api_key: str) -> dict[str, Any]:
        """Embed the request's inputs and return the OpenAI `list` document; tokens go to the request context."""
        name = self.resolve_model(req.model)
        native = self.adapter.embedding_dimensions.get(name)
        if req.dimensions is not None and native is None:
            raise InvalidRequestError(f"dimensions: not supported by model {name}",
                                      code="unsupported_parameter", param="dimensions")
        if req.dimensions is not None and native is not None and req.dimensions > native:
            raise InvalidRequestError(f"dimensions: at most {native} for model {name}", param="dimensions")
        token_ids = req.token_ids
        if token_ids is not None and not self.adapter.embeds_token_ids:
            raise InvalidRequestError(
                f"input: token ids are not supported by the {self.adapter.name} provider (they are ids of "
                "OpenAI's tokenizer): send text (LangChain's OpenAIEmbeddings: check_embedding_ctx_length=False)",
                code="unsupported_parameter", param="input")
        if req.user is not None and not self.adapter.embeds_user:
            raise InvalidRequestError(f"user: not supported by the {self.adapter.name} provider (no end-user id)",
                                      code="unsupported_parameter", param="user")
        types = self.adapter.embed_input_types
        if req.input_type is not None and req.input_type not in types:
            said = f"it takes {', '.join(types)}" if types else "Cohere's parameter: only the cohere provider takes it"
            raise InvalidRequestError(f"input_type: '{req.input_type}' is not supported by the {self.adapter.name} "
                                      f"provider ({said})", code="unsupported_parameter", param="input_type")
        ctx = context.get()
        if ctx is not None:
            ctx.model = name
        texts: Any = req.texts if token_ids is None else token_ids  # ids only where the adapter takes them
        asked = EmbedOptions(req.dimensions, req.user, req.input_type)
        embeddings = self.model(name, api_key)
        vectors: list[list[float]] = []
        tokens: int | None = None
        for batch in batches(texts, self.adapter.embed_batch, self.adapter.embed_batch_bytes):
            try:
                result = await self.adapter.embed(embeddings, name, batch, asked)
            except Exception as exc:
                # The calls before this one were billed: their tokens stay counted (audit, budgets).
                raise self.adapter.map_error(exc) from exc
            if len(result.vectors) != len(batch):
                raise UpstreamBadResponseError("the upstream returned a different number of embeddings")
            vectors.extend(result.vectors)
            if result.tokens is not None:
                tokens = (tokens or 0) + result.tokens
                if ctx is not None:
                    ctx.prompt_tokens, ctx.completion_tokens = tokens, 0
        if ctx is not None:
            ctx.completion_tokens = 0
        encode = to_base64 if req.encoding_format == "base64" else list
        usage = None if tokens is None else {"prompt_tokens": tokens, "total_tokens": tokens}
        return {
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": encode(vec)} for i, vec in enumerate(vectors)],
            "model": name,
            "usage": usage,
        }


def batches(texts: Sequence[Any], most: int | None, most_bytes: int | None) -> Iterator[Sequence[Any]]:
    """`texts` in order, in runs of at most `most` items and `most_bytes` UTF-8 bytes of text (a longer text goes
    alone: the provider judges it). Token ids are not split (no provider bounds them here)."""
    if not texts or not isinstance(texts[0], str) or (most is None and most_bytes is None):
        yield texts
        return
    start, size = 0, 0
    for i, text in enumerate(texts):
        length = len(text.encode())
        if i > start and ((most is not None and i - start >= most)
                          or (most_bytes is not None and size + length > most_bytes)):
            yield texts[start:i]
            start, size = i, 0
        size += length
    yield texts[start:]


def to_base64(vector: list[float]) -> str:
    """Encode a vector as OpenAI does for `encoding_format: base64`: little-endian float32 bytes."""
    packed = array.array("f", vector)
    if sys.byteorder == "big":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode()
