"""The anthropic SDK's request id through nginx: `request-id`, as Anthropic's API sends it, is the gateway's id.

The SDK reads `message._request_id` and `APIStatusError.request_id` from that header (Anthropic asks for it in
bug reports); here it is the id of the gateway's logs and audit record, the `x-request-id` every client gets.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import anthropic
import httpx
import httpx2
import openai
import pytest

from tests.support.stack import RunningStack

pytestmark = pytest.mark.integration
MODEL = "claude-sonnet-4-6"
ASK: list[anthropic.types.MessageParam] = [{"role": "user", "content": "hello"}]


def _client(stack: RunningStack, key: str) -> anthropic.Anthropic:
    http = httpx2.Client(verify=ssl.create_default_context(cafile=str(stack.ca)), timeout=60)
    return anthropic.Anthropic(base_url=f"{stack.url}/anthropic", api_key=key, http_client=http, max_retries=0)


@pytest.fixture
def client(stack: RunningStack) -> Iterator[anthropic.Anthropic]:
    with _client(stack, stack.keys["anthropic"]) as c:
        yield c


def test_a_reply_carries_the_gateways_id(client: anthropic.Anthropic) -> None:
    raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=10, messages=ASK)
    msg = raw.parse()
    assert msg._request_id and msg._request_id == raw.headers["x-request-id"] == raw.request_id
    assert raw.headers.get_list("request-id") == [msg._request_id]  # the edge's copy only, not the gateway's too
    with client.messages.create(model=MODEL, max_tokens=10, messages=ASK, stream=True) as stream:
        assert [e.type for e in stream][-1] == "message_stop"
        assert stream.response.headers["request-id"] == stream.response.headers["x-request-id"]
    # a client's own well-formed id is kept end to end, as on every route
    traced = client.messages.create(model=MODEL, max_tokens=10, messages=ASK, extra_headers={"x-request-id": "t-42"})
    assert traced._request_id == "t-42"
    counted = client.messages.with_raw_response.count_tokens(model=MODEL, messages=ASK)
    assert counted.request_id == counted.headers["x-request-id"]


def test_errors_carry_it_from_the_gateway_and_from_the_edge(stack: RunningStack, client: anthropic.Anthropic) -> None:
    errors: list[anthropic.APIStatusError] = []
    with pytest.raises(anthropic.NotFoundError) as unknown_model:  # the gateway's answer
        client.messages.create(model="claude-nope", max_tokens=10, messages=ASK)
    errors.append(unknown_model.value)
    with pytest.raises(anthropic.NotFoundError) as batches:  # the edge's: a route the gateway does not serve
        client.messages.batches.list()
    errors.append(batches.value)
    with _client(stack, "sk-not-a-gateway-key") as bad, pytest.raises(anthropic.AuthenticationError) as auth:
        bad.messages.create(model=MODEL, max_tokens=10, messages=ASK)  # the edge's, after its auth_request
    errors.append(auth.value)
    for error in errors:
        assert error.request_id and error.request_id == error.response.headers["x-request-id"], error
        # the error document names the request too, as Anthropic's do (the SDK's ErrorResponse.request_id)
        assert isinstance(error.body, dict) and error.body["request_id"] == error.request_id, error.body
    # a client's own well-formed id is the edge page's too
    with _client(stack, "sk-not-a-gateway-key") as bad, pytest.raises(anthropic.AuthenticationError) as traced:
        bad.messages.create(model=MODEL, max_tokens=10, messages=ASK, extra_headers={"x-request-id": "t-43"})
    assert isinstance(traced.value.body, dict) and traced.value.body["request_id"] == "t-43" == traced.value.request_id


def test_other_clients_get_only_x_request_id(stack: RunningStack, http: httpx.Client) -> None:
    oai = openai.OpenAI(base_url=f"{stack.url}/anthropic/v1", api_key=stack.keys["anthropic"], max_retries=0,
                        http_client=httpx2.Client(verify=ssl.create_default_context(cafile=str(stack.ca))))
    with oai:
        raw = oai.chat.completions.with_raw_response.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    assert raw.request_id == raw.parse()._request_id == raw.headers["x-request-id"]
    assert "request-id" not in raw.headers
    refused = http.post(f"{stack.url}/anthropic/v1/messages", json={})  # the edge's 401, OpenAI's shape
    assert refused.status_code == 401 and "request-id" not in refused.headers and refused.headers["x-request-id"]
