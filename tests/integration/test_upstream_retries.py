"""The gateway's own upstream retries (GATEWAY_MAX_RETRIES), on both upstream transports (GATEWAY_UPSTREAM_HTTP).

The provider SDK retries what passes with time (a rate limit's 429), as many times as GATEWAY_MAX_RETRIES says,
and must not retry what does not: OpenAI's 429 `insufficient_quota`, the account out of credit. The mock
upstream is a real process; the count of requests it answered with a fault is what the gateway sent it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Literal

import httpx
import pytest

import catalogue
from gateway.app import create_app
from gateway.auth import keys
from gateway.config import Settings
from gateway.secrets.env import EnvSecretsBackend
from tests.support.mockproc import MockServer, run_mock

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

KEY, KEY_ID, KEY_HASH = keys.generate()
RETRIES = 2
Transport = Literal["aiohttp", "httpx"]  # GATEWAY_UPSTREAM_HTTP


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    # Only the provider keys the gateways hold: a client sending any other (a masked SecretStr) gets a 401.
    with run_mock({"MOCK_API_KEYS": ",".join(_provider_key(name) for name in catalogue.names())}) as server:
        yield server


def _provider_key(provider: str) -> str:
    return f"mock-key-{provider}"


@contextlib.asynccontextmanager
async def _gateway(provider: str, mock: MockServer, transport: Transport = "aiohttp",
                   retries: int = RETRIES, timeout_s: float = 10) -> AsyncIterator[httpx.AsyncClient]:
    spec = f"{KEY_ID}:{KEY_HASH}:{provider}"
    row = catalogue.provider(provider)
    cfg = Settings(provider=provider, client_keys=spec, upstream_base_url=mock.url + row.mock_path,
                   max_retries=retries, upstream_timeout_s=timeout_s, upstream_http=transport)
    app = create_app(cfg, EnvSecretsBackend(provider, spec, environ={row.key_env: _provider_key(provider)}))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gw", timeout=30,
            headers={"Authorization": f"Bearer {KEY}"}) as client:
        yield client


def _faults(mock: MockServer, provider: str) -> int:
    return int(httpx.get(f"{mock.url}/_mock/stats", timeout=5).json()[provider]["faults"])


def _chat(fault: str, stream: bool) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": f"x [[mock:fault={fault}]]"}], "stream": stream}


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
@pytest.mark.parametrize("provider", ["openai", "local-llama"])  # the OpenAI wire: quota is a 429 there
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_a_spent_account_is_asked_once_and_a_rate_limit_is_retried(mock: MockServer, provider: str,
                                                                         transport: Transport, stream: bool) -> None:
    async with _gateway(provider, mock, transport) as client:
        before = _faults(mock, provider)
        spent = await client.post("/v1/chat/completions", json=_chat("quota", stream))
        assert spent.status_code == 502 and spent.json()["error"]["code"] == "upstream_quota_exhausted", spent.text
        assert _faults(mock, provider) == before + 1
        # A rate limit passes with time: the SDK still spends its retries on it (each after the mock's 1 s).
        limited = await client.post("/v1/chat/completions", json=_chat("429", stream))
        assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limit_exceeded", limited.text
        assert _faults(mock, provider) == before + 1 + (RETRIES + 1)


@pytest.mark.parametrize("retries", [0, 2])
@pytest.mark.parametrize(("provider", "path"), [
    ("openai", "/v1/chat/completions"), ("anthropic", "/v1/chat/completions"), ("cohere", "/v1/chat/completions"),
    ("openai", "/v1/embeddings"), ("cohere", "/v1/embeddings"),
    # langchain-mistralai retries transport errors only: the adapter's retrying transport does the statuses
    ("mistral", "/v1/chat/completions"), ("mistral", "/v1/embeddings"),
])
async def test_a_rate_limit_is_retried_as_many_times_as_configured(mock: MockServer, provider: str, path: str,
                                                                   retries: int) -> None:
    body = _chat("429", False) if path.endswith("completions") else {"input": ["x [[mock:fault=429]]"]}
    async with _gateway(provider, mock, retries=retries) as client:
        before = _faults(mock, provider)
        limited = await client.post(path, json=body)
        assert limited.status_code == 429, limited.text
        assert _faults(mock, provider) == before + 1 + retries


@pytest.mark.parametrize(("fault", "code", "retried"), [
    ("429", "rate_limit_exceeded", True), ("503", "upstream_error", True), ("500", "upstream_error", True),
    ("quota", "upstream_quota_exhausted", False),  # a 402: the account is spent, a retry cannot pass
])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("provider", ["cohere", "mistral"])
async def test_what_the_vendor_sdks_retry_is_retried_over_the_gateways_transport(
        mock: MockServer, provider: str, fault: str, code: str, retried: bool, stream: bool) -> None:
    # Their integrations retry no status (Mistral) or no stream (Cohere): the retrying transport under their
    # client does, before the first byte.
    async with _gateway(provider, mock) as client:
        before = _faults(mock, provider)
        failed = await client.post("/v1/chat/completions", json=_chat(fault, stream))
        assert failed.json()["error"]["code"] == code, failed.text
        assert _faults(mock, provider) == before + 1 + (RETRIES if retried else 0)


@pytest.mark.parametrize(("provider", "path", "stream"), [
    *[(p, "/v1/chat/completions", s) for p in ("openai", "anthropic", "cohere", "mistral") for s in (False, True)],
    *[(p, "/v1/embeddings", False) for p in ("openai", "cohere", "mistral")],
])
async def test_an_upstream_that_never_answers_is_asked_once_plus_the_retries(mock: MockServer, provider: str,
                                                                             path: str, stream: bool) -> None:
    # The mock holds the request past the gateway's upstream timeout (1 s): each attempt times out.
    body = _chat("timeout", stream) if path.endswith("completions") else {"input": ["x [[mock:fault=timeout]]"]}
    async with _gateway(provider, mock, retries=1, timeout_s=1) as client:
        before = _faults(mock, provider)
        late = await client.post(path, json=body)
        assert late.json()["error"]["code"] == "upstream_timeout", late.text
        assert _faults(mock, provider) == before + 2
