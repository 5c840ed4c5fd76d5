"""A request leaves nothing in reference cycles beyond what the provider's own SDK call leaves.

An object in a reference cycle is freed only when a garbage collection finds it, and it keeps whatever it
references alive until then; each one also adds to the collections a busy process runs (#18). The gateway
app is called in process over raw ASGI (bench/asgi_call.py) against the real mock, with the collector off;
`gc.DEBUG_SAVEALL` then lists what only a collection would have freed. The bare LangChain call of the same
model is the reference: langchain-cohere's HTTP client leaves a cycle per call of its own (httpcore's pool
request and response stream), which no code of the gateway's can remove.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from langchain_core.messages import HumanMessage

import catalogue
from gateway.app import create_app
from gateway.auth import keys
from gateway.config import Settings
from gateway.providers import create_adapter
from gateway.secrets.env import EnvSecretsBackend
from tests.support.cycles import left_in_cycles
from tests.support.mockproc import MockServer, run_mock

KEY, KEY_ID, KEY_HASH = keys.generate()
REQUESTS = 8
BENCH = Path(__file__).resolve().parents[2] / "bench"
Run = Callable[[], Awaitable[object]]


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    with run_mock() as server:
        yield server


@pytest.fixture
def asgi(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(BENCH))
    import asgi_call

    return asgi_call


async def _garbage(run: Run) -> Counter[str]:
    """What REQUESTS runs of `run` left in cycles, after two warm-up runs (first calls fill caches)."""
    for _ in range(2):
        await run()
    return await left_in_cycles(run, REQUESTS)


def _served(asgi: Any, app: Any, path: str, headers: list[tuple[bytes, bytes]], doc: dict[str, Any]) -> Run:
    """One request to the app over raw ASGI, which must succeed."""
    body = orjson.dumps(doc)
    scope = asgi.scope_for(path, [*headers, (b"content-type", b"application/json"),
                                  (b"content-length", str(len(body)).encode())])

    async def once() -> object:
        status, size = await asgi.call(app, scope, body)
        assert status == 200 and size > 0
        return status

    return once


def _settings(provider: str, mock: MockServer) -> Settings:
    return Settings(provider=provider, client_keys=f"{KEY_ID}:{KEY_HASH}:{provider}", max_retries=0,
                    upstream_base_url=mock.url + catalogue.provider(provider).mock_path)


@pytest.mark.parametrize("provider", catalogue.names())
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
async def test_a_chat_completion_adds_no_cycle_to_the_sdk_call(provider: str, stream: bool, mock: MockServer,
                                                               asgi: Any) -> None:
    settings = _settings(provider, mock)
    env = {catalogue.provider(provider).key_env: "sk-upstream"}
    app = create_app(settings, EnvSecretsBackend(provider, settings.client_keys, environ=env))
    adapter = create_adapter(settings)
    model_name = adapter.models[0]
    model = adapter.chat_model(model_name, "sk-upstream")
    prompt = [HumanMessage("hello")]

    async def bare() -> object:
        if stream:
            return [chunk async for chunk in model.astream(prompt, max_tokens=16)]
        return await model.ainvoke(prompt, max_tokens=16)

    served = _served(asgi, app, "/v1/chat/completions", [(b"authorization", f"Bearer {KEY}".encode())],
                     {"model": model_name, "messages": [{"role": "user", "content": "hello"}], "max_tokens": 16,
                      "stream": stream})

    async with app.router.lifespan_context(app):
        sdk = await _garbage(bare)
        gateway = await _garbage(served)
    assert gateway - sdk == Counter(), f"left in cycles per {REQUESTS} requests: {gateway} (the SDK call: {sdk})"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
async def test_an_anthropic_messages_request_leaves_no_cycle(stream: bool, mock: MockServer, asgi: Any) -> None:
    settings = _settings("anthropic", mock)
    app = create_app(settings, EnvSecretsBackend("anthropic", settings.client_keys,
                                                 environ={"ANTHROPIC_API_KEY": "sk-upstream"}))
    served = _served(asgi, app, "/v1/messages", [(b"x-api-key", KEY.encode()), (b"anthropic-version", b"2023-06-01")],
                     {"model": create_adapter(settings).models[0], "max_tokens": 16, "stream": stream,
                      "messages": [{"role": "user", "content": "hello"}]})

    async with app.router.lifespan_context(app):
        assert await _garbage(served) == Counter()
