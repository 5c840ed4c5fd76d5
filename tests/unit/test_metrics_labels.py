"""What the series say about a failure: whose fault (provider or the gateway's own limits), which route, which
credential failure, what is in flight. In-process app (httpx.ASGITransport), nothing listens upstream."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.auth import keys
from gateway.config import Settings
from gateway.context import RequestContext, route_of
from gateway.errors import ServiceUnavailableError
from gateway.metrics import Metrics
from gateway.secrets.base import ClientKeyRecord
from gateway.secrets.env import EnvSecretsBackend

KEY, KEY_ID, KEY_HASH = keys.generate()
TIGHT, TIGHT_ID, TIGHT_HASH = keys.generate()  # a tokens-per-minute limit no request fits in
OTHER, OTHER_ID, OTHER_HASH = keys.generate()  # a key of another provider
HELLO = {"messages": [{"role": "user", "content": "hi"}]}


class StaleRegistry(EnvSecretsBackend):
    """The Vault backend's answer once its cached client registry is too old (GATEWAY_VAULT_REGISTRY_MAX_STALE_S)."""

    def client_keys(self) -> dict[str, ClientKeyRecord]:
        raise ServiceUnavailableError("client registry is stale", code="client_registry_stale")


def _keys_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": {
        KEY_ID: {"hash": KEY_HASH, "providers": ["openai"]},
        TIGHT_ID: {"hash": TIGHT_HASH, "providers": ["openai"], "limits": {"tpm": 1}},
        OTHER_ID: {"hash": OTHER_HASH, "providers": ["cohere"]},
    }}))
    return path


async def _client(tmp_path: Path, provider_key: str | None, backend: type[EnvSecretsBackend] = EnvSecretsBackend,
                  ) -> AsyncIterator[httpx.AsyncClient]:
    keys_file = _keys_file(tmp_path)
    cfg = Settings(provider="openai", client_keys_file=keys_file, upstream_base_url="http://127.0.0.1:9/v1",
                   max_retries=0, upstream_timeout_s=5)
    environ = {"OPENAI_API_KEY": provider_key} if provider_key else {}
    app = create_app(cfg, backend("openai", None, keys_file, environ=environ))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            yield client


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client(tmp_path, "sk-upstream"):
        yield c


@pytest.fixture
async def keyless(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client(tmp_path, None):
        yield c


@pytest.fixture
async def stale(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client(tmp_path, "sk-upstream", StaleRegistry):
        yield c


def _samples(text: str, name: str) -> dict[str, float]:
    """{label text: value} of one series name in an exposition."""
    return {labels: float(value) for labels, value in re.findall(rf"^{name}\{{(.*)\}} (\S+)$", text, re.M)}


def _requests(text: str) -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = {}
    for labels, value in _samples(text, "llm_gateway_requests_total").items():
        route = re.search(r'route="([^"]*)"', labels)
        status = re.search(r'status="([^"]*)"', labels)
        assert route and status
        if route[1] != "metrics":
            out[(route[1], status[1])] = out.get((route[1], status[1]), 0.0) + value
    return out


# -- 1. the gateway's own 429 is not the provider's throttling ------------------------------------------------

async def test_a_client_limit_429_is_not_counted_as_an_upstream_error(client: httpx.AsyncClient) -> None:
    resp = await client.post("/v1/chat/completions", json=HELLO, headers={"Authorization": f"Bearer {TIGHT}"})
    assert resp.status_code == 429 and resp.json()["error"]["code"] == "rate_limit_exceeded", resp.text
    text = (await client.get("/metrics")).text
    assert _requests(text) == {("chat", "429"): 1.0}
    assert _samples(text, "llm_gateway_limited_total") == {'limit="rate_limit_exceeded",provider="openai"': 1.0}
    assert _samples(text, "llm_gateway_upstream_errors_total") == {}, "the provider was never called"


@pytest.mark.parametrize(("limited", "counted"), [(False, True), (True, False)])
def test_observe_counts_a_429_as_the_providers_only_when_no_client_limit_refused_it(limited: bool,
                                                                                    counted: bool) -> None:
    metrics = Metrics("openai")
    for code in ("rate_limit_exceeded", "insufficient_quota", "budget_unavailable"):
        ctx = RequestContext(request_id="r", method="POST", path="/v1/chat/completions", route="chat", model="m",
                             error_code=code, limited=limited)
        metrics.observe(ctx, 429, 0.01)
    text = metrics.render().decode()
    assert (len(_samples(text, "llm_gateway_upstream_errors_total")) == 3) is counted
    assert _requests(text) == {("chat", "429"): 3.0}


# -- 2. a failure before the handler runs is labelled with the route called ------------------------------------

@pytest.mark.parametrize(("path", "route"), [
    ("/v1/chat/completions", "chat"), ("/v1/agent", "agent"), ("/v1/embeddings", "embeddings"),
    ("/v1/messages", "messages"), ("/v1/messages/count_tokens", "count_tokens"), ("/v1/models", "models"),
    ("/v1/models/gpt-4o", "models"), ("/v1/auth/verify", "verify"), ("/metrics", "metrics"),
    ("/readyz/public", "readyz"), ("/v1/chat", "other"), ("/", "other"),
])
def test_the_route_label_comes_from_the_path(path: str, route: str) -> None:
    assert route_of(path) == route


async def test_a_503_raised_before_the_handler_names_the_route(keyless: httpx.AsyncClient,
                                                                 stale: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    assert (await keyless.post("/v1/chat/completions", json=HELLO, headers=auth)).status_code == 503
    assert _requests((await keyless.get("/metrics")).text) == {("chat", "503"): 1.0}
    for path in ("/v1/chat/completions", "/v1/embeddings", "/v1/agent"):
        resp = await stale.post(path, json=HELLO, headers=auth)
        assert resp.status_code == 503 and resp.json()["error"]["code"] == "client_registry_stale", resp.text
    assert _requests((await stale.get("/metrics")).text) == {
        ("chat", "503"): 1.0, ("embeddings", "503"): 1.0, ("agent", "503"): 1.0}


async def test_an_unauthenticated_request_names_the_route(client: httpx.AsyncClient) -> None:
    for path in ("/v1/chat/completions", "/v1/embeddings"):
        assert (await client.post(path, json=HELLO)).status_code == 401
    assert _requests((await client.get("/metrics")).text) == {("chat", "401"): 1.0, ("embeddings", "401"): 1.0}


# -- 4. auth failures are refused credentials, not a backend outage --------------------------------------------

async def test_a_stale_client_registry_is_not_an_auth_failure(stale: httpx.AsyncClient) -> None:
    resp = await stale.get("/v1/models", headers={"Authorization": f"Bearer {KEY}"})
    assert resp.status_code == 503, resp.text
    text = (await stale.get("/metrics")).text
    assert _samples(text, "llm_gateway_auth_failures_total") == {}
    assert _requests(text) == {("models", "503"): 1.0}


@pytest.mark.parametrize(("headers", "reason"), [
    ({"Authorization": f"Bearer {OTHER}"}, "provider_not_allowed"),
    ({"Authorization": "Bearer lgw_aaaaaaaaaaaa_" + "x" * 32}, "invalid_api_key"),
    ({}, "missing_credentials"),
])
async def test_auth_failures_are_counted_by_their_code(client: httpx.AsyncClient, headers: dict[str, Any],
                                                       reason: str) -> None:
    assert (await client.get("/v1/models", headers=headers)).status_code in (401, 403)
    text = (await client.get("/metrics")).text
    assert _samples(text, "llm_gateway_auth_failures_total") == {f'provider="openai",reason="{reason}"': 1.0}


# -- 5. the in-flight gauge is requests being served, not the scrape or the probes ------------------------------

async def test_scrapes_and_probes_are_not_in_flight(client: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/readyz", "/readyz/public"):
        assert (await client.get(path)).status_code == 200
    text = (await client.get("/metrics")).text
    assert _samples(text, "llm_gateway_in_flight_requests") == {'provider="openai"': 0.0}
