"""The edge in front of the real stack: routing, redirect, TLS versions, auth at the edge, errors, headers."""

from __future__ import annotations

import json
import re
import socket
import ssl
import time
from collections import Counter
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import cohere
import h2.connection
import h2.events
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

import catalogue
from tests.support.stack import RunningStack

pytestmark = pytest.mark.integration

PROVIDERS = catalogue.names()
SECURITY_HEADERS = {
    "strict-transport-security": "max-age=63072000",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
}


@pytest.fixture(scope="module")
def client(stack: RunningStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url, verify=str(stack.ca), timeout=30) as c:
        yield c


def _chat(provider: str, stack: RunningStack, text: str = "hello edge", **extra: object) -> dict:
    return {"model": stack.model(provider), "messages": [{"role": "user", "content": text}], **extra}


def _auth(stack: RunningStack, provider: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.keys[provider]}"}


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    """An OpenAI-style JSON error with the edge's security headers."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "code"}
    if code:
        assert error["code"] == code
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name
    return error


def gateway_requests(stack: RunningStack, provider: str) -> Counter[tuple[str, str]]:
    """llm_gateway_requests by (route, status), read straight from the gateway (not through the edge)."""
    text = httpx.get(f"{stack.gateway_urls[provider]}/metrics", timeout=10).text
    counts: Counter[tuple[str, str]] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "llm_gateway_requests_total" and sample.labels["route"] != "metrics":
                counts[(sample.labels["route"], sample.labels["status"])] += int(sample.value)
    return counts


def mock_untouched(stack: RunningStack, send: Callable[[], httpx.Response]) -> httpx.Response:
    """`send()` a request that must stop before the provider, and check the mock saw nothing; its response.

    Against the compose stack, other xdist workers share the mock, so a change during one try may be theirs:
    the request is sent again until one try leaves the mock's counters as they were (at most 10 s). A request
    that does reach the provider changes them on every try, so it can never pass.
    """
    if not stack.mock_url:
        return send()
    deadline = time.monotonic() + 10

    def stats() -> object:
        return httpx.get(f"{stack.mock_url}/_mock/stats", timeout=10).json()

    while True:
        before = stats()
        response = send()
        after = stats()
        if after == before:
            return response
        if time.monotonic() > deadline:
            pytest.fail(f"the mock's counters changed on every try for 10 s: {before} -> {after}")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_each_provider_is_routed_to_its_gateway(client: httpx.Client, stack: RunningStack, provider: str) -> None:
    reply = client.post(f"/{provider}/v1/chat/completions", json=_chat(provider, stack), headers=_auth(stack, provider))
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"]
    models = client.get(f"/{provider}/v1/models", headers={"x-api-key": stack.keys[provider]})
    assert stack.model(provider) in [m["id"] for m in models.json()["data"]]
    assert client.get(f"/{provider}/healthz").status_code == 200
    assert client.get(f"/{provider}/readyz").status_code == 200


@pytest.mark.parametrize("path", ["/gemini/v1/chat/completions", "/", "/openai", "/openai/metrics",
                                  "/anthropic/v1/auth/verify", "/cohere/docs", "/cohere/openapi.json",
                                  "/_auth/openai", "/_errors/404.json", "/openai/v1/responses"])
def test_unknown_and_internal_routes_are_404_json(client: httpx.Client, stack: RunningStack, path: str) -> None:
    error = assert_error(client.get(path, headers=_auth(stack, "openai")), 404, "not_found")
    # an SDK call the gateway does not serve (the Responses API, files, ...) says what it does serve
    assert "v1/chat/completions" in error["message"] and "Responses" in error["message"]


def test_cohere_sdks_native_calls_hear_where_cohere_is_served(stack: RunningStack) -> None:
    # cohere.ClientV2 speaks Cohere's own v2 API, which the gateway does not serve: its 404 says what is served.
    with httpx.Client(verify=ssl.create_default_context(cafile=str(stack.ca)), timeout=10) as http:
        co = cohere.ClientV2(api_key=stack.keys["cohere"], base_url=f"{stack.url}/cohere", httpx_client=http)
        with pytest.raises(cohere.NotFoundError) as chat:
            co.chat(model=stack.model("cohere"), messages=[cohere.UserChatMessageV2(content="hi")])
        with pytest.raises(cohere.NotFoundError) as embed:
            co.embed(model="embed-english-v3.0", texts=["hi"], input_type="search_query", embedding_types=["float"])
    for refused in (chat.value, embed.value):
        message = refused.body["error"]["message"]
        assert "Cohere's native v2/chat" in message and "v1/chat/completions" in message, refused.body


def test_nginx_answers_its_own_healthz(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert response.json() == {"status": "ok"}
    assert response.headers["strict-transport-security"] == "max-age=63072000"


def test_http_port_refuses_api_calls_without_redirecting(stack: RunningStack) -> None:
    if stack.stack is None:
        pytest.skip("the HTTP port of an external stack is not described by its env file")
    host, https_port = urlsplit(stack.url).hostname, urlsplit(stack.url).port
    http_port = stack.stack.config.http_port
    response = httpx.post(f"http://{host}:{http_port}/openai/v1/chat/completions?x=1", json={},
                          headers={"Authorization": f"Bearer {stack.keys['openai']}"}, follow_redirects=False)
    assert response.status_code == 403 and "location" not in response.headers
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == "https_required" and f"https://{host}:{https_port}" in error["message"]


@pytest.mark.parametrize(("version", "accepted"), [
    (ssl.TLSVersion.TLSv1, False), (ssl.TLSVersion.TLSv1_1, False),
    (ssl.TLSVersion.TLSv1_2, True), (ssl.TLSVersion.TLSv1_3, True)])
def test_only_tls_1_2_and_1_3_are_accepted(stack: RunningStack, version: ssl.TLSVersion, accepted: bool) -> None:
    ctx = ssl.create_default_context(cafile=str(stack.ca))
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client offer the legacy versions at all
    ctx.minimum_version = ctx.maximum_version = version
    url = urlsplit(stack.url)
    with socket.create_connection((url.hostname, url.port), timeout=5) as raw:
        if accepted:
            with ctx.wrap_socket(raw, server_hostname=url.hostname) as tls:
                assert tls.version() == version.name.replace("_", ".")
        else:
            with pytest.raises(ssl.SSLError) as refused:
                ctx.wrap_socket(raw, server_hostname=url.hostname)
            # The server's refusal, not this client failing to offer the version.
            assert "NO_PROTOCOLS_AVAILABLE" not in str(refused.value).upper(), refused.value


def test_security_headers_on_success_and_error(client: httpx.Client, stack: RunningStack) -> None:
    for response in (client.get("/openai/v1/models", headers=_auth(stack, "openai")), client.get("/nope")):
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (response.url, name)
        assert response.headers["server"] == "nginx"  # server_tokens off: no version
        assert "origin" in response.headers["vary"].lower()


def test_request_id_round_trip(client: httpx.Client, stack: RunningStack) -> None:
    sent = client.post("/openai/v1/chat/completions", json=_chat("openai", stack),
                       headers={**_auth(stack, "openai"), "X-Request-ID": "edge-test.42"})
    assert sent.headers.get_list("x-request-id") == ["edge-test.42"]
    assert sent.json()["id"] == "chatcmpl-edge-test.42"  # the gateway used the same id
    bad = client.get("/openai/v1/models", headers={**_auth(stack, "openai"), "X-Request-ID": "bad id\twith spaces"})
    assert re.fullmatch(r"[0-9a-f]{32}", bad.headers["x-request-id"])
    assert re.fullmatch(r"[0-9a-f]{32}", client.get("/nope").headers["x-request-id"])


def test_oversized_body_is_413_json(client: httpx.Client, stack: RunningStack) -> None:
    body = _chat("openai", stack, text="x" * (1024 * 1024 + 10))
    before = gateway_requests(stack, "openai") if stack.gateway_urls else None
    assert_error(client.post("/openai/v1/chat/completions", json=body, headers=_auth(stack, "openai")), 413,
                 "request_too_large")
    status, headers, payload = _h2_declared_too_large(stack, "/openai/v1/chat/completions")
    assert status == 413 and headers["content-type"].startswith("application/json")
    assert json.loads(payload)["error"]["code"] == "request_too_large"
    if before is not None:
        assert gateway_requests(stack, "openai") == before


def _h2_declared_too_large(stack: RunningStack, path: str) -> tuple[int, dict[str, str], bytes]:
    """HTTP/2 POST announcing 2 MB (httpx would block on flow control sending it): the edge's answer."""
    url = urlsplit(stack.url)
    ctx = ssl.create_default_context(cafile=str(stack.ca))
    ctx.set_alpn_protocols(["h2"])
    conn = h2.connection.H2Connection()
    with socket.create_connection((url.hostname, url.port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname=url.hostname) as sock:
        assert sock.selected_alpn_protocol() == "h2"
        conn.initiate_connection()
        conn.send_headers(1, [(":method", "POST"), (":path", path), (":scheme", "https"),
                              (":authority", url.netloc), ("content-type", "application/json"),
                              ("content-length", str(2 * 1024 * 1024)), *_auth(stack, "openai").items()])
        conn.send_data(1, b"{" + b" " * 1000)
        sock.sendall(conn.data_to_send())
        status, headers, payload = 0, {}, b""
        while True:
            data = sock.recv(65536)
            if not data:
                break
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    headers = {k.decode(): v.decode() for k, v in event.headers}
                    status = int(headers[":status"])
                elif isinstance(event, h2.events.DataReceived):
                    payload += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, 1)
                elif isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
                    return status, headers, payload
            sock.sendall(conn.data_to_send())
    return status, headers, payload


def test_wrong_method_is_405_json_with_allow(client: httpx.Client, stack: RunningStack) -> None:
    response = client.get("/openai/v1/chat/completions", headers=_auth(stack, "openai"))
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST, OPTIONS"
    assert_error(client.delete("/cohere/v1/models", headers=_auth(stack, "cohere")), 405)
    one_model = client.delete(f"/cohere/v1/models/{stack.model('cohere')}", headers=_auth(stack, "cohere"))
    assert_error(one_model, 405)
    assert one_model.headers["allow"] == "GET, HEAD, OPTIONS"
    assert_error(client.get(f"/cohere/v1/models/{stack.model('cohere')}"), 401)  # credentials, before the gateway


def test_missing_credentials_never_reach_the_gateway(client: httpx.Client, stack: RunningStack) -> None:
    if not stack.gateway_urls:
        pytest.skip("needs the gateways' direct URLs to read their metrics")
    before = {p: gateway_requests(stack, p) for p in PROVIDERS}
    for provider in PROVIDERS:
        for _ in range(3):
            response = client.post(f"/{provider}/v1/chat/completions", json=_chat(provider, stack))
            error = assert_error(response, 401, "missing_credentials")
            assert "x-api-key" in error["message"]
            assert response.headers["www-authenticate"] == 'Bearer realm="llm-gateway"'
    after = {p: gateway_requests(stack, p) for p in PROVIDERS}
    assert after == before  # not even the verify endpoint was called


def test_invalid_or_foreign_credentials_stop_at_verify(client: httpx.Client, stack: RunningStack) -> None:
    if not stack.gateway_urls:
        pytest.skip("needs the gateways' direct URLs to read their metrics")
    before = gateway_requests(stack, "openai")
    mock_before = httpx.get(f"{stack.mock_url}/_mock/stats", timeout=10).json() if stack.mock_url else None
    fake = "lgw_aaaaaaaaaaaa_" + "b" * 32
    assert_error(client.post("/openai/v1/chat/completions", json=_chat("openai", stack),
                             headers={"Authorization": f"Bearer {fake}"}), 401, "invalid_api_key")
    foreign = client.post("/openai/v1/chat/completions", json=_chat("openai", stack),
                          headers={"x-api-key": stack.keys["anthropic"]})
    assert_error(foreign, 403, "provider_not_allowed")
    after = gateway_requests(stack, "openai")
    # Exactly the two verify calls, both refused (a failed verify is labelled route="verify").
    assert sorted(status for (_, status), n in (after - before).items() for _ in range(n)) == ["401", "403"]
    if mock_before is not None:
        assert httpx.get(f"{stack.mock_url}/_mock/stats", timeout=10).json() == mock_before


@pytest.mark.parametrize(("name", "status", "codes"), [
    ("Authorization", 400, {"bad_request"}),  # nginx itself refuses a repeated Authorization line
    # x-api-key: nginx before 1.23 hands auth_request the first copy (verify passes, the route refuses both);
    # from 1.23 on it joins them with ", " (verify refuses the joined value).
    ("x-api-key", 401, {"malformed_credentials", "invalid_api_key"}),
])
def test_a_credential_header_sent_twice_never_reaches_the_provider(client: httpx.Client, stack: RunningStack,
                                                                   name: str, status: int, codes: set[str]) -> None:
    key = stack.keys["openai"]
    value = f"Bearer {key}" if name == "Authorization" else key
    response = mock_untouched(stack, lambda: client.post("/openai/v1/chat/completions", json=_chat("openai", stack),
                                                         headers=[(name, value), (name, value)]))
    assert assert_error(response, status)["code"] in codes


def test_stream_through_the_edge_vs_direct(client: httpx.Client, stack: RunningStack) -> None:
    body = _chat("openai", stack, text=" ".join(f"word{i}" for i in range(40)), stream=True)

    def timed(c: httpx.Client, url: str) -> tuple[float, float, int]:
        start = time.perf_counter()
        first, chunks = None, 0
        with c.stream("POST", url, json=body, headers=_auth(stack, "openai")) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if line.startswith("data: "):
                    first = first or time.perf_counter() - start
                    chunks += 1
        return first or 0.0, time.perf_counter() - start, chunks

    edge = min((timed(client, "/openai/v1/chat/completions") for _ in range(3)), key=lambda t: t[0])
    print(f"\nSSE through nginx: first chunk {edge[0] * 1000:.1f} ms, total {edge[1] * 1000:.1f} ms, {edge[2]} chunks")
    assert edge[2] > 40
    if stack.gateway_urls:
        with httpx.Client(timeout=30) as direct:
            url = f"{stack.gateway_urls['openai']}/v1/chat/completions"
            gw = min((timed(direct, url) for _ in range(3)), key=lambda t: t[0])
        print(f"SSE direct to gateway: first chunk {gw[0] * 1000:.1f} ms, total {gw[1] * 1000:.1f} ms")


def _raw_get(stack: RunningStack, path: str, headers: dict[str, str]) -> tuple[int, dict]:
    """GET `path` exactly as written (httpx would remove its dot segments), over TLS; the status and JSON body."""
    url = urlsplit(stack.url)
    ctx = ssl.create_default_context(cafile=str(stack.ca))
    lines = [f"GET {path} HTTP/1.1", f"Host: {url.hostname}", "Connection: close",
             *(f"{name}: {value}" for name, value in headers.items())]
    with socket.create_connection((url.hostname, url.port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname=url.hostname) as tls:
        tls.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        reply = b""
        while chunk := tls.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


def test_one_model_path_goes_to_the_gateway_as_sent(client: httpx.Client, stack: RunningStack) -> None:
    model = stack.model("openai")
    found = client.get(f"/openai/v1/models/{model}", headers=_auth(stack, "openai"))
    assert found.status_code == 200 and found.json()["id"] == model
    # An encoded slash reaches the gateway encoded, which decodes it inside the model name (never a route);
    # encoded dot segments that climb out of the prefix are refused by nginx, which matched the decoded path.
    status, body = _raw_get(stack, "/openai/v1/models/x%2Fy", _auth(stack, "openai"))
    assert status == 404 and body["error"]["code"] == "model_not_found" and "'x/y'" in body["error"]["message"]
    status, body = _raw_get(stack, "/openai/v1/models/x%2F..%2F..%2Fmetrics", _auth(stack, "openai"))
    assert status == 404 and body["error"]["code"] == "not_found"
    # A path that nginx only normalises to the prefix is refused at the edge (not_found, not model_not_found).
    status, body = _raw_get(stack, f"/openai/v1/x/../models/{model}", _auth(stack, "openai"))
    assert status == 404 and body["error"]["code"] == "not_found"
