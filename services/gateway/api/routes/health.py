"""Liveness, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from gateway import context
from gateway.api.deps import RuntimeDep
from gateway.runtime import Runtime

router = APIRouter(tags=["health"])


def _route(name: str) -> None:
    ctx = context.get()
    if ctx is not None:
        ctx.route = name


@router.get("/healthz", summary="Liveness: the process answers; touches nothing")
async def healthz() -> dict[str, str]:
    _route("healthz")
    return {"status": "ok"}


def _readiness(runtime: Runtime) -> tuple[bool, dict[str, object]]:
    secrets = runtime.backend.status()
    key = runtime.backend.provider_key()
    checks: dict[str, object] = {"secrets": secrets.as_dict(), "provider_key": bool(key)}
    model_ok = False
    if key:
        try:
            runtime.adapter.chat_model(runtime.adapter.models[0], key)
            model_ok = True
        except Exception as exc:  # noqa: BLE001 — construction failures are reported, never raised
            checks["model_error"] = type(exc).__name__
    checks["model"] = model_ok
    limits = runtime.limiter.status()
    checks["limits"] = limits  # a limiter in fallback degrades, never fails, readiness
    usage = checks["usage"] = runtime.audit.status()  # so does a usage sink that buffers
    serving = runtime.backend.serving()  # False: the backend fails closed (stale client registry)
    ready = bool(key) and model_ok and serving and not runtime.draining
    degraded = secrets.degraded or bool(limits.get("degraded")) or bool(usage.get("degraded"))
    status = "draining" if runtime.draining else ("degraded" if degraded else "ready")
    return ready, {"status": status if ready else "not_ready", "provider": runtime.settings.provider,
                   "checks": checks}


@router.get("/readyz", summary="Readiness with details (internal port only): secrets, provider key, model "
            "construction; never calls the LLM", responses={503: {"description": "not ready"}})
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    _route("readyz")
    ready, body = _readiness(runtime)
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/readyz/public", summary="Readiness as the edge publishes it: ready or not_ready, nothing else",
            responses={503: {"description": "not ready"}})
async def readyz_public(runtime: RuntimeDep) -> JSONResponse:
    # The public answer names no Vault address, counters, key versions or error reasons.
    _route("readyz")
    ready, _ = _readiness(runtime)
    return JSONResponse({"status": "ready" if ready else "not_ready"}, status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(runtime: RuntimeDep) -> Response:
    _route("metrics")
    return Response(runtime.metrics.render(), media_type=runtime.metrics.content_type)
