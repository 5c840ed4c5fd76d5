"""The SDKs' URL joins, memoised (gateway/providers/sdk_urls.py): the same URLs, whatever the base or route."""

from __future__ import annotations

from typing import Any

import anthropic
import anthropic._base_client
import httpx2
import openai
import openai._base_client
import pytest
from anthropic._models import FinalRequestOptions as AnthropicOptions
from openai._models import FinalRequestOptions as OpenAIOptions

from gateway.config import Settings
from gateway.providers import create_adapter, sdk_urls


class Joiner:
    """A client-like object whose join counts its calls."""

    def __init__(self, base: str) -> None:
        self.base_url = httpx2.URL(base)
        self.calls = 0

    def join(self, url: Any) -> httpx2.URL:
        self.calls += 1
        merge = httpx2.URL(url)
        if merge.is_relative_url:
            return self.base_url.copy_with(raw_path=self.base_url.raw_path + merge.raw_path.lstrip(b"/"))
        return merge


@pytest.fixture
def installed() -> None:
    sdk_urls.install(openai._base_client)
    sdk_urls.install(anthropic._base_client)


def test_a_join_is_computed_once_per_base_and_route() -> None:
    joiner = Joiner("http://127.0.0.1:8080/v1/")
    join = sdk_urls.memoised(Joiner.join)
    first = join(joiner, "/chat/completions")
    assert str(first) == "http://127.0.0.1:8080/v1/chat/completions"
    assert join(joiner, "/chat/completions") is first
    assert str(join(joiner, "models?limit=2")) == "http://127.0.0.1:8080/v1/models?limit=2"
    assert str(join(joiner, "https://other.example/x")) == "https://other.example/x"
    assert joiner.calls == 3


def test_a_new_base_url_is_joined_afresh() -> None:
    joiner = Joiner("http://127.0.0.1:8080/v1/")
    join = sdk_urls.memoised(Joiner.join)
    join(joiner, "/messages")
    joiner.base_url = httpx2.URL("http://127.0.0.1:9090/proxy/anthropic/")
    assert str(join(joiner, "/messages")) == "http://127.0.0.1:9090/proxy/anthropic/messages"
    assert joiner.calls == 2


def test_url_objects_are_joined_every_time() -> None:
    joiner = Joiner("http://127.0.0.1:8080/v1/")
    join = sdk_urls.memoised(Joiner.join)
    url = httpx2.URL("/embeddings")
    assert str(join(joiner, url)) == str(join(joiner, url)) == "http://127.0.0.1:8080/v1/embeddings"
    assert joiner.calls == 2


def test_the_memo_is_bounded_and_stays_correct_past_its_bound() -> None:
    joiner = Joiner("http://127.0.0.1:8080/v1/")
    join = sdk_urls.memoised(Joiner.join)
    n = 3 * sdk_urls._MAX_ENTRIES
    urls = [join(joiner, f"/r{i}") for i in range(n)]
    assert [str(u) for u in urls] == [f"http://127.0.0.1:8080/v1/r{i}" for i in range(n)]
    assert str(join(joiner, "/r0")) == "http://127.0.0.1:8080/v1/r0"  # evicted long ago: joined again
    assert joiner.calls == n + 1


@pytest.mark.usefixtures("installed")
def test_install_is_idempotent_and_wraps_the_sdks_own_methods() -> None:
    sdk_urls.install(openai._base_client)
    for base_client in (openai._base_client, anthropic._base_client):
        prepare = base_client.BaseClient.__dict__["_prepare_url"]
        assert prepare.__wrapped__.__qualname__ == "BaseClient._prepare_url"
        assert not hasattr(prepare.__wrapped__, "__wrapped__")
    merge = httpx2._client.BaseClient.__dict__["_merge_url"]
    assert merge.__wrapped__.__qualname__ == "BaseClient._merge_url" and not hasattr(merge.__wrapped__, "__wrapped__")


@pytest.mark.usefixtures("installed")
@pytest.mark.parametrize("base", ["http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/prefix/v1/"])
def test_openai_requests_go_to_the_joined_url_before_and_after_a_base_change(base: str) -> None:
    client = openai.AsyncOpenAI(api_key="sk-test", base_url=base)
    options = OpenAIOptions.construct(method="post", url="/chat/completions",
                                                                json_data={"model": "m"}, params={"a": "1"})
    for _ in range(2):
        request = client._build_request(options)
        assert str(request.url) == base.rstrip("/") + "/chat/completions?a=1"
    client.base_url = "http://127.0.0.1:9999/other"
    assert str(client._build_request(options).url) == "http://127.0.0.1:9999/other/chat/completions?a=1"


@pytest.mark.usefixtures("installed")
def test_anthropic_requests_go_to_the_joined_url() -> None:
    client = anthropic.AsyncAnthropic(api_key="sk-ant-test", base_url="http://127.0.0.1:8080/anthropic")
    options = AnthropicOptions.construct(method="post", url="/v1/messages",
                                                                   json_data={"model": "m"})
    for _ in range(2):
        assert str(client._build_request(options).url) == "http://127.0.0.1:8080/anthropic/v1/messages"


@pytest.mark.usefixtures("installed")
def test_an_http_client_with_its_own_base_url_joins_relative_requests() -> None:
    with httpx2.Client(base_url="http://127.0.0.1:8080/api") as client:
        for _ in range(2):
            assert str(client.build_request("GET", "/items").url) == "http://127.0.0.1:8080/api/items"
        client.base_url = "http://127.0.0.1:8081/"
        assert str(client.build_request("GET", "items").url) == "http://127.0.0.1:8081/items"


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_the_adapters_install_it(provider: str, monkeypatch: pytest.MonkeyPatch) -> None:
    module = openai._base_client if provider == "openai" else anthropic._base_client
    for cls, name in ((module.BaseClient, "_prepare_url"), (httpx2._client.BaseClient, "_merge_url")):
        current = cls.__dict__[name]
        monkeypatch.setattr(cls, name, getattr(current, "__wrapped__", current))  # as the SDK ships it
        assert not hasattr(cls.__dict__[name], "__wrapped__")
    create_adapter(Settings(provider=provider))
    assert hasattr(module.BaseClient.__dict__["_prepare_url"], "__wrapped__")
    assert hasattr(httpx2._client.BaseClient.__dict__["_merge_url"], "__wrapped__")
