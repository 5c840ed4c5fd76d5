"""The official openai and anthropic JavaScript SDKs in a real browser, through the edge's CORS.

A web app calling the gateway from the browser is what CORS at the edge is for. Headless Chromium (Debian's,
driven by Playwright) opens a page served from an allowed origin; the page holds the SDKs as a web app bundles
them (`make browser-tools`: tools/browser, esbuild). What the browser enforces and a server-side test cannot
see: the preflight must allow every header the SDKs send, and a response header the SDKs read (the request id,
`retry-after`, `x-should-retry`, the rate-limit headers) reaches them only if the edge exposes it.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from devstack.ports import free_ports
from tests.support.client_keys import create_client_key
from tests.support.stack import RunningStack, local_stack

pytestmark = [pytest.mark.integration, pytest.mark.local_stack]

BUNDLE = Path(__file__).resolve().parents[2] / "build" / "tools" / "browser" / "sdks.js"
PAGE = '<!doctype html><html><head><meta charset="utf-8"><script src="sdks.js"></script></head><body></body></html>'


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The web app's origin: a page and the SDK bundle, served over HTTP on loopback."""
    assert BUNDLE.is_file(), f"{BUNDLE} is missing: run `make browser-tools`"
    root = tmp_path_factory.mktemp("site")
    (root / "index.html").write_text(PAGE)
    shutil.copy(BUNDLE, root / "sdks.js")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # the page's requests are not the test's output
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_ports(1)[0]),
                                             functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def stack(site: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with local_stack(Path(tmp_path_factory.mktemp("edge-browser")), nginx_env={"NGINX_CORS_ORIGINS": site},
                     gateway_env={"GATEWAY_VAULT_REFRESH_S": "1"}) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: run `make browser-tools`"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium)
        yield launched
        launched.close()


def _open(browser: Browser, url: str) -> Iterator[Page]:
    # The stack's CA is made per run and Chromium reads its own trust store (NSS): the certificate is not
    # what this test checks (sslyze and the SDK tests do), what the browser allows across origins is.
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    page.goto(url)
    page.wait_for_function("() => globalThis.OpenAI !== undefined && globalThis.Anthropic !== undefined")
    yield page
    context.close()


@pytest.fixture(scope="module")
def page(browser: Browser, site: str, stack: RunningStack) -> Iterator[Page]:
    """A tab of the allowed origin, the SDKs loaded."""
    yield from _open(browser, f"{site}/")


OPENAI_CHAT = """async ({base, key, model}) => {
  const client = new OpenAI({baseURL: `${base}/openai/v1`, apiKey: key, dangerouslyAllowBrowser: true,
                             maxRetries: 0});
  const messages = [{role: "user", content: "Say hello from a browser"}];
  const {data, response, request_id} = await client.chat.completions.create({model, messages}).withResponse();
  const stream = await client.chat.completions.create({model, messages, stream: true,
                                                       stream_options: {include_usage: true}});
  let streamed = "", usage = null;
  for await (const chunk of stream) {
    streamed += chunk.choices[0]?.delta?.content ?? "";
    usage = chunk.usage ?? usage;
  }
  const embedded = await client.embeddings.create({model: "text-embedding-3-small", input: ["alpha", "beta"]});
  const model_card = await client.models.retrieve(model);
  return {content: data.choices[0].message.content, request_id, streamed, usage,
          limit: response.headers.get("x-ratelimit-limit-requests"),
          remaining: response.headers.get("x-ratelimit-remaining-requests"),
          vectors: embedded.data.map(d => [d.embedding.length, d.embedding.every(Number.isFinite)]),
          model_card: model_card.id};
}"""


def test_the_openai_sdk_chats_streams_and_embeds_from_an_allowed_origin(page: Page, stack: RunningStack,
                                                                        limited_key: str) -> None:
    got = page.evaluate(OPENAI_CHAT, {"base": stack.url, "key": limited_key, "model": stack.model("openai")})
    assert got["content"] and got["streamed"] == got["content"]
    assert got["usage"] and got["usage"]["total_tokens"] > 0 and got["model_card"] == stack.model("openai")
    assert got["request_id"], "the edge must expose X-Request-ID: the SDK's request_id is null without it"
    # The rate-limit headers a granted request carries reach the page (exposed), not only the server's logs.
    assert got["limit"] == "1000" and 0 <= int(got["remaining"]) < 1000
    # The JS SDK asks for base64 embeddings unless told otherwise, and decodes them to floats.
    assert [n for n, finite in got["vectors"] if finite] == [got["vectors"][0][0]] * 2 and got["vectors"][0][0] > 0


ANTHROPIC_MESSAGES = """async ({base, key, model}) => {
  const client = new Anthropic({baseURL: `${base}/anthropic`, apiKey: key, dangerouslyAllowBrowser: true,
                                maxRetries: 0});
  const messages = [{role: "user", content: "Say hello from a browser"}];
  const {data, response, request_id} = await client.messages.create({model, max_tokens: 32, messages})
    .withResponse();
  let streamed = "";
  const stream = client.messages.stream({model, max_tokens: 32, messages}).on("text", t => { streamed += t; });
  const final = await stream.finalMessage();
  const counted = await client.messages.countTokens({model, messages});
  const models = [];
  for await (const card of client.models.list()) models.push(card.id);
  return {text: data.content[0].text, request_id, streamed, final: final.content[0].text,
          input_tokens: counted.input_tokens, models,
          stop: final.stop_reason, limit: response.headers.get("anthropic-ratelimit-requests-limit"),
          remaining: response.headers.get("anthropic-ratelimit-requests-remaining")};
}"""


def test_the_anthropic_sdk_creates_and_streams_messages_from_an_allowed_origin(page: Page, stack: RunningStack,
                                                                               limited_key: str) -> None:
    got = page.evaluate(ANTHROPIC_MESSAGES, {"base": stack.url, "key": limited_key,
                                             "model": stack.model("anthropic")})
    assert got["text"] and got["streamed"] == got["final"] == got["text"]
    assert got["stop"] == "end_turn" and got["request_id"]
    assert got["input_tokens"] > 0 and stack.model("anthropic") in got["models"]  # GET routes pass CORS too
    assert got["limit"] == "1000" and 0 <= int(got["remaining"]) < 1000


FAILING_CALL = """async ({base, key, model, sdk, retries, content = "hi"}) => {
  let sent = 0;
  const counted = (...args) => { sent += 1; return fetch(...args); };
  const SDK = sdk === "openai" ? OpenAI : Anthropic;
  const common = {apiKey: key, dangerouslyAllowBrowser: true, maxRetries: retries, fetch: counted};
  const messages = [{role: "user", content}];
  try {
    if (sdk === "openai") {
      const client = new SDK({...common, baseURL: `${base}/openai/v1`});
      await client.chat.completions.create({model, messages});
    } else {
      const client = new SDK({...common, baseURL: `${base}/anthropic`});
      await client.messages.create({model, max_tokens: 8, messages});
    }
    return {name: "no error", sent};
  } catch (e) {
    // The SDK's error classes, as an app tells them apart (the bundler may rename a class).
    const name = ["AuthenticationError", "RateLimitError", "APIConnectionError", "APIError"]
      .find(k => e instanceof SDK[k]);
    return {name: name ?? String(e), status: e.status ?? null, code: e.code ?? e.error?.error?.type ?? null,
            request_id: e.requestID ?? null, sent};
  }
}"""


@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
def test_a_rejected_credential_is_the_sdks_authentication_error(page: Page, stack: RunningStack, sdk: str) -> None:
    got = page.evaluate(FAILING_CALL, {"base": stack.url, "key": "sk-not-a-client-key", "model": stack.model(sdk),
                                       "sdk": sdk, "retries": 2})
    # An error answered without CORS headers is, to the page, a network failure (APIConnectionError) and retried.
    assert (got["name"], got["status"], got["sent"]) == ("AuthenticationError", 401, 1), got
    assert got["request_id"]


@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
def test_the_edges_own_refusal_reaches_the_page_in_the_sdks_shape(page: Page, stack: RunningStack, sdk: str) -> None:
    # nginx answers a body over its limit (1m) itself: its error pages carry the CORS headers too.
    got = page.evaluate(FAILING_CALL, {"base": stack.url, "key": stack.keys[sdk], "model": stack.model(sdk),
                                       "sdk": sdk, "retries": 2, "content": "x" * 1_100_000})
    assert (got["name"], got["status"], got["sent"]) == ("APIError", 413, 1), got
    assert got["code"] == "request_too_large", got  # OpenAI's code and Anthropic's error type alike
    assert got["request_id"]


@pytest.fixture(scope="module")
def limited_key(stack: RunningStack) -> str:
    """A client key with request and token limits: its answers carry the rate-limit headers."""
    return create_client_key(stack, "browser-limited", ["openai", "anthropic"], "--rpm", "1000", "--tpm", "1000000")


def test_a_spent_budget_is_not_retried_by_the_sdk_in_a_browser(page: Page, stack: RunningStack) -> None:
    key = create_client_key(stack, "browser-budget", ["openai"], "--daily-tokens", "1")
    body = {"model": stack.model("openai"), "messages": [{"role": "user", "content": "hi"}]}
    spent = httpx.post(f"{stack.url}/openai/v1/chat/completions", json=body, headers={"x-api-key": key},
                       verify=str(stack.ca), timeout=30)  # one answer is more than a one-token budget
    assert spent.status_code in (200, 429), spent.text
    got = page.evaluate(FAILING_CALL, {"base": stack.url, "key": key,
                                       "model": stack.model("openai"), "sdk": "openai", "retries": 2})
    assert (got["name"], got["status"], got["code"]) == ("RateLimitError", 429, "insufficient_quota"), got
    # `x-should-retry: false` is read only if the edge exposes it; unread, the SDK sends it three times.
    assert got["sent"] == 1, got


def test_an_origin_off_the_allowlist_is_refused_by_the_browser(browser: Browser, site: str,
                                                              stack: RunningStack) -> None:
    # localhost and 127.0.0.1 are different origins: the same page, from an origin the edge does not list.
    other = site.replace("127.0.0.1", "localhost")
    for tab in _open(browser, f"{other}/"):
        got = tab.evaluate(FAILING_CALL, {"base": stack.url, "key": stack.keys["openai"],
                                          "model": stack.model("openai"), "sdk": "openai", "retries": 0})
        assert (got["name"], got["status"]) == ("APIConnectionError", None), got
