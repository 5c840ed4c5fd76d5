"""ASGI app factory: routes, model lists, health and ``/_mock`` control endpoints."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Route

import catalogue
from mockllm import anthropic, asgi, cohere, count_tokens, embeddings, mistral, openai
from mockllm.asgi import Receive, Scope, Send
from mockllm.config import MockConfig
from mockllm.engine import Provider, State, authorize, handle_chat

Handler = Callable[[Scope, Receive, Send], Awaitable[None]]
OPENAI = openai.OpenAIProtocol()
ANTHROPIC = anthropic.AnthropicProtocol()
COHERE = cohere.CohereProtocol()
# Where each protocol's own routes live (below); other catalogue rows get theirs under their mock_path.
ROOTS = {("openai", "/v1"), ("anthropic", ""), ("cohere", "")}
# Protocols the mock can serve again under a prefix, one instance per catalogue row.
PREFIXED: dict[str, Callable[[str], Provider]] = {"openai": openai.OpenAIProtocol, "mistral": mistral.MistralProtocol}
# Their embeddings replies, given the row's embedding models (a self-hosted server serves only its own).
EMBEDDING_REPLIES: dict[str, Callable[[tuple[str, ...]], Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "openai": embeddings.self_hosted_reply, "mistral": lambda _models: embeddings.mistral_reply}


class _ASGI:
    """Wraps a coroutine so Starlette routes it as a raw ASGI app (no Request/Response layer)."""

    def __init__(self, fn: Handler) -> None:
        self.fn = fn

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.fn(scope, receive, send)


def _models_provider(scope: Scope) -> Provider:
    """``GET /v1/models`` is shared: tell the callers apart by their headers/query."""
    headers = asgi.headers_of(scope)
    if b"x-api-key" in headers or b"anthropic-version" in headers:
        return ANTHROPIC
    query = scope.get("query_string", b"")
    if b"x-fern-sdk-name" in headers or b"endpoint=" in query or b"default_only=" in query:
        return COHERE
    return OPENAI


def create_app(config: MockConfig | None = None) -> Starlette:
    """Build the mock app; ``config`` defaults to ``MockConfig.from_env()``."""
    cfg = config or MockConfig.from_env()
    state = State.create(cfg)

    def chat(provider: Provider) -> _ASGI:
        async def handler(scope: Scope, receive: Receive, send: Send) -> None:
            await handle_chat(provider, state, scope, receive, send)

        return _ASGI(handler)

    async def list_models(scope: Scope, receive: Receive, send: Send) -> None:
        provider = _models_provider(scope)
        if not await authorize(provider, state, asgi.headers_of(scope), send, chat=False):
            return
        module = {"openai": openai, "anthropic": anthropic, "cohere": cohere}[provider.name]
        await asgi.send_json(send, 200, module.models_list(cfg.models.get(provider.name, ())))

    async def models(scope: Scope, receive: Receive, send: Send) -> None:
        # Anthropic's answer carries its request-id, as every response of its API does.
        app = anthropic.WithRequestId(list_models) if _models_provider(scope) is ANTHROPIC else list_models
        await app(scope, receive, send)

    async def model(scope: Scope, receive: Receive, send: Send) -> None:
        """``GET /v1/models/{id}``: Anthropic's retrieve (the other protocols' clients never call it here)."""
        headers = asgi.headers_of(scope)
        if not await authorize(ANTHROPIC, state, headers, send, chat=False):
            return
        name = scope["path_params"]["model"]
        if name in cfg.models.get(ANTHROPIC.name, ()):
            await asgi.send_json(send, 200, anthropic.model_info(name))
        else:
            await asgi.send_bytes(send, 404, ANTHROPIC.error("not_found", f"model: {name}"))

    def models_of(provider: Provider) -> _ASGI:
        async def handler(scope: Scope, receive: Receive, send: Send) -> None:
            if await authorize(provider, state, asgi.headers_of(scope), send, chat=False):
                await asgi.send_json(send, 200, openai.models_list(cfg.models.get(provider.name, ())))

        return _ASGI(handler)

    async def healthz(scope: Scope, receive: Receive, send: Send) -> None:
        await asgi.send_json(send, 200, {"status": "ok"})

    async def stats(scope: Scope, receive: Receive, send: Send) -> None:
        await asgi.send_json(send, 200, state.snapshot())

    async def reset(scope: Scope, receive: Receive, send: Send) -> None:
        state.reset()
        await asgi.send_json(send, 200, {"status": "reset"})

    routes = [
        Route("/v1/chat/completions", chat(OPENAI), methods=["POST"]),
        Route("/v1/messages", anthropic.WithRequestId(chat(ANTHROPIC)), methods=["POST"]),
        Route("/v2/chat", chat(COHERE), methods=["POST"]),
        Route("/v1/models", _ASGI(models), methods=["GET"]),
        Route("/v1/models/{model:path}", anthropic.WithRequestId(_ASGI(model)), methods=["GET"]),
        Route("/healthz", _ASGI(healthz), methods=["GET"]),
        Route("/_mock/stats", _ASGI(stats), methods=["GET"]),
        Route("/_mock/reset", _ASGI(reset), methods=["POST"]),
        *embeddings.routes(state, OPENAI, COHERE),
        *count_tokens.routes(state, ANTHROPIC),
    ]
    for row in catalogue.providers():
        if (row.mock_protocol, row.mock_path) in ROOTS:
            continue
        if row.mock_protocol not in PREFIXED:
            raise ValueError(f"catalogue row {row.name}: the mock serves {row.mock_protocol} only at its root")
        protocol = PREFIXED[row.mock_protocol](row.name)
        routes += [Route(f"{row.mock_path}/chat/completions", chat(protocol), methods=["POST"]),
                   Route(f"{row.mock_path}/models", models_of(protocol), methods=["GET"])]
        if row.embedding_models:
            reply = EMBEDDING_REPLIES[row.mock_protocol](row.embedding_models)
            routes.append(embeddings.prefixed_route(row.mock_path, protocol, state, reply))
    app = Starlette(routes=routes)
    app.state.mock = state
    return app
