"""Anthropic messages wire protocol (``POST /v1/messages``, ``GET /v1/models``, ``GET /v1/models/{id}``)."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from typing import Any

from mockllm import anthropic_rules, jsonio
from mockllm.asgi import Headers, Message, Receive, Scope, Send, bearer, header
from mockllm.directives import Plan, Turn, content_text, split_chunks, split_json, wire_finish
from mockllm.engine import BadRequest, ChatRequest, stop_sequences
from mockllm.structured import mapping

STOP = {"stop": "end_turn", "stop_sequence": "stop_sequence", "length": "max_tokens", "tool": "tool_use"}
THOUGHT = "The user wrote; I answer with an echo."  # what the mock's extended thinking says
SIGNATURE = "bW9jay10aGlua2luZy1zaWduYXR1cmU="  # Anthropic signs each thinking block (opaque base64)
ERRORS = {
    "auth": "authentication_error",
    "invalid": "invalid_request_error",
    "rate_limit": "rate_limit_error",
    "server": "api_error",
    "overloaded": "overloaded_error",
    "not_found": "not_found_error",
    "too_large": "request_too_large",
    "quota": "billing_error",
}


# The id of the request being answered: the `request-id` header of every response, and `request_id` of an error.
_REQUEST_ID: ContextVar[str | None] = ContextVar("anthropic_request_id", default=None)


def new_request_id() -> str:
    """An id shaped like Anthropic's (`req_` and 24 letters and digits)."""
    return "req_011Cmock" + uuid.uuid4().hex[:16]


class WithRequestId:
    """Wraps a raw ASGI app: its response carries a `request-id` header, the id its error bodies name."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = new_request_id()
        token = _REQUEST_ID.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"request-id", rid.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _REQUEST_ID.reset(token)


def _event(name: str, obj: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + jsonio.dumps(obj) + b"\n\n"


def model_info(model: str) -> dict[str, Any]:
    """One model as ``GET /v1/models/{model}`` describes it (the fields the SDK's ModelInfo requires)."""
    return {"type": "model", "id": model, "display_name": model, "created_at": "2024-10-22T00:00:00Z",
            "lifecycle": "active"}


def _usage(plan: Plan, output_tokens: int) -> dict[str, Any]:
    """Anthropic's usage: `input_tokens` leaves out the tokens read from (or written to) the prompt cache."""
    usage: dict[str, Any] = {"input_tokens": plan.input_tokens - plan.cached_tokens, "cache_creation_input_tokens": 0,
                             "cache_read_input_tokens": plan.cached_tokens, "output_tokens": output_tokens}
    if plan.reasoning_tokens:
        usage["output_tokens_details"] = {"thinking_tokens": plan.reasoning_tokens}
    return usage


def models_list(models: tuple[str, ...]) -> dict[str, Any]:
    """``GET /v1/models`` body in Anthropic's shape."""
    data = [model_info(m) for m in models]
    return {
        "data": data,
        "has_more": False,
        "first_id": models[0] if models else None,
        "last_id": models[-1] if models else None,
    }


def check_content(messages: list[Any]) -> None:
    """Refuse what Anthropic refuses in message content, with its words: a message with no content (but a final
    assistant one, which the reply continues), text that is empty or only whitespace, and a final assistant
    text that ends in whitespace."""
    for i, m in enumerate(messages):
        content = m.get("content")
        if not isinstance(content, str | list):
            raise BadRequest(f"messages.{i}.content: Input should be a valid string or a list of content blocks")
        final_assistant = i == len(messages) - 1 and m.get("role") == "assistant"
        if not content and not final_assistant:
            raise BadRequest(f"messages.{i}: all messages must have non-empty content except for the optional "
                             "final assistant message")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        texts = [b.get("text") for b in blocks if isinstance(b, dict) and b.get("type") == "text"]
        if any(isinstance(t, str) and not t for t in texts) and content:
            raise BadRequest("messages: text content blocks must be non-empty")
        if any(isinstance(t, str) and t and not t.strip() for t in texts):
            raise BadRequest("messages: text content blocks must contain non-whitespace text")
        if final_assistant and texts and isinstance(texts[-1], str) and texts[-1] != texts[-1].rstrip():
            raise BadRequest("messages: final assistant content cannot end with trailing whitespace")


def _turns(messages: list[Any]) -> list[Turn]:
    turns: list[Turn] = []
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            raise BadRequest("messages: each message needs role 'user' or 'assistant'")
        content = m.get("content")
        blocks = content if isinstance(content, list) else []
        results = [b for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"]
        if m["role"] == "user" and results:
            turns.append(("tool", content_text(results)))
        else:
            turns.append((m["role"], content_text(content)))
    return turns


# Anthropic's beta names end in their date (`prompt-caching-2024-07-31`, `claude-code-20250219`); the mock
# takes any such name as known, and refuses others as the API refuses names it has never published.
_BETA = re.compile(r"[a-z][a-z0-9-]*-(\d{4}-\d{2}-\d{2}|\d{8})")


# Claude 4.5 and later take one sampling setting: `temperature` or `top_p`, not both (Anthropic's migration guide).
_ONE_SAMPLING_SETTING = re.compile(r"claude-(sonnet|haiku|opus)-4-([5-9]|\d\d)")

class AnthropicProtocol:
    """Anthropic messages."""

    name = "anthropic"
    cuts_tool_args = False  # a tool_use block's input is always a whole object here
    quota_status = 402  # billing_error
    overloaded_status = 529  # overloaded_error

    def api_key(self, headers: Headers) -> str | None:
        """Key from ``x-api-key``, else ``Authorization: Bearer`` (what anthropic SDK 2.x sends)."""
        key = (header(headers, b"x-api-key") or "").strip()
        return key or bearer(headers)

    def check_headers(self, headers: Headers) -> str | None:
        """The real API refuses requests without ``anthropic-version``, and beta names it does not know."""
        if not header(headers, b"anthropic-version"):
            return "anthropic-version: header is required"
        betas = [b.strip() for b in (header(headers, b"anthropic-beta") or "").split(",") if b.strip()]
        unknown = [b for b in betas if not _BETA.fullmatch(b)]
        if unknown:
            return (f"Unexpected value(s) `{', '.join(unknown)}` for the `anthropic-beta` header. Please consult our "
                    "documentation at docs.anthropic.com or try again without the header.")
        return None

    def parse(self, body: dict[str, Any], headers: Headers) -> ChatRequest:
        """Validate and normalize a messages request."""
        model, messages, max_tokens = body.get("model"), body.get("messages"), body.get("max_tokens")
        if not isinstance(model, str) or not model:
            raise BadRequest("model: Field required")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
            raise BadRequest("max_tokens: Field required")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("messages: at least one message is required")
        if "temperature" in body and "top_p" in body and _ONE_SAMPLING_SETTING.match(model):
            raise BadRequest("`temperature` and `top_p` cannot both be specified for this model. Please use only one.")
        anthropic_rules.check_max_tokens(max_tokens)
        turns = _turns(messages)
        check_content(messages)
        anthropic_rules.check_tool_pairs(messages)
        if body.get("system"):
            turns.insert(0, ("system", content_text(body["system"])))
        tools = body.get("tools") or []
        anthropic_rules.check_tools(tools)
        anthropic_rules.check_cache_control(body)
        betas = frozenset(b.strip() for b in (header(headers, b"anthropic-beta") or "").split(","))
        anthropic_rules.check_thinking(body, max_tokens, betas)
        schemas = {t["name"]: t.get("input_schema") or {} for t in tools
                   if isinstance(t, dict) and isinstance(t.get("name"), str)}
        choice = mapping(body.get("tool_choice"))
        kind = choice.get("type")
        fmt = mapping(mapping(body.get("output_config")).get("format"))
        thinking = mapping(body.get("thinking"))
        return ChatRequest(
            model, turns, set(schemas), max_tokens, bool(body.get("stream")),
            tool_schemas=schemas,
            tool_choice=choice.get("name") if kind == "tool" else {"any": "any", "none": "none"}.get(str(kind)),
            output_schema=mapping(fmt.get("schema")) if fmt.get("type") == "json_schema" else None,
            # Thinking on (any type but disabled) opens the reply with a signed thinking block; `display:
            # omitted` leaves its text empty, as Anthropic does.
            thought=None if thinking.get("type") in (None, "disabled") else
            "" if thinking.get("display") == "omitted" else THOUGHT,
            stop=stop_sequences(body.get("stop_sequences"), "stop_sequences"),
        )

    def error(self, kind: str, message: str) -> bytes:
        """Anthropic error envelope, naming the request's id (the one of its `request-id` header)."""
        return jsonio.dumps({"type": "error", "error": {"type": ERRORS[kind], "message": message},
                             "request_id": _REQUEST_ID.get() or new_request_id()})

    def _message(self, plan: Plan, req: ChatRequest, rid: str, content: list[Any], final: bool) -> dict[str, Any]:
        return {
            "id": f"msg_mock{rid}",
            "type": "message",
            "role": "assistant",
            "model": req.model,
            "content": content,
            "stop_reason": wire_finish(plan, STOP) if final else None,
            "stop_sequence": plan.stop_sequence if final else None,
            "usage": _usage(plan, plan.output_tokens if final else 1),
        }

    def _tool_id(self, req: ChatRequest) -> str:
        return f"toolu_mock{len(req.turns)}"

    def response(self, plan: Plan, req: ChatRequest, rid: str) -> bytes:
        """Non-streamed message."""
        if plan.tool_name:
            block = {
                "type": "tool_use",
                "id": self._tool_id(req),
                "name": plan.tool_name,
                "input": jsonio.loads(plan.tool_args),
            }
        else:
            block = {"type": "text", "text": plan.text}
        thinking = [] if req.thought is None else [
            {"type": "thinking", "thinking": req.thought, "signature": SIGNATURE}]
        content = [] if req.max_tokens == 0 else [*thinking, block]  # max_tokens 0: the prompt is cached, no reply
        return jsonio.dumps(self._message(plan, req, rid, content, final=True))

    def events(self, plan: Plan, req: ChatRequest, rid: str) -> list[bytes]:
        """message_start … message_stop with ``event:`` lines, like the real API."""
        frames = [
            _event(
                "message_start",
                {"type": "message_start", "message": self._message(plan, req, rid, [], False)},
            )
        ]
        if plan.tool_name:
            block = {"type": "tool_use", "id": self._tool_id(req), "name": plan.tool_name, "input": {}}
            # A call without arguments streams one empty fragment, as the API sends it (the input is `{}`).
            pieces = split_json(plan.tool_args) if plan.tool_args.strip() != "{}" else [""]
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
        else:
            block = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": p} for p in split_chunks(plan.text)]
        blocks = [(block, deltas)]
        if req.max_tokens == 0:  # the prompt is cached, no block is generated
            blocks = []
        elif req.thought is not None:  # the signed thinking block comes first
            thought = [{"type": "thinking_delta", "thinking": p} for p in split_chunks(req.thought) if p]
            blocks.insert(0, ({"type": "thinking", "thinking": "", "signature": ""},
                              [*thought, {"type": "signature_delta", "signature": SIGNATURE}]))
        for index, (start, block_deltas) in enumerate(blocks):
            frames.append(_event("content_block_start",
                                 {"type": "content_block_start", "index": index, "content_block": start}))
            if index == 0:
                frames.append(_event("ping", {"type": "ping"}))
            frames += [_event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
                       for d in block_deltas]
            frames.append(_event("content_block_stop", {"type": "content_block_stop", "index": index}))
        delta = {"stop_reason": wire_finish(plan, STOP), "stop_sequence": plan.stop_sequence}
        # The API reports cumulative usage here, input tokens included (langchain-anthropic reads them here).
        usage = _usage(plan, plan.output_tokens)
        frames.append(_event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
        frames.append(_event("message_stop", {"type": "message_stop"}))
        return frames

    def stream_error(self, kind: str, message: str) -> bytes:
        """An `error` event in a stream under way (the API's overloaded_error arrives so)."""
        return _event("error", {"type": "error", "error": {"type": ERRORS[kind], "message": message}})

    def malformed_events(self) -> list[bytes]:
        """An event whose data is not JSON."""
        return [b'event: message_start\ndata: {"type": "message_start", "message": {\n\n']
