"""`POST /anthropic/v1/messages` through nginx: Anthropic's own errors reach the anthropic SDK as Anthropic sent
them (status, `error.type`, message), so the SDK raises the class it would raise talking to Anthropic; what
concerns the gateway's account keeps the gateway's answer (tests/integration/test_anthropic_messages.py)."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from tests.integration.sdk_narrowing import error_body

pytestmark = pytest.mark.integration
MODEL = "claude-sonnet-4-6"


@pytest.fixture
def client(anthropic_sdk: anthropic.Anthropic) -> anthropic.Anthropic:
    return anthropic_sdk


def _ask(fault: str) -> list[Any]:
    return [{"role": "user", "content": f"a b c d [[mock:fault={fault}]]"}]


@pytest.mark.parametrize(("fault", "exc", "status", "kind", "says"), [
    ("404", anthropic.NotFoundError, 404, "not_found_error", "The model was not found"),
    ("413", anthropic.RequestTooLargeError, 413, "request_too_large", "exceeds the maximum allowed size"),
    ("503", anthropic.OverloadedError, 529, "overloaded_error", "temporarily overloaded"),  # Anthropic's 529
])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_anthropics_rejection_reaches_the_sdk_as_sent(client: anthropic.Anthropic, fault: str,
                                                      exc: type[anthropic.APIStatusError], status: int, kind: str,
                                                      says: str, stream: bool) -> None:
    with pytest.raises(exc) as info:
        if stream:
            with client.messages.stream(model=MODEL, max_tokens=20, messages=_ask(fault)) as events:
                events.get_final_message()
        else:
            client.messages.create(model=MODEL, max_tokens=20, messages=_ask(fault))
    body = error_body(info.value)
    assert (info.value.status_code, body["error"]["type"]) == (status, kind)
    assert says in body["error"]["message"] and body["request_id"] == info.value.request_id


def test_an_upstream_500_stays_the_gateways_502(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.InternalServerError) as info:
        client.messages.create(model=MODEL, max_tokens=20, messages=_ask("500"))
    assert (info.value.status_code, error_body(info.value)["error"]["type"]) == (502, "api_error")


def test_an_error_event_in_the_stream_keeps_its_type(client: anthropic.Anthropic) -> None:
    # Anthropic's overloaded_error arriving after the stream began: the client's event says so, not an api_error.
    with pytest.raises(anthropic.APIStatusError) as info:
        with client.messages.stream(model=MODEL, max_tokens=20, messages=_ask("midstream")) as events:
            events.get_final_message()
    assert error_body(info.value)["error"] == {"type": "overloaded_error",
                                               "message": "The service is temporarily overloaded (mock fault 503)."}
