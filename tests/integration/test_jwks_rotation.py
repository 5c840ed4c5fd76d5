"""Security review finding 8: a token signed with a key the issuer just rotated in (unknown `kid`) makes
the gateway fetch the JWKS at once, not at its next 5-minute period. Real app lifespan, real JWKS server."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from gateway.app import create_app
from gateway.config import Settings
from gateway.secrets.env import EnvSecretsBackend
from tests.support import fake_http

pytestmark = pytest.mark.integration
ISS, AUD = "https://issuer.test", "llm-gateway"


class Jwks:
    """Serves a JWKS document over loopback HTTP and counts the fetches."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0

    def publish(self, key: ec.EllipticCurvePrivateKey, kid: str) -> None:
        jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
        self.keys = [{**jwk, "kid": kid, "alg": "ES256", "use": "sig"}]

    def handler(self) -> type[BaseHTTPRequestHandler]:
        jwks = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                jwks.fetches += 1
                body = json.dumps({"keys": jwks.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


@pytest.fixture
def jwks() -> Iterator[tuple[Jwks, str]]:
    doc = Jwks()
    server = fake_http.start(doc.handler())
    try:
        yield doc, f"http://127.0.0.1:{server.server_address[1]}/jwks"
    finally:
        server.stop()


def _token(key: ec.EllipticCurvePrivateKey, kid: str) -> str:
    now = int(time.time())
    claims = {"iss": ISS, "aud": AUD, "sub": "svc-rotated", "exp": now + 300, "iat": now, "scope": "llm:openai"}
    return jwt.encode(claims, key, "ES256", headers={"kid": kid})


async def test_unknown_kid_triggers_an_immediate_jwks_refresh(jwks: tuple[Jwks, str]) -> None:
    doc, url = jwks
    old, new = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    doc.publish(old, "k-old")
    cfg = Settings(provider="openai", upstream_base_url="http://127.0.0.1:9/v1",
                   jwt_jwks_url=url, jwt_issuer=ISS, jwt_audience=AUD)
    app = create_app(cfg, EnvSecretsBackend("openai", "", environ={"OPENAI_API_KEY": "sk-upstream"}))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            def models(key: ec.EllipticCurvePrivateKey, kid: str) -> Any:
                return client.get("/v1/models", headers={"Authorization": f"Bearer {_token(key, kid)}"})

            assert (await models(old, "k-old")).status_code == 200
            doc.publish(new, "k-new")  # the issuer rotates its signing key
            first = await models(new, "k-new")
            assert first.status_code == 401 and first.json()["error"]["code"] == "invalid_token"
            deadline = time.monotonic() + 5  # far below the 300 s period
            while (await models(new, "k-new")).status_code != 200:
                assert time.monotonic() < deadline, "the JWKS was not refreshed on an unknown kid"
                await asyncio.sleep(0.1)
            fetched = doc.fetches
            for _ in range(5):  # random kids cannot make the gateway hammer the issuer
                assert (await models(new, "k-random")).status_code == 401
            await asyncio.sleep(0.3)
            assert doc.fetches == fetched


async def test_metrics_client_label_is_bounded_for_jwts(jwks: tuple[Jwks, str]) -> None:
    doc, url = jwks
    key = ec.generate_private_key(ec.SECP256R1())
    doc.publish(key, "k1")
    cfg = Settings(provider="openai", upstream_base_url="http://127.0.0.1:9/v1",
                   jwt_jwks_url=url, jwt_issuer=ISS, jwt_audience=AUD)
    app = create_app(cfg, EnvSecretsBackend("openai", "", environ={"OPENAI_API_KEY": "sk-upstream"}))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            now = int(time.time())
            for n in range(20):  # twenty users of one identity provider
                claims = {"iss": ISS, "aud": AUD, "sub": f"user-{n}", "exp": now + 300, "scope": "llm:openai"}
                token = jwt.encode(claims, key, "ES256", headers={"kid": "k1"})
                assert (await client.get("/v1/models", headers={"Authorization": f"Bearer {token}"})).status_code == 200
            text = (await client.get("/metrics")).text
    series = [line for line in text.splitlines() if line.startswith("llm_gateway_requests_total{") and "models" in line]
    assert len(series) == 1 and 'client="jwt"' in series[0], series
    assert "user-" not in text
