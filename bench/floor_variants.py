"""The floor bench's variants: one request each, from the bare LangChain call up to the full gateway app.

Every variant is an `async () -> bool` (True: a 200 with a body). The app variants are real gateway
apps (`create_app`) called over raw ASGI in this process, each with one component switched off, so
`full - (full without X)` is what X costs (attribution by toggling, not by a profiler).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from asgi_call import call, scope_for
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage

from gateway import chat, logs
from gateway.api.chat_request import ChatCompletionRequest
from gateway.app import create_app
from gateway.auth.keys import generate
from gateway.config import load_settings
from gateway.providers import create_adapter
from gateway.secrets.env import EnvSecretsBackend

Variant = Callable[[], Awaitable[bool]]
PROMPT = "Benchmark request: answer with a short friendly greeting for the load test."
UPSTREAM_KEY = "sk-bench-upstream"
# Each app variant: which components are on. "full" is the default deployment plus a limited client key.
FULL = {"auth": True, "limits": True, "metrics": True, "access_log": True, "audit": "jsonl",
        "limiter": "memory", "direct": True}
APP_VARIANTS: dict[str, dict[str, Any]] = {
    "full": {},
    "-audit": {"audit": "none"},
    "-metrics": {"metrics": False},
    "-access_log": {"access_log": False},
    "-limiter": {"limits": False},
    "-auth": {"auth": False},
    "-direct": {"direct": False},  # FastAPI routes the request (GATEWAY_DIRECT_ROUTES=false)
    "+redis": {"limiter": "redis"},
    "+postgres": {"audit": "postgres"},
}


@dataclass
class Keys:
    """Two client keys in a keys file: one with (generous) limits, one without."""

    path: Path
    limited: str
    unlimited: str

    @classmethod
    def create(cls, state: Path, providers: tuple[str, ...]) -> Keys:
        """Write the keys file (fresh secrets each run)."""
        doc: dict[str, Any] = {"keys": {}}
        out = []
        for name, limits in (("bench-limited", {"rpm": 10**8, "tpm": 10**10, "daily_tokens": 10**12}),
                             ("bench-free", None)):
            full, kid, digest = generate()
            doc["keys"][kid] = {"hash": digest, "providers": list(providers), "name": name,
                                **({"limits": limits} if limits else {})}
            out.append(full)
        path = state / "floor-keys.json"
        path.write_text(json.dumps(doc))
        return cls(path, *out)


@dataclass
class Provider:
    """One provider's request body, headers and models."""

    name: str
    base_url: str
    model: str = ""
    body: bytes = b""
    stream_body: bytes = b""
    settings_kw: dict[str, Any] = field(default_factory=dict)


def settings_for(name: str, mock_url: str, keys_file: Path | str) -> dict[str, Any]:
    """The gateway settings of every variant for provider `name` against the mock at `mock_url`."""
    base = mock_url + ("/v1" if name == "openai" else "")
    return {"provider": name, "upstream_base_url": base, "secrets_backend": "env",
            "client_keys_file": keys_file, "max_retries": 0}


def provider(name: str, mock_url: str, state: Path, keys: Keys) -> Provider:
    """Describe `name` against the mock at `mock_url`."""
    kw = settings_for(name, mock_url, keys.path)
    p = Provider(name, kw["upstream_base_url"], settings_kw=kw)
    p.model = create_adapter(load_settings(**p.settings_kw)).models[0]
    doc = {"model": p.model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 64}
    p.body = orjson.dumps(doc)
    p.stream_body = orjson.dumps({**doc, "stream": True})
    return p


def bare_call(settings_kw: dict[str, Any]) -> tuple[BaseChatModel, list[BaseMessage], dict[str, Any]]:
    """The floor's call: the provider's LangChain chat model, built as the gateway builds it, its messages and
    arguments (`ainvoke(messages, **kwargs)` / `astream(...)`); served over HTTP by bench/served_floor.py."""
    adapter = create_adapter(load_settings(**settings_kw))
    return adapter.chat_model(adapter.models[0], UPSTREAM_KEY), [HumanMessage(PROMPT)], {"max_tokens": 64}


def bare(p: Provider, stream: bool) -> Variant:
    """The floor: the bare call, in this process."""
    model, messages, kwargs = bare_call(p.settings_kw)

    async def once() -> bool:
        if stream:
            n = 0
            async for _ in model.astream(messages, **kwargs):
                n += 1
            return n > 0
        return bool((await model.ainvoke(messages, **kwargs)).content)

    return once


def convert(p: Provider) -> Variant:
    """The floor plus the gateway's own conversions: request parse, messages, response document, JSON."""
    adapter = create_adapter(load_settings(**p.settings_kw))
    model = adapter.chat_model(p.model, UPSTREAM_KEY)

    async def once() -> bool:
        req = ChatCompletionRequest.model_validate_json(p.body)
        doc = await chat.complete(adapter, model, req, p.model, "chatcmpl-bench")
        return len(orjson.dumps(doc)) > 0

    return once


async def app_variant(stack: contextlib.AsyncExitStack, p: Provider, keys: Keys, state: Path, name: str,
                      stream: bool, services: dict[str, str]) -> tuple[Variant, Callable[[bool], None]]:
    """A started gateway app with the components of `name` on; returns the request and a log switch."""
    cfg = {**FULL, **APP_VARIANTS[name]}
    kw = dict(p.settings_kw)
    if cfg["audit"] == "jsonl":
        kw["audit_log"] = state / "audit" / f"floor-{p.name}-{name}.log"
    elif cfg["audit"] == "postgres":
        kw.update(usage_backend="postgres", postgres_dsn=services["postgres"], usage_flush_s=0.5)
    if cfg["limiter"] == "redis":
        kw.update(limits_backend="redis", redis_url=services["redis"])
    settings = load_settings(**kw, direct_routes=cfg["direct"])
    backend = EnvSecretsBackend(p.name, client_keys_file=keys.path,
                                environ={"OPENAI_API_KEY": UPSTREAM_KEY, "ANTHROPIC_API_KEY": UPSTREAM_KEY,
                                         "COHERE_API_KEY": UPSTREAM_KEY})
    app = create_app(settings, backend)
    runtime = app.state.runtime
    if not cfg["metrics"]:
        runtime.metrics.observe = lambda *_: None
        runtime.metrics.started = runtime.metrics.ended = lambda: None
    await stack.enter_async_context(app.router.lifespan_context(app))
    key = keys.limited if cfg["limits"] else keys.unlimited
    if not cfg["auth"]:  # every credential check returns the key's principal at once
        principal = runtime.authenticator.authenticate(f"Bearer {key}", None)
        runtime.authenticator.authenticate = lambda *_: principal
    headers = [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
               (b"accept", b"application/json, text/event-stream"), (b"authorization", f"Bearer {key}".encode())]
    body = p.stream_body if stream else p.body
    scope = scope_for("/v1/chat/completions", [*headers, (b"content-length", str(len(body)).encode())])
    access = logging.getLogger("gateway.access")

    def switch(on: bool) -> None:  # the access logger is process-wide: set it for this variant's window
        access.disabled = not (on and cfg["access_log"])

    async def once() -> bool:
        status, size = await call(app, scope, body)
        return status == 200 and size > 0

    return once, switch


def configure_logs(state: Path) -> None:
    """The gateway's JSON logs, as in production, but into a file (stdout carries the results)."""
    logs.configure("info")
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(open(state / "floor-app.log", "a", buffering=8192))  # lives for the run
