"""Anthropic ``POST /v1/messages/count_tokens``: the input tokens a messages request would use.

Counted as the messages protocol counts them (whitespace words of the system prompt and every message,
at least 1), so a count matches the ``input_tokens`` of the same request sent to ``/v1/messages``.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from mockllm import asgi, jsonio
from mockllm.anthropic import WithRequestId
from mockllm.asgi import Receive, Scope, Send
from mockllm.directives import content_text
from mockllm.engine import Provider, State, authorize


class _CountTokens:
    """A raw ASGI endpoint (an instance, so Starlette does not wrap it)."""

    def __init__(self, protocol: Provider, state: State) -> None:
        self.protocol, self.state = protocol, state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = asgi.headers_of(scope)
        if not await authorize(self.protocol, self.state, headers, send):
            return
        raw = await asgi.read_body(receive)
        problem = self.protocol.check_headers(headers)
        try:
            body = jsonio.loads(raw)
        except jsonio.JSONDecodeError:
            problem = problem or "request body is not valid JSON"
            body = None
        if problem is None:
            problem = _problem(body)
        if problem:
            await asgi.send_bytes(send, 400, self.protocol.error("invalid", problem))
            return
        assert isinstance(body, dict)
        texts = [content_text(m.get("content")) for m in body["messages"]]
        if body.get("system"):
            texts.append(content_text(body["system"]))
        await asgi.send_json(send, 200, {"input_tokens": max(1, sum(len(t.split()) for t in texts))})


def _problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        return "messages: at least one message is required"
    return None


def routes(state: State, anthropic: Provider) -> list[Route]:
    """The count_tokens route of the mock app."""
    return [Route("/v1/messages/count_tokens", WithRequestId(_CountTokens(anthropic, state)), methods=["POST"])]
