"""Cohere v2 chat wire protocol (``POST /v2/chat``) as the ``cohere`` 5.x SDK speaks it."""

from __future__ import annotations

from typing import Any

from mockllm import jsonio
from mockllm.asgi import Headers, bearer
from mockllm.directives import Plan, Turn, content_text, split_chunks, split_json, wire_finish
from mockllm.engine import BadRequest, ChatRequest, stop_sequences
from mockllm.openai import function_tools
from mockllm.structured import mapping

FINISH = {"stop": "COMPLETE", "stop_sequence": "STOP_SEQUENCE", "length": "MAX_TOKENS", "tool": "TOOL_CALL"}
ROLES = ("user", "assistant", "system", "tool")


def _event(obj: dict[str, Any]) -> bytes:
    return b"event: " + obj["type"].encode() + b"\ndata: " + jsonio.dumps(obj) + b"\n\n"


# The most Cohere's listed models write; a larger max_tokens is refused, in Cohere's words.
MAX_OUTPUT = {"command-a-03-2025": 8192, "command-r-plus-08-2024": 4096, "command-r7b-12-2024": 4096}

# Cohere's `tokens` count its prompt template too; `billed_units` only the caller's text (its docs' example:
# 71 tokens read, 5 billed). The mock's template costs this many.
TEMPLATE_TOKENS = 60


def _usage(plan: Plan) -> dict[str, Any]:
    units = {"input_tokens": plan.input_tokens, "output_tokens": plan.output_tokens}
    return {"billed_units": units, "tokens": {**units, "input_tokens": plan.input_tokens + TEMPLATE_TOKENS}}


def models_list(models: tuple[str, ...]) -> dict[str, Any]:
    """``GET /v1/models`` body in Cohere's shape (ChatCohere asks it for the default model)."""
    data = [
        {
            "name": m,
            "endpoints": ["chat"],
            "finetuned": False,
            "context_length": 128000,
            "features": ["tools"],
        }
        for m in models
    ]
    return {"models": data}


class CohereProtocol:
    """Cohere v2 chat."""

    name = "cohere"
    cuts_tool_args = False
    quota_status = 402  # Cohere: "the account has reached its billing limit"
    overloaded_status = 503

    def api_key(self, headers: Headers) -> str | None:
        """Key from ``Authorization: Bearer``."""
        return bearer(headers)

    def check_headers(self, headers: Headers) -> str | None:
        """No required headers besides auth."""
        return None

    def parse(self, body: dict[str, Any], headers: Headers) -> ChatRequest:
        """Validate and normalize a v2 chat request."""
        model, messages = body.get("model"), body.get("messages")
        if not isinstance(model, str) or not model:
            raise BadRequest("model is required")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("messages must be a non-empty list")
        turns: list[Turn] = []
        for m in messages:
            if not isinstance(m, dict) or m.get("role") not in ROLES:
                raise BadRequest(f"each message needs a role among {', '.join(ROLES)}")
            turns.append((m["role"], content_text(m.get("content"))))
        schemas = function_tools(body.get("tools"))
        max_tokens = body.get("max_tokens")
        p = body.get("p")
        if p is not None and not (isinstance(p, (int, float)) and 0.01 <= p <= 0.99):
            raise BadRequest("invalid request: p must be between 0.01 and 0.99")
        if "presence_penalty" in body and "frequency_penalty" in body:
            raise BadRequest("invalid request: cannot specify both frequency_penalty and presence_penalty.")
        most = MAX_OUTPUT.get(model)
        if isinstance(max_tokens, int) and most is not None and max_tokens > most:
            raise BadRequest(f"too many tokens: max tokens must be less than or equal to {most}, the maximum output "
                             f"for this model - received {max_tokens}.")
        fmt = mapping(body.get("response_format"))
        json_object = fmt.get("type") == "json_object"
        schema = fmt.get("schema") if isinstance(fmt.get("schema"), dict) else None
        return ChatRequest(
            model, turns, set(schemas), max_tokens if isinstance(max_tokens, int) else None, bool(body.get("stream")),
            tool_schemas=schemas,
            tool_choice={"REQUIRED": "any", "NONE": "none"}.get(str(body.get("tool_choice"))),
            output_schema=schema if json_object else None,
            json_mode=json_object and schema is None,
            stop=stop_sequences(body.get("stop_sequences"), "stop_sequences", most=5),
        )

    def error(self, kind: str, message: str) -> bytes:
        """Cohere error body."""
        return jsonio.dumps({"id": "mock-error", "message": message})

    def _tool_call(self, plan: Plan, req: ChatRequest) -> dict[str, Any]:
        return {
            "id": f"{plan.tool_name}_mock{len(req.turns)}",
            "type": "function",
            "function": {"name": plan.tool_name, "arguments": plan.tool_args},
        }

    def response(self, plan: Plan, req: ChatRequest, rid: str) -> bytes:
        """Non-streamed ``V2ChatResponse``."""
        message: dict[str, Any] = {"role": "assistant"}
        if plan.tool_name:
            message["tool_plan"] = f"I will use {plan.tool_name}."
            message["tool_calls"] = [self._tool_call(plan, req)]
        else:
            message["content"] = [{"type": "text", "text": plan.text}]
        body = {
            "id": f"mock-{rid}",
            "finish_reason": wire_finish(plan, FINISH),
            "message": message,
            "usage": _usage(plan),
        }
        return jsonio.dumps(body)

    def events(self, plan: Plan, req: ChatRequest, rid: str) -> list[bytes]:
        """message-start … message-end, each as ``event:`` + ``data:`` lines."""
        empty = {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}
        frames = [_event({"type": "message-start", "id": f"mock-{rid}", "delta": {"message": empty}})]
        if plan.tool_name:
            call = self._tool_call(plan, req)
            plan_text = f"I will use {plan.tool_name}."
            frames += [
                _event({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": p}}})
                for p in split_chunks(plan_text)
            ]
            start = {**call, "function": {"name": plan.tool_name, "arguments": ""}}
            frames.append(_event({"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": start}}}))
            frames += [
                _event(
                    {
                        "type": "tool-call-delta",
                        "index": 0,
                        "delta": {"message": {"tool_calls": {"function": {"arguments": p}}}},
                    }
                )
                for p in split_json(plan.tool_args)
            ]
            frames.append(_event({"type": "tool-call-end", "index": 0}))
        else:
            first = {"message": {"content": {"type": "text", "text": ""}}}
            frames.append(_event({"type": "content-start", "index": 0, "delta": first}))
            frames += [
                _event({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": p}}}})
                for p in split_chunks(plan.text)
            ]
            frames.append(_event({"type": "content-end", "index": 0}))
        end = {"finish_reason": wire_finish(plan, FINISH), "usage": _usage(plan)}
        frames.append(_event({"type": "message-end", "delta": end}))
        return frames

    def stream_error(self, kind: str, message: str) -> None:
        """Cohere's stream has no error event: a fault in a stream cuts it."""
        return None

    def malformed_events(self) -> list[bytes]:
        """An event whose data is not JSON (the SDK logs and skips it)."""
        return [b'event: message-start\ndata: {"type": "message-start", "delta": {\n\n']
