"""`GET /v1/models`: the allowlist of this provider service."""

from __future__ import annotations

from fastapi import APIRouter

from gateway import context
from gateway.api.deps import ClientDep, RuntimeDep
from gateway.api.schemas import ModelCard, ModelList

router = APIRouter(tags=["models"])


@router.get("/v1/models", response_model=ModelList, summary="List the models this gateway allows")
async def list_models(runtime: RuntimeDep, _client: ClientDep) -> ModelList:
    ctx = context.get()
    if ctx is not None:
        ctx.route = "models"
    owner = runtime.settings.provider
    return ModelList(data=[ModelCard(id=m, owned_by=owner) for m in runtime.adapter.models])
