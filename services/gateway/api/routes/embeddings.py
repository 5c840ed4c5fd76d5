"""`POST /v1/embeddings`: OpenAI-compatible, for providers whose adapter declares embeddings models."""

from __future__ import annotations

import orjson
from fastapi import APIRouter
from fastapi.responses import Response

from gateway import context
from gateway.api.deps import ClientDep, RuntimeDep, admit
from gateway.api.embeddings_schemas import EmbeddingRequest, EmbeddingResponse
from gateway.api.responses import JsonBytesResponse
from gateway.api.strict_json import StrictJsonRoute
from gateway.embeddings import Embedder
from gateway.errors import NotFoundError
from gateway.limits import enforce
from gateway.providers.base import ProviderAdapter

_SUMMARY = "Create embeddings (OpenAI-compatible)"


def build_router(adapter: ProviderAdapter) -> APIRouter:
    """The embeddings route of this provider, or one that answers a clear 404 when it has none."""
    router = APIRouter(tags=["embeddings"], route_class=StrictJsonRoute)
    if not adapter.embedding_models:
        @router.post("/v1/embeddings", summary=_SUMMARY, include_in_schema=False)
        async def no_embeddings(_client: ClientDep) -> Response:
            raise NotFoundError(f"provider {adapter.name} offers no embeddings models",
                                code="embeddings_not_supported")

        return router

    embedder = Embedder(adapter)

    @router.post("/v1/embeddings", summary=_SUMMARY, response_model=EmbeddingResponse)
    async def create_embeddings(req: EmbeddingRequest, runtime: RuntimeDep, client: ClientDep) -> Response:
        ctx = context.get()
        if ctx is not None:
            ctx.route, ctx.audited = "embeddings", True
        # Counted by the client's limits like chat: the input is reserved, no completion allowance.
        ids = req.token_ids
        reservation = await admit(runtime, client, req.texts, 0,
                                  prompt_tokens=None if ids is None else sum(map(len, ids)))
        try:
            doc = await embedder.create(req, runtime.provider_key())
        except Exception:
            # What the provider billed before the failure (a request split into calls): the calls that ran.
            billed = ctx.prompt_tokens if ctx is not None else None
            await enforce.settle(runtime.limiter, reservation, billed or 0)
            raise
        usage = doc.get("usage")
        await enforce.settle(runtime.limiter, reservation, usage["total_tokens"] if usage else None)
        return JsonBytesResponse(orjson.dumps(doc), enforce.headers(reservation))

    return router
