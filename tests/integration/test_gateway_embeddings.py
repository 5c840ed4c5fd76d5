"""`POST /{provider}/v1/embeddings` through nginx: the official `openai` SDK, LangChain, bad input, usage."""

from __future__ import annotations

import base64
import json
import math
import struct
import time

import httpx
import openai
import pytest
from langchain_openai import OpenAIEmbeddings
from pydantic import SecretStr

import catalogue
from tests.integration.embeddings_client import MODELS
from tests.integration.embeddings_client import embeddings_sdk as _sdk
from tests.integration.embeddings_client import post_embeddings as _post
from tests.integration.sdk_narrowing import error_body
from tests.support.stack import RunningStack

pytestmark = pytest.mark.integration
# The size the mock answers for each provider's default embeddings model.
DIMS = {"openai": 1536, "cohere": 1536, "mistral": 1024, "local-llama": 768}


@pytest.fixture(params=tuple(MODELS))
def provider(request: pytest.FixtureRequest) -> str:
    """The providers that have embeddings."""
    return request.param




def test_sdk_float_and_base64_agree(stack: RunningStack, provider: str, http: httpx.Client) -> None:
    sdk = _sdk(stack, provider, http)
    texts = ["the quick brown fox", "jumps over", "the quick brown fox"]
    floats = sdk.embeddings.create(model=MODELS[provider], input=texts, encoding_format="float")
    # Without encoding_format the SDK asks for base64 and decodes it itself.
    decoded = sdk.embeddings.create(model=MODELS[provider], input=texts)
    assert floats.object == "list" and floats.model == MODELS[provider]
    assert [d.index for d in floats.data] == [0, 1, 2]
    vectors = [d.embedding for d in floats.data]
    assert all(len(v) == DIMS[provider] for v in vectors)
    assert vectors[0] == vectors[2] and vectors[0] != vectors[1]  # deterministic per text
    assert math.isclose(sum(x * x for x in vectors[0]), 1.0, rel_tol=1e-6)
    for a, b in zip(vectors, (d.embedding for d in decoded.data), strict=True):
        assert all(math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-7) for x, y in zip(a, b, strict=True))
    assert floats.usage.prompt_tokens == 4 + 2 + 4 and floats.usage.total_tokens == 10


def test_raw_base64_is_little_endian_float32(stack: RunningStack, provider: str, http: httpx.Client) -> None:
    resp = _post(http, stack, provider, {"model": MODELS[provider], "input": "one", "encoding_format": "base64"})
    assert resp.status_code == 200, resp.text
    encoded = resp.json()["data"][0]["embedding"]
    assert isinstance(encoded, str)
    raw = base64.b64decode(encoded)
    assert len(raw) == 4 * DIMS[provider]
    first = struct.unpack_from("<f", raw)[0]
    plain = _post(http, stack, provider, {"model": MODELS[provider], "input": "one"}).json()
    assert math.isclose(first, plain["data"][0]["embedding"][0], rel_tol=1e-6, abs_tol=1e-7)


def test_dimensions(stack: RunningStack, provider: str, http: httpx.Client) -> None:
    resp = _post(http, stack, provider, {"model": MODELS[provider], "input": "short vector", "dimensions": 256})
    if provider == "openai":
        assert resp.status_code == 200, resp.text
        assert len(resp.json()["data"][0]["embedding"]) == 256
        large = _post(http, stack, provider, {"model": "text-embedding-3-large", "input": "x", "dimensions": 2000})
        assert large.status_code == 200 and len(large.json()["data"][0]["embedding"]) == 2000
        for model, dims in (("text-embedding-3-small", 2000), ("text-embedding-ada-002", 256)):
            refused = _post(http, stack, provider, {"model": model, "input": "x", "dimensions": dims})
            assert refused.status_code == 400 and refused.json()["error"]["param"] == "dimensions"
    else:  # the default model has one size (and a self-hosted server's size is its model's)
        assert resp.status_code == 400
        assert resp.json()["error"]["param"] == "dimensions"
    if provider == "mistral":  # codestral-embed answers `output_dimension`, up to 3072
        short = _post(http, stack, provider, {"model": "codestral-embed", "input": "x", "dimensions": 256})
        assert short.status_code == 200 and len(short.json()["data"][0]["embedding"]) == 256, short.text
        native = _post(http, stack, provider, {"model": "codestral-embed", "input": "x"})
        assert native.status_code == 200 and len(native.json()["data"][0]["embedding"]) == 1536
        refused = _post(http, stack, provider, {"model": "codestral-embed", "input": "x", "dimensions": 4096})
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "dimensions"


def test_token_ids_reach_openai_and_are_refused_by_name_elsewhere(stack: RunningStack, provider: str,
                                                                  http: httpx.Client) -> None:
    # OpenAI's token-id input: what LangChain's OpenAIEmbeddings sends by default (tiktoken's ids).
    sdk = _sdk(stack, provider, http)
    for ids, vectors in (([[15339, 1917], [9906]], 2), ([15339, 1917, 9906], 1)):
        if catalogue.provider(provider).kind == "openai":
            resp = sdk.embeddings.create(model=MODELS[provider], input=ids, encoding_format="float")
            assert len(resp.data) == vectors and all(len(d.embedding) == DIMS[provider] for d in resp.data)
            assert resp.usage.prompt_tokens == 3  # one token per id, as reported upstream
        else:  # ids of OpenAI's tokenizer mean nothing to this provider's model: refused, never sent as text
            with pytest.raises(openai.BadRequestError) as refused:
                sdk.embeddings.create(model=MODELS[provider], input=ids)
            error = error_body(refused.value)
            assert (error["param"], error["code"]) == ("input", "unsupported_parameter")
            assert "check_embedding_ctx_length=False" in error["message"]


@pytest.mark.local_stack  # reads the mock's last request: no other client may send in between
def test_the_end_user_id_reaches_openai_and_is_refused_by_name_elsewhere(stack: RunningStack, provider: str,
                                                                          http: httpx.Client) -> None:
    sdk = _sdk(stack, provider, http)
    if catalogue.provider(provider).kind in ("openai", "openai-compatible"):
        sdk.embeddings.create(model=MODELS[provider], input="hello", user="user-123")
        sent = http.get(f"{stack.mock_url}/_mock/stats").json()[provider]["last_embedding_params"]
        assert sent["user"] == "user-123", sent
    else:  # the provider has no such field: a 400 naming it, never dropped
        with pytest.raises(openai.BadRequestError) as refused:
            sdk.embeddings.create(model=MODELS[provider], input="hello", user="user-123")
        error = error_body(refused.value)
        assert (error["param"], error["code"]) == ("user", "unsupported_parameter")


def test_langchain_openai_embeddings(stack: RunningStack, provider: str) -> None:
    with httpx.Client(verify=str(stack.ca)) as client:
        emb = OpenAIEmbeddings(base_url=f"{stack.url}/{provider}/v1", api_key=SecretStr(stack.keys[provider]),
                               model=MODELS[provider], http_client=client, max_retries=0,
                               check_embedding_ctx_length=False)
        docs = emb.embed_documents(["alpha beta", "gamma"])
        query = emb.embed_query("alpha beta")
    assert len(docs) == 2 and all(len(v) == DIMS[provider] for v in docs)
    assert all(math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-7) for x, y in zip(docs[0], query, strict=True))


@pytest.mark.parametrize(("body", "status", "param"), [
    ({"input": ""}, 422, "input"),
    ({"input": []}, 422, "input"),
    ({"input": ["ok", ""]}, 422, "input"),
    ({"input": ["x"] * 10_000}, 422, "input"),
    ({"input": 42}, 422, "input"),
    ({"input": [[1, 2, 3], []]}, 422, "input"),  # token ids: an empty array
    ({"input": [-1]}, 422, "input"),
    ({"input": [1, "two"]}, 422, "input"),
    ({"input": "x", "encoding_format": "int8"}, 422, "encoding_format"),
    ({"input": "x", "dimensions": 0}, 422, "dimensions"),
    ({"input": "x", "temperature": 1}, 400, "temperature"),  # unsupported parameter, as on chat
    ({"input": "x", "model": "no-such-embedder"}, 404, "model"),
    ({"input": "x", "model": "gpt-4o-mini"}, 404, "model"),
])
def test_bad_input_is_a_clear_4xx(stack: RunningStack, provider: str, http: httpx.Client, body: dict,
                                  status: int, param: str) -> None:
    resp = _post(http, stack, provider, {"model": MODELS[provider], **body})
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert err["param"] == param or err["param"].startswith(f"{param}."), err
    assert param in err["message"]


def test_oversized_body_is_413(stack: RunningStack, provider: str, http: httpx.Client) -> None:
    resp = _post(http, stack, provider, {"model": MODELS[provider], "input": ["y" * 90_000] * 20})
    assert resp.status_code == 413
    assert resp.json()["error"]["type"] == "invalid_request_error"


def test_not_json_and_no_credentials(stack: RunningStack, provider: str, http: httpx.Client) -> None:
    url = f"{stack.url}/{provider}/v1/embeddings"
    resp = http.post(url, content=b"{", headers={"Authorization": f"Bearer {stack.keys[provider]}",
                                                 "Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_json"
    assert http.post(url, json={"input": "x"}).status_code == 401
    assert http.get(url, headers={"Authorization": f"Bearer {stack.keys[provider]}"}).status_code == 405


def test_provider_without_embeddings_is_404(stack: RunningStack, http: httpx.Client) -> None:
    resp = _post(http, stack, "anthropic", {"model": "text-embedding-3-small", "input": "x"})
    assert resp.status_code == 404
    err = resp.json()["error"]
    assert err["code"] == "embeddings_not_supported" and "anthropic" in err["message"]
    assert http.post(f"{stack.url}/anthropic/v1/embeddings", json={"input": "x"}).status_code == 401


def test_upstream_429_keeps_retry_after(stack: RunningStack, provider: str, http: httpx.Client) -> None:
    resp = _post(http, stack, provider, {"model": MODELS[provider], "input": ["x", "y [[mock:fault=429]]"]})
    assert resp.status_code == 429 and resp.headers["retry-after"] == "1"
    assert resp.json()["error"]["type"] == "rate_limit_error"


@pytest.mark.local_stack  # counts the mock's faults: no other client may provoke one in between
def test_a_spent_upstream_account_is_asked_once(stack: RunningStack, provider: str, http: httpx.Client) -> None:
    # The provider's account out of credit is not a rate limit: the operator's to fix, not to retry.
    faults = httpx.get(f"{stack.mock_url}/_mock/stats", timeout=10).json()[provider]["faults"]
    spent = _post(http, stack, provider, {"model": MODELS[provider], "input": ["x [[mock:fault=quota]]"]})
    assert spent.status_code == 502 and spent.json()["error"]["code"] == "upstream_quota_exhausted"
    assert httpx.get(f"{stack.mock_url}/_mock/stats", timeout=10).json()[provider]["faults"] == faults + 1  # asked once
    assert spent.headers["x-should-retry"] == "false" and "retry-after" not in spent.headers


@pytest.mark.local_stack
def test_usage_is_audited_and_counted(stack: RunningStack, provider: str, http: httpx.Client) -> None:
    resp = _post(http, stack, provider, {"model": MODELS[provider], "input": ["audit me please", "and me"]})
    assert resp.status_code == 200
    request_id = resp.headers["x-request-id"]
    time.sleep(0.2)  # the record is written when the last body chunk is sent
    text = (stack.state_dir / "audit" / f"{provider}.log").read_text()
    assert "audit me" not in text
    rec = next(r for r in map(json.loads, text.splitlines()) if r["request_id"] == request_id)
    assert rec["route"] == "embeddings" and rec["model"] == MODELS[provider] and rec["status"] == 200
    assert rec["prompt_tokens"] == 5 and rec["completion_tokens"] == 0
    metrics = httpx.get(f"{stack.gateway_urls[provider]}/metrics").text.splitlines()
    assert any(line.startswith("llm_gateway_requests_total{") and 'route="embeddings"' in line
               and 'status="200"' in line for line in metrics), [m for m in metrics if "requests_total" in m]
    tokens = f'llm_gateway_tokens_total{{model="{MODELS[provider]}",provider="{provider}",type="prompt"}}'
    assert any(line.startswith(tokens) for line in metrics), [m for m in metrics if "tokens_total" in m]
