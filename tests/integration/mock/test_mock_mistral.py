"""The mock speaking Mistral's chat completions: its own tool-call ids, usage in the last chunk, its error body."""

from __future__ import annotations

import json

import httpx

import catalogue
from tests.integration.mock.common import KEY, TOOL_ASK
from tests.support.mockproc import MockServer


def test_mistral_wire_protocol(mock: MockServer) -> None:
    url, auth = f"{mock.url}/mistral/v1/chat/completions", {"Authorization": f"Bearer {KEY}"}
    body = {"model": "mistral-small-latest", "messages": [{"role": "user", "content": TOOL_ASK}],
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}],
            "tool_choice": "any", "random_seed": 3}
    doc = httpx.post(url, json=body, headers=auth).json()
    call = doc["choices"][0]["message"]["tool_calls"][0]
    assert len(call["id"]) == 9 and call["id"].isalnum() and doc["choices"][0]["finish_reason"] == "tool_calls"
    plain = httpx.post(url, json={**body, "tools": None, "tool_choice": None,
                                  "messages": [{"role": "user", "content": "hi"}]}, headers=auth).json()
    assert plain["choices"][0]["message"]["tool_calls"] is None and "system_fingerprint" not in plain
    frames = httpx.post(url, json={"model": "mistral-small-latest", "stream": True,
                                   "messages": [{"role": "user", "content": "a b"}]}, headers=auth).text.split("\n\n")
    chunks = [json.loads(f.removeprefix("data: ")) for f in frames if f.startswith("data: {")]
    assert chunks[-1]["usage"]["completion_tokens"] == 3 and chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all("usage" not in c for c in chunks[:-1]) and frames[-2] == "data: [DONE]"
    refused = httpx.post(url, json={**body, "stream_options": {"include_usage": True}}, headers=auth)
    assert refused.status_code == 400 and refused.json()["object"] == "error"
    assert "stream_options" in refused.json()["message"]
    denied = httpx.post(url, json=body, headers={"Authorization": "Bearer wrong"})
    assert denied.status_code == 401 and denied.json()["type"] == "invalid_request_error"
    models = httpx.get(f"{mock.url}/mistral/v1/models", headers=auth).json()
    assert [m["id"] for m in models["data"]] == list(catalogue.provider("mistral").models)


def test_mistral_and_self_hosted_embeddings(mock: MockServer) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    url = f"{mock.url}/mistral/v1/embeddings"
    doc = httpx.post(url, json={"model": "mistral-embed", "input": ["a b", "c"]}, headers=auth).json()
    assert [len(d["embedding"]) for d in doc["data"]] == [1024, 1024] and doc["data"][0] != doc["data"][1]
    assert doc["usage"] == {"prompt_tokens": 3, "total_tokens": 3, "completion_tokens": 0}
    short = httpx.post(url, json={"model": "codestral-embed", "input": "x", "output_dimension": 256}, headers=auth)
    assert len(short.json()["data"][0]["embedding"]) == 256
    for bad in ({"model": "mistral-embed", "input": "x", "output_dimension": 256},
                {"model": "mistral-embed", "input": "x", "dimensions": 256},
                {"model": "text-embedding-3-small", "input": "x"}):
        refused = httpx.post(url, json=bad, headers=auth)
        assert refused.status_code == 400 and refused.json()["object"] == "error", bad
    assert httpx.post(url, json={"model": "mistral-embed", "input": "x"}).status_code == 401
    hosted = f"{mock.url}/local-llama/v1/embeddings"
    model = catalogue.provider("local-llama").embedding_models[0]
    vec = httpx.post(hosted, json={"model": model, "input": "x"}, headers=auth).json()["data"][0]["embedding"]
    assert len(vec) == 768
    assert httpx.post(hosted, json={"model": model, "input": "x", "dimensions": 8}, headers=auth).status_code == 400
    assert httpx.post(hosted, json={"model": "mistral-embed", "input": "x"}, headers=auth).status_code == 400
