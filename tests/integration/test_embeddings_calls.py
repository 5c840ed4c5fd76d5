"""`POST /{provider}/v1/embeddings` through nginx: what each provider is asked, call by call.

Cohere's `input_type` and `truncate`, the calls a large request is split into (Cohere: 96 texts; Mistral: 16,384
tokens), the tokens billed before a failed call, the encoding asked of a self-hosted server, and the bounds a
long `input` breaks, named.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import httpx
import openai
import pytest
from langchain_openai import OpenAIEmbeddings
from pydantic import SecretStr

import catalogue
from tests.integration.embeddings_client import MODELS, embeddings_sdk, post_embeddings
from tests.integration.sdk_narrowing import error_body
from tests.support.stack import RunningStack

pytestmark = pytest.mark.integration


@pytest.fixture(params=tuple(MODELS))
def provider(request: pytest.FixtureRequest) -> str:
    """The providers that have embeddings."""
    return request.param




def _mock(stack: RunningStack, provider: str) -> dict[str, Any]:
    return httpx.get(f"{stack.mock_url}/_mock/stats", timeout=10).json()[provider]


@pytest.mark.local_stack  # reads the mock's record of the last call: no other client may send in between
def test_cohere_is_told_what_the_texts_are_for(stack: RunningStack, provider: str, http: httpx.Client) -> None:
    sdk = embeddings_sdk(stack, provider, http)
    if provider != "cohere":  # Cohere's parameter: a 400 naming it, never dropped
        with pytest.raises(openai.BadRequestError) as refused:
            sdk.embeddings.create(model=MODELS[provider], input="q", extra_body={"input_type": "search_query"})
        error = error_body(refused.value)
        assert (error["param"], error["code"]) == ("input_type", "unsupported_parameter"), error
        return
    sdk.embeddings.create(model=MODELS[provider], input="documents by default")
    assert _mock(stack, provider)["last_embedding_params"]["input_type"] == "search_document"
    for kind in ("search_query", "classification", "clustering", "search_document"):
        sdk.embeddings.create(model=MODELS[provider], input="a text", extra_body={"input_type": kind})
        assert _mock(stack, provider)["last_embedding_params"]["input_type"] == kind
    bad = post_embeddings(http, stack, provider, {"input": "x", "input_type": "query"})
    assert bad.status_code == 422 and bad.json()["error"]["param"] == "input_type", bad.text
    # LangChain's client says it through the openai SDK's extra_body.
    with httpx.Client(verify=str(stack.ca)) as client:
        queries = OpenAIEmbeddings(base_url=f"{stack.url}/{provider}/v1", api_key=SecretStr(stack.keys[provider]),
                                   model=MODELS[provider], http_client=client, max_retries=0,
                                   check_embedding_ctx_length=False,
                                   model_kwargs={"extra_body": {"input_type": "search_query"}})
        assert len(queries.embed_query("where is it")) == 1536
    assert _mock(stack, provider)["last_embedding_params"]["input_type"] == "search_query"


@pytest.mark.local_stack  # reads the mock's record of the last call: no other client may send in between
def test_a_text_past_the_models_context_is_refused_not_cut(stack: RunningStack, http: httpx.Client) -> None:
    # embed-english-v3.0 reads 512 tokens (the mock's words); Cohere's default `truncate` would cut the rest.
    long = " ".join(["word"] * 600)
    resp = post_embeddings(http, stack, "cohere", {"model": "embed-english-v3.0", "input": ["short", long]})
    assert resp.status_code == 400, resp.text
    assert "texts[1]" in resp.json()["error"]["message"] and "512" in resp.json()["error"]["message"]
    assert _mock(stack, "cohere")["last_embedding_params"]["truncate"] == "NONE"
    fits = post_embeddings(http, stack, "cohere", {"model": "embed-v4.0", "input": long})  # 128,000 tokens of context
    assert fits.status_code == 200 and fits.json()["usage"]["prompt_tokens"] == 600


@pytest.mark.local_stack  # reads the mock's record of the last call: no other client may send in between
@pytest.mark.parametrize(("provider", "texts", "calls"), [
    ("cohere", [f"text {i}" for i in range(200)], 3),  # 96 texts a call
    ("mistral", [" ".join([f"w{i}"] * 100) for i in range(200)], 6),  # 20,000 tokens (88,800 bytes), not 16,384
])
def test_a_request_is_split_into_the_calls_the_provider_takes(stack: RunningStack, http: httpx.Client,
                                                              provider: str, texts: list[str], calls: int) -> None:
    before = _mock(stack, provider)["requests"]
    whole = post_embeddings(http, stack, provider, {"input": texts})
    assert whole.status_code == 200, whole.text
    assert _mock(stack, provider)["requests"] - before == calls
    doc = whole.json()
    assert [d["index"] for d in doc["data"]] == list(range(len(texts)))
    assert doc["usage"]["prompt_tokens"] == sum(len(t.split()) for t in texts)
    for i in (0, len(texts) // 2, len(texts) - 1):  # each vector is its own text's, in order
        alone = post_embeddings(http, stack, provider, {"input": texts[i]}).json()["data"][0]["embedding"]
        assert all(math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-7)
                   for x, y in zip(doc["data"][i]["embedding"], alone, strict=True))


@pytest.mark.local_stack
def test_the_tokens_billed_before_a_failed_call_stay_counted(stack: RunningStack, http: httpx.Client) -> None:
    texts = ["one two"] * 150
    texts[120] = "three [[mock:fault=429]]"  # in the second call: the first (96 texts, 192 tokens) was billed
    resp = post_embeddings(http, stack, "cohere", {"input": texts})
    assert resp.status_code == 429, resp.text
    time.sleep(0.2)  # the record is written as the answer goes out
    records = map(json.loads, (stack.state_dir / "audit" / "cohere.log").read_text().splitlines())
    rec = next(r for r in records if r["request_id"] == resp.headers["x-request-id"])
    assert (rec["status"], rec["prompt_tokens"], rec["completion_tokens"]) == (429, 192, 0), rec


OPENAI_WIRE = [p for p in MODELS if catalogue.provider(p).kind in ("openai", "openai-compatible")]


@pytest.mark.local_stack  # reads the mock's record of the last call: no other client may send in between
@pytest.mark.parametrize("provider", OPENAI_WIRE)
def test_a_self_hosted_server_is_asked_for_floats(stack: RunningStack, provider: str, http: httpx.Client) -> None:
    sdk = embeddings_sdk(stack, provider, http)
    decoded = sdk.embeddings.create(model=MODELS[provider], input="hello")  # the SDK asks for base64
    asked = _mock(stack, provider)["last_embedding_params"]["encoding_format"]
    # OpenAI answers base64 (compact); a self-hosted server may have only OpenAI's default.
    assert asked == ("base64" if catalogue.provider(provider).kind == "openai" else "float")
    floats = sdk.embeddings.create(model=MODELS[provider], input="hello", encoding_format="float")
    assert all(math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-7)
               for x, y in zip(decoded.data[0].embedding, floats.data[0].embedding, strict=True))


@pytest.mark.parametrize(("body", "said"), [
    ({"input": ["x"] * 2049}, "at most 2048 inputs per request, got 2049"),
    ({"input": [[1]] * 2049}, "at most 2048 inputs per request, got 2049"),
    ({"input": [1] * 8193}, "one input of token ids has at most 8192 ids, got 8193"),
])
def test_a_long_input_is_told_the_bound_it_breaks(stack: RunningStack, http: httpx.Client, body: dict,
                                                  said: str) -> None:
    resp = post_embeddings(http, stack, "openai", body)
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["param"] == "input" and said in error["message"], error
