"""Mistral chat completions wire protocol (``POST {prefix}/v1/chat/completions``, ``GET {prefix}/v1/models``).

OpenAI-shaped with Mistral's differences, as api.mistral.ai answers: `random_seed` instead of `seed`,
tool_choice `any`, 9-character alphanumeric tool-call ids, `tool_calls: null` on a plain answer, a
tool call streamed whole in one delta, usage always in the final chunk (no `stream_options`), the
`model_length` stop reason, and the error body `{"object": "error", "message", "type", "param", "code"}`.
Unknown request fields are refused, as Mistral's schema validation does.
"""

from __future__ import annotations

from typing import Any

from mockllm import jsonio, openai
from mockllm.asgi import Headers
from mockllm.directives import Plan, split_chunks, wire_finish
from mockllm.engine import BadRequest, ChatRequest

FIELDS = frozenset({
    "model", "messages", "temperature", "top_p", "max_tokens", "stream", "stop", "random_seed", "response_format",
    "tools", "tool_choice", "presence_penalty", "frequency_penalty", "n", "parallel_tool_calls", "prediction",
    "safe_prompt", "prompt_mode",
})
FINISH = {"stop": "stop", "stop_sequence": "stop", "length": "length", "tool": "tool_calls"}
ERRORS = {  # kind -> (type, code)
    "auth": ("invalid_request_error", "unauthorized"),
    "invalid": ("invalid_request_error", None),
    "rate_limit": ("rate_limit_error", "rate_limit_exceeded"),
    "server": ("internal_server_error", None),
    "overloaded": ("service_unavailable", None),
    "not_found": ("invalid_request_error", "invalid_model"),
    "too_large": ("invalid_request_error", None),
    "quota": ("payment_required", None),
}


class MistralProtocol(openai.OpenAIProtocol):
    """Mistral chat completions."""

    cuts_tool_args = False  # Mistral sends a tool call whole, in one delta
    quota_status = 402

    def __init__(self, name: str = "mistral") -> None:
        super().__init__(name)

    def parse(self, body: dict[str, Any], headers: Headers) -> ChatRequest:
        """Validate a Mistral request (unknown fields refused), then read it like OpenAI's."""
        unknown = sorted(set(body) - FIELDS)
        if unknown:
            raise BadRequest(f"Extra inputs are not permitted: {', '.join(unknown)}")
        choice = body.get("tool_choice")
        if isinstance(choice, str) and choice not in ("auto", "none", "any", "required"):
            raise BadRequest(f"tool_choice: Input should be 'auto', 'none', 'any' or 'required', got {choice!r}")
        req = super().parse(body, headers)
        req.include_usage = True  # Mistral always reports usage in the last chunk
        req.logprobs = False
        if choice in ("any", "required"):
            req.tool_choice = "any"
        return req

    def error(self, kind: str, message: str) -> bytes:
        """Mistral error body."""
        etype, code = ERRORS[kind]
        return jsonio.dumps({"object": "error", "message": message, "type": etype, "param": None, "code": code})

    def _call(self, plan: Plan, req: ChatRequest) -> dict[str, Any]:
        return {"id": f"mock{len(req.turns):05d}"[-9:], "type": "function", "index": 0,
                "function": {"name": plan.tool_name, "arguments": plan.tool_args}}

    def response(self, plan: Plan, req: ChatRequest, rid: str) -> bytes:
        """Non-streamed ``chat.completion``."""
        calls = [self._call(plan, req)] if plan.tool_name else None
        message = {"role": "assistant", "content": plan.text, "tool_calls": calls, "prefix": False}
        return jsonio.dumps({
            "id": f"mock{rid}", "object": "chat.completion", "created": openai.CREATED, "model": req.model,
            "choices": [{"index": 0, "message": message, "finish_reason": wire_finish(plan, FINISH)}],
            "usage": _usage(plan),
        })

    def events(self, plan: Plan, req: ChatRequest, rid: str) -> list[bytes]:
        """``chat.completion.chunk`` frames (usage in the last), then ``[DONE]``."""
        base = {"id": f"mock{rid}", "object": "chat.completion.chunk", "created": openai.CREATED, "model": req.model}

        def frame(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
            body = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
            return b"data: " + jsonio.dumps(body) + b"\n\n"

        frames = [frame({"role": "assistant", "content": ""})]
        if plan.tool_name:
            frames.append(frame({"tool_calls": [self._call(plan, req)]}))
        else:
            frames += [frame({"content": piece}) for piece in split_chunks(plan.text)]
        frames.append(frame({"content": ""}, wire_finish(plan, FINISH), usage=_usage(plan)))
        return [*frames, b"data: [DONE]\n\n"]


def _usage(plan: Plan) -> dict[str, int]:
    return {"prompt_tokens": plan.input_tokens, "total_tokens": plan.input_tokens + plan.output_tokens,
            "completion_tokens": plan.output_tokens}
