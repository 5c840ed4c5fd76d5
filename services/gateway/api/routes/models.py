"""`GET /v1/models` and `GET /v1/models/{model}`: the allowlist of this provider service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from gateway import context
from gateway.api.deps import ClientDep, RuntimeDep, unknown_model
from gateway.api.schemas import ErrorBody, ModelCard, ModelList

router = APIRouter(tags=["models"])
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "not a model of this gateway"}}


def note_route() -> None:
    """Label the request `models` (metrics, access log)."""
    ctx = context.get()
    if ctx is not None:
        ctx.route = "models"


@router.get("/v1/models", response_model=ModelList, summary="List the models this gateway allows")
async def list_models(runtime: RuntimeDep, _client: ClientDep) -> ModelList:
    note_route()
    owner = runtime.settings.provider
    return ModelList(data=[ModelCard(id=m, owned_by=owner) for m in runtime.adapter.models])


# `:path`: self-hosted model names may contain slashes (`meta-llama/Llama-3.1-8B-Instruct`).
@router.get("/v1/models/{model:path}", response_model=ModelCard, responses=_NOT_FOUND,
            summary="One model this gateway allows (the OpenAI SDK's `models.retrieve`)")
async def retrieve_model(model: str, runtime: RuntimeDep, _client: ClientDep) -> ModelCard:
    note_route()
    if model not in runtime.adapter.models:
        raise unknown_model(runtime, model)
    return ModelCard(id=model, owned_by=runtime.settings.provider)
