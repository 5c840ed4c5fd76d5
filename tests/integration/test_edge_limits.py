"""Rate limits, CORS and streaming at the edge, on a stack started with its own nginx settings.

Each concern uses its own provider so the limit buckets of one test never drain another's:
anthropic's demo key gets a tight per-client limit (the gateway's, set with vaultctl), cohere a tight
per-IP limit at the edge, openai the defaults plus a CORS allowlist; the mock pauses between stream
chunks so streaming can be timed.
"""

from __future__ import annotations

import secrets
import ssl
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import anthropic
import httpx
import httpx2
import openai
import pytest

from tests.support.client_keys import create_client_key
from tests.support.stack import RunningStack, local_stack

pytestmark = [pytest.mark.integration, pytest.mark.local_stack]

ORIGIN = "https://app.example.com"
CHUNK_DELAY_MS = 60
NGINX_ENV = {
    "NGINX_CORS_ORIGINS": f"{ORIGIN}, http://localhost:3000",
    "NGINX_CORS_ALLOW_CREDENTIALS": "true",
    "NGINX_COHERE_RATE_IP": "5r/s", "NGINX_COHERE_BURST_IP": "5",
}


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with local_stack(Path(tmp_path_factory.mktemp("edge-tuned")), nginx_env=NGINX_ENV,
                     gateway_env={"GATEWAY_VAULT_REFRESH_S": "1"},
                     mock_env={"MOCK_CHUNK_DELAY_MS": str(CHUNK_DELAY_MS)}) as running:
        yield running


@pytest.fixture(scope="module")
def client(tuned: RunningStack) -> Iterator[httpx.Client]:
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
    with httpx.Client(base_url=tuned.url, verify=str(tuned.ca), timeout=30, limits=limits) as c:
        yield c


def _gateway_requests(stack: RunningStack, provider: str) -> float:
    """Requests the gateway handled, its own /metrics scrapes aside."""
    text = httpx.get(f"{stack.gateway_urls[provider]}/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("llm_gateway_requests_total{") and 'route="metrics"' not in line)


def _burst(client: httpx.Client, n: int, path: str, headers: list[dict[str, str]]) -> list[httpx.Response]:
    """Send n requests at once (one thread each) and return them in completion-independent order."""
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda h: client.get(path, headers=h), headers[:n]))


def test_client_limit_is_the_gateways_429_through_the_edge(client: httpx.Client, tuned: RunningStack) -> None:
    result = subprocess.run([sys.executable, "-m", "vaultctl", "client-key", "update", "--name", "demo-anthropic",
                             "--rpm", "3", "--addr", str(tuned.vault_addr),
                             "--token-file", str(tuned.state_dir / "vault" / "root-token")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    time.sleep(2.5)  # the gateway re-reads the client registry every second here
    if time.time() % 60 > 55:  # a fixed minute window: keep the burst inside one
        time.sleep(60 - time.time() % 60 + 0.2)
    key = {"x-api-key": tuned.keys["anthropic"]}
    body = {"model": tuned.model("anthropic"), "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
    with ThreadPoolExecutor(10) as pool:
        replies = list(pool.map(lambda _: client.post("/anthropic/v1/chat/completions", json=body, headers=key),
                                range(10)))
    statuses = Counter(r.status_code for r in replies)
    print(f"\nper-client --rpm 3: 10 concurrent requests -> {dict(statuses)}")
    assert statuses == {200: 3, 429: 7}
    limited = next(r for r in replies if r.status_code == 429)
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    # the same wait to the millisecond, which the SDKs read first (Retry-After rounds it up)
    assert int(limited.headers["retry-after"]) - 1 < int(limited.headers["retry-after-ms"]) / 1000 <= int(
        limited.headers["retry-after"])
    assert limited.headers["strict-transport-security"] and limited.headers["x-request-id"]
    # the limit's state, as an answered request reports it (OpenAI's 429s carry these too)
    assert (limited.headers["x-ratelimit-limit-requests"], limited.headers["x-ratelimit-remaining-requests"]) == (
        "3", "0")
    assert "x-should-retry" not in limited.headers  # the next minute admits it: the SDKs' own rules retry it
    assert limited.headers["x-ratelimit-reset-requests"] == f"{limited.headers['retry-after']}s"
    # The other credential style is the same client: the same count.
    bearer = {"Authorization": f"Bearer {key['x-api-key']}"}
    assert client.post("/anthropic/v1/chat/completions", json=body, headers=bearer).status_code == 429
    # The Messages route of the same client draws on the same count, refused in Anthropic's shape.
    msg = client.post("/anthropic/v1/messages", headers={**key, "anthropic-version": "2023-06-01"},
                      json={"model": tuned.model("anthropic"), "max_tokens": 8,
                            "messages": [{"role": "user", "content": "hi"}]})
    assert msg.status_code == 429 and msg.json()["error"]["type"] == "rate_limit_error", msg.text
    assert 1 <= int(msg.headers["retry-after"]) <= 60 and 0 < int(msg.headers["retry-after-ms"]) <= 60_000
    assert msg.headers["anthropic-ratelimit-requests-remaining"] == "0" == msg.headers["x-ratelimit-remaining-requests"]
    assert datetime.fromisoformat(msg.headers["anthropic-ratelimit-requests-reset"]).second == 0
    # The edge keeps no per-credential zone: unlimited routes of the same key still pass.
    assert {r.status_code for r in _burst(client, 10, "/anthropic/v1/models", [key] * 10)} == {200}
    # The other providers' limits are their own: the default openai limits let the same burst through.
    assert {r.status_code for r in _burst(client, 10, "/openai/v1/models",
                                          [{"x-api-key": tuned.keys["openai"]}] * 10)} == {200}


def test_embeddings_draw_on_the_clients_token_budget(client: httpx.Client, tuned: RunningStack) -> None:
    key = {"x-api-key": create_client_key(tuned, "budgeted", ["openai"], "--daily-tokens", "60",
                                        "--rpm", "1000")}
    body = {"model": "text-embedding-3-small", "input": ["alpha beta gamma", "delta epsilon"]}
    used, replies = 0, []
    for _ in range(30):  # bounded: a 60-token budget is gone long before
        reply = client.post("/openai/v1/embeddings", json=body, headers=key)
        replies.append(reply)
        if reply.status_code != 200:
            break
        assert reply.headers["x-ratelimit-limit-requests"] == "1000"
        used += reply.json()["usage"]["total_tokens"]
    print(f"\nembeddings under --daily-tokens 60: {len(replies) - 1} answered ({used} tokens), then "
          f"{replies[-1].status_code}")
    assert len(replies) >= 3 and 0 < used <= 60
    assert replies[-1].status_code == 429 and replies[-1].json()["error"]["code"] == "insufficient_quota"
    assert replies[-1].headers["x-ratelimit-limit-requests"] == "1000"  # a budget's 429 reports the rate limits too
    # Chat of the same client is refused too: one budget per client, whatever the route.
    chat = client.post("/openai/v1/chat/completions", headers=key,
                       json={"model": tuned.model("openai"), "messages": [{"role": "user", "content": "hi"}]})
    assert chat.status_code == 429 and chat.json()["error"]["code"] == "insufficient_quota"
    # A spent budget says no retry can pass it soon: the SDK, told to retry twice, sends the request once.
    assert chat.headers["x-should-retry"] == "false"
    sent: list[str] = []
    http = httpx2.Client(verify=ssl.create_default_context(cafile=str(tuned.ca)), timeout=60,
                         event_hooks={"request": [lambda request: sent.append(request.url.path)]})
    with openai.OpenAI(base_url=f"{tuned.url}/openai/v1", api_key=key["x-api-key"], http_client=http,
                       max_retries=2) as sdk, pytest.raises(openai.RateLimitError) as spent:
        sdk.embeddings.create(model="text-embedding-3-small", input=body["input"])  # the request refused above
    assert sent == ["/openai/v1/embeddings"] and spent.value.code == "insufficient_quota"


def test_the_messages_route_gives_anthropics_rate_limit_headers(tuned: RunningStack) -> None:
    key = create_client_key(tuned, "messages-headers", ["anthropic"], "--rpm", "100", "--tpm", "100000")
    if time.time() % 60 > 55:  # a fixed minute window: keep both requests inside one
        time.sleep(60 - time.time() % 60 + 0.2)
    http = httpx2.Client(verify=ssl.create_default_context(cafile=str(tuned.ca)), timeout=60)
    sdk = anthropic.Anthropic(base_url=f"{tuned.url}/anthropic", api_key=key, http_client=http,
                              max_retries=0)
    ask: list[anthropic.types.MessageParam] = [{"role": "user", "content": "hi"}]
    with sdk:
        plain = sdk.messages.with_raw_response.create(model=tuned.model("anthropic"), max_tokens=8, messages=ask)
        with sdk.messages.with_streaming_response.create(model=tuned.model("anthropic"), max_tokens=8, messages=ask,
                                                         stream=True) as streamed:
            assert streamed.headers["content-type"].startswith("text/event-stream")
            streamed.read()
    for n, reply in enumerate((plain, streamed), start=1):
        h = reply.headers
        assert (h["anthropic-ratelimit-requests-limit"], h["anthropic-ratelimit-tokens-limit"]) == ("100", "100000")
        assert h["anthropic-ratelimit-requests-remaining"] == str(100 - n) == h["x-ratelimit-remaining-requests"]
        assert int(h["anthropic-ratelimit-tokens-remaining"]) == int(h["x-ratelimit-remaining-tokens"]) < 100000
        for kind in ("requests", "tokens"):  # the instant the minute window starts over, in RFC 3339
            reset = datetime.fromisoformat(h[f"anthropic-ratelimit-{kind}-reset"])
            assert reset.second == 0 and 0 < reset.timestamp() - time.time() <= 60.5, reset


def test_random_fake_keys_are_still_limited_per_ip(client: httpx.Client, tuned: RunningStack) -> None:
    fakes = [{"x-api-key": f"lgw_{secrets.token_hex(6)}_{secrets.token_urlsafe(24)}"} for _ in range(30)]
    replies = _burst(client, 30, "/cohere/v1/models", fakes)
    statuses = Counter(r.status_code for r in replies)
    print(f"per-IP 5r/s burst 5: 30 concurrent random keys -> {dict(statuses)}")
    assert statuses[429] >= 20 and statuses[401] <= 10 and statuses[401] + statuses[429] == 30
    # The limited ones never cost a verify call at the gateway.
    text = httpx.get(f"{tuned.gateway_urls['cohere']}/metrics", timeout=10).text
    refused = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                  if line.startswith("llm_gateway_auth_failures_total{"))
    assert refused == statuses[401]
    time.sleep(1.3)
    assert client.get("/cohere/v1/models", headers={"x-api-key": tuned.keys["cohere"]}).status_code == 200


def test_cors_allowed_origin_gets_exact_origin_and_credentials(client: httpx.Client, tuned: RunningStack) -> None:
    response = client.get("/openai/v1/models", headers={"Origin": ORIGIN, "x-api-key": tuned.keys["openai"]})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert {"X-Request-ID", "request-id"} <= set(response.headers["access-control-expose-headers"].split(", "))
    assert response.headers["vary"] == "Origin"
    # Errors carry CORS too, so a browser can read them.
    denied = client.get("/openai/v1/models", headers={"Origin": ORIGIN})
    assert denied.status_code == 401 and denied.headers["access-control-allow-origin"] == ORIGIN


@pytest.mark.parametrize("origin", ["https://evil.example.com", "https://app.example.com.evil.net", "null",
                                    "http://app.example.com", "https://app.example.com:8443"])
def test_cors_denied_origin_gets_no_cors_headers(client: httpx.Client, tuned: RunningStack, origin: str) -> None:
    for response in (client.get("/openai/v1/models", headers={"Origin": origin, "x-api-key": tuned.keys["openai"]}),
                     client.options("/openai/v1/chat/completions",
                                    headers={"Origin": origin, "Access-Control-Request-Method": "POST"})):
        assert not [h for h in response.headers if h.startswith("access-control-")], response.headers
        assert response.headers["vary"] == "Origin"


# What the official JavaScript SDKs send from a browser beyond the CORS-safelisted headers (openai-node's and
# anthropic-sdk-typescript's platform headers, and the header of their `.stream()` helpers): a preflight that
# leaves one out makes the browser refuse the request.
BROWSER_SDK_HEADERS = (
    "authorization, content-type, x-stainless-arch, x-stainless-lang, x-stainless-os, x-stainless-package-version, "
    "x-stainless-retry-count, x-stainless-runtime, x-stainless-runtime-version, x-stainless-timeout, "
    "x-stainless-helper-method")
ANTHROPIC_BROWSER_HEADERS = "x-api-key, anthropic-version, anthropic-beta, anthropic-dangerous-direct-browser-access"


def test_preflight_is_answered_at_the_edge(client: httpx.Client, tuned: RunningStack) -> None:
    before = _gateway_requests(tuned, "openai")
    response = client.options("/openai/v1/chat/completions", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": BROWSER_SDK_HEADERS})
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    # every header the openai and anthropic browser SDKs send (the latter with dangerouslyAllowBrowser)
    wanted = {h.strip() for h in f"{BROWSER_SDK_HEADERS}, {ANTHROPIC_BROWSER_HEADERS}".split(",")}
    assert wanted <= allowed, wanted - allowed
    assert response.headers["access-control-max-age"] == "600"
    assert "*" not in "".join(v for k, v in response.headers.items() if k.startswith("access-control-"))
    # No credentials were needed, and the gateway saw nothing.
    assert _gateway_requests(tuned, "openai") == before


def test_stream_arrives_incrementally_through_the_edge(client: httpx.Client, tuned: RunningStack) -> None:
    words = 12
    body = {"model": tuned.model("openai"), "stream": True,
            "messages": [{"role": "user", "content": " ".join(f"w{i}" for i in range(words))}]}
    start = time.perf_counter()
    arrivals: list[float] = []
    with client.stream("POST", "/openai/v1/chat/completions", json=body,
                       headers={"x-api-key": tuned.keys["openai"]}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in response.headers
        for line in response.iter_lines():
            if line.startswith("data: "):
                arrivals.append(time.perf_counter() - start)
    total = time.perf_counter() - start
    first = arrivals[0]
    print(f"SSE via nginx, mock {CHUNK_DELAY_MS} ms/chunk: first chunk {first * 1000:.0f} ms, "
          f"total {total * 1000:.0f} ms, {len(arrivals)} chunks")
    assert len(arrivals) >= words
    # Unbuffered: the first chunk comes long before the end, and the chunks are spread over time.
    assert total - first > (words - 2) * CHUNK_DELAY_MS / 1000 * 0.8
    assert first < total / 3
