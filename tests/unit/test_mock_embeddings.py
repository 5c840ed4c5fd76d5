"""The mock's embeddings and count_tokens endpoints in-process: shapes, determinism, refusals, faults."""

from __future__ import annotations

import array
import base64
import math
from typing import Any

import httpx
import pytest

from mockllm.app import create_app
from mockllm.config import MockConfig

KEY = "k1"
BEARER = {"authorization": f"Bearer {KEY}"}


@pytest.fixture
async def client() -> Any:
    app = create_app(MockConfig(api_keys=frozenset({KEY})))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock") as c:
        yield c


async def test_openai_float_base64_and_dimensions(client: httpx.AsyncClient) -> None:
    body = {"model": "text-embedding-3-small", "input": ["a b c", "d"]}
    plain = (await client.post("/v1/embeddings", json=body, headers=BEARER)).json()
    assert plain["usage"] == {"prompt_tokens": 4, "total_tokens": 4} and plain["model"] == body["model"]
    first = plain["data"][0]["embedding"]
    assert len(first) == 1536 and math.isclose(sum(x * x for x in first), 1.0, rel_tol=1e-9)
    again = (await client.post("/v1/embeddings", json=body, headers=BEARER)).json()
    assert again["data"][0]["embedding"] == first and plain["data"][1]["embedding"] != first
    encoded = (await client.post("/v1/embeddings", json={**body, "encoding_format": "base64"}, headers=BEARER))
    decoded = array.array("f", base64.b64decode(encoded.json()["data"][0]["embedding"])).tolist()
    assert all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-7) for a, b in zip(first, decoded, strict=True))
    short = (await client.post("/v1/embeddings", json={**body, "dimensions": 8}, headers=BEARER)).json()
    assert len(short["data"][0]["embedding"]) == 8


async def test_openai_token_ids(client: httpx.AsyncClient) -> None:
    body = {"model": "text-embedding-3-small", "input": [[15339, 1917], [9906]]}
    arrays = (await client.post("/v1/embeddings", json=body, headers=BEARER)).json()
    assert arrays["usage"] == {"prompt_tokens": 3, "total_tokens": 3} and len(arrays["data"]) == 2
    one = (await client.post("/v1/embeddings", json={**body, "input": [15339, 1917]}, headers=BEARER)).json()
    assert one["data"][0]["embedding"] == arrays["data"][0]["embedding"] and one["usage"]["prompt_tokens"] == 2


async def test_cohere_v1_and_v2(client: httpx.AsyncClient) -> None:
    body = {"model": "embed-v4.0", "texts": ["x y"], "input_type": "search_document", "embedding_types": ["float"]}
    v1 = (await client.post("/v1/embed", json=body, headers=BEARER)).json()
    v2 = (await client.post("/v2/embed", json=body, headers=BEARER)).json()
    assert v1["response_type"] == "embeddings_by_type" and "response_type" not in v2
    assert v1["embeddings"]["float"] == v2["embeddings"]["float"]
    assert v1["meta"]["billed_units"]["input_tokens"] == 2


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/embeddings", {"model": "text-embedding-3-small", "input": ""}),
    ("/v1/embeddings", {"model": "text-embedding-3-small", "input": ["x"] * 2049}),
    ("/v1/embeddings", {"model": "gpt-4o", "input": "x"}),
    ("/v1/embeddings", {"model": "text-embedding-ada-002", "input": "x", "dimensions": 8}),
    ("/v1/embeddings", {"model": "text-embedding-3-small", "input": "x", "encoding_format": "int8"}),
    ("/v1/embeddings", {"model": "text-embedding-3-small", "input": [[1], []]}),
    ("/v1/embeddings", {"model": "text-embedding-3-small", "input": [1, -2]}),
    ("/v2/embed", {"model": "embed-v4.0", "texts": ["x"]}),
    ("/v2/embed", {"model": "embed-v4.0", "texts": ["x"] * 97, "input_type": "search_query"}),
])
async def test_refusals_are_400_in_the_provider_shape(client: httpx.AsyncClient, path: str, body: dict) -> None:
    resp = await client.post(path, json=body, headers=BEARER)
    assert resp.status_code == 400
    doc = resp.json()
    assert ("error" in doc) if path == "/v1/embeddings" else ("message" in doc)


async def test_auth_and_faults(client: httpx.AsyncClient) -> None:
    body = {"model": "text-embedding-3-small", "input": "x"}
    assert (await client.post("/v1/embeddings", json=body)).status_code == 401
    by_header = await client.post("/v1/embeddings", json=body, headers={**BEARER, "x-mock-fault": "503"})
    assert by_header.status_code == 503
    by_directive = await client.post("/v1/embeddings", headers=BEARER,
                                     json={**body, "input": ["ok", "x [[mock:fault=429]]"]})
    assert by_directive.status_code == 429 and by_directive.headers["retry-after"] == "1"


async def test_count_tokens_matches_messages_input_tokens(client: httpx.AsyncClient) -> None:
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    body = {"model": "claude-sonnet-4-6", "system": "be brief", "messages": [{"role": "user", "content": "one two"}]}
    counted = (await client.post("/v1/messages/count_tokens", json=body, headers=headers)).json()
    sent = (await client.post("/v1/messages", json={**body, "max_tokens": 10}, headers=headers)).json()
    assert counted == {"input_tokens": sent["usage"]["input_tokens"]} == {"input_tokens": 4}
    refused = await client.post("/v1/messages/count_tokens", json=body, headers={"x-api-key": KEY})
    assert refused.status_code == 400 and refused.json()["type"] == "error"
    assert (await client.post("/v1/messages/count_tokens", json={"model": "m"}, headers=headers)).status_code == 400
