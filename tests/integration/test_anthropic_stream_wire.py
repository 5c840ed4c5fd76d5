"""`POST /anthropic/v1/messages` streamed through nginx, read as the bytes a client receives: the events in
Anthropic's order and framing, its `ping` included (the SDK skips it; raw readers and proxies see it)."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support.stack import RunningStack

pytestmark = pytest.mark.integration
MODEL = "claude-sonnet-4-6"


def test_the_stream_has_anthropics_events_in_order_ping_included(stack: RunningStack, http: httpx.Client) -> None:
    body = {"model": MODEL, "max_tokens": 50, "stream": True, "messages": [{"role": "user", "content": "a b c"}]}
    headers = {"x-api-key": stack.keys["anthropic"], "anthropic-version": "2023-06-01"}
    with http.stream("POST", f"{stack.url}/anthropic/v1/messages", json=body, headers=headers) as reply:
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
        sent = reply.read().decode()
    events = []
    for block in sent.split("\n\n")[:-1]:
        kind, data = block.split("\n")
        events.append((kind.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    # The mock answers as the API does: a ping after the first block opens (docs: "Event types").
    kinds = [kind for kind, _ in events]
    assert kinds[:3] == ["message_start", "content_block_start", "ping"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(kinds[3:-3]) == {"content_block_delta"}
    assert all(data["type"] == kind for kind, data in events)
    assert dict(events)["ping"] == {"type": "ping"}
