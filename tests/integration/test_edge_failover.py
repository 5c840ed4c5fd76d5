"""One provider's gateway stops: only its routes fail, as JSON, and the other providers keep working."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from devstack.procs import alive, stop
from tests.support.stack import local_stack

pytestmark = [pytest.mark.integration, pytest.mark.local_stack]


def test_a_stopped_gateway_fails_only_its_own_routes(tmp_path: Path) -> None:
    with local_stack(tmp_path / "stack") as running:
        assert running.stack is not None
        [record] = [r for r in running.stack.records() if r["name"] == "gateway-cohere"]
        assert stop(record), "the cohere gateway was not running"  # by its recorded pid, then reaped
        assert not alive(record)

        with httpx.Client(base_url=running.url, verify=str(running.ca), timeout=30) as client:
            chat = {"model": running.model("cohere"), "messages": [{"role": "user", "content": "hi"}]}
            down = [client.post("/cohere/v1/chat/completions", json=chat,
                                headers={"x-api-key": running.keys["cohere"]}),
                    client.get("/cohere/v1/models", headers={"Authorization": f"Bearer {running.keys['cohere']}"}),
                    client.get("/cohere/readyz")]
            for response in down:
                assert response.status_code in (502, 503), (response.request.url, response.text)
                assert response.headers["content-type"].startswith("application/json")
                assert response.json()["error"]["code"] in ("bad_gateway", "service_unavailable")
                assert response.headers["x-request-id"]
            # Without credentials the edge still refuses first: no gateway is needed for that answer.
            assert client.get("/cohere/v1/models").status_code == 401
            for provider in ("openai", "anthropic"):
                body = {"model": running.model(provider), "messages": [{"role": "user", "content": "hi"}]}
                ok = client.post(f"/{provider}/v1/chat/completions", json=body,
                                 headers={"x-api-key": running.keys[provider]})
                assert ok.status_code == 200, ok.text
            assert client.get("/healthz").status_code == 200
