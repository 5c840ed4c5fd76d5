"""OpenAI chat completions wire protocol (``POST /v1/chat/completions``, ``GET /v1/models``)."""

from __future__ import annotations

from typing import Any

from mockllm import jsonio
from mockllm.asgi import Headers, bearer
from mockllm.directives import Plan, Turn, content_text, split_chunks, split_json, wire_finish
from mockllm.engine import BadRequest, ChatRequest, stop_sequences
from mockllm.structured import mapping

CREATED = 1_700_000_000  # fixed timestamp keeps replies deterministic
FINGERPRINT = "fp_mockllm01"  # OpenAI names its backend configuration in every reply and chunk
FINISH = {"stop": "stop", "stop_sequence": "stop", "length": "length", "tool": "tool_calls"}
ERRORS = {  # kind -> (type, code)
    "auth": ("invalid_request_error", "invalid_api_key"),
    "invalid": ("invalid_request_error", None),
    "rate_limit": ("requests", "rate_limit_exceeded"),
    "server": ("server_error", None),
    "overloaded": ("server_error", "service_unavailable"),
    "not_found": ("invalid_request_error", "model_not_found"),
    "too_large": ("invalid_request_error", None),
    "quota": ("insufficient_quota", "insufficient_quota"),
}


def _sse(obj: Any) -> bytes:
    return b"data: " + jsonio.dumps(obj) + b"\n\n"


def _usage(plan: Plan) -> dict[str, Any]:
    # As OpenAI reports it: the details always, each a part of its total.
    return {
        "prompt_tokens": plan.input_tokens,
        "completion_tokens": plan.output_tokens,
        "total_tokens": plan.input_tokens + plan.output_tokens,
        "prompt_tokens_details": {"cached_tokens": plan.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": plan.reasoning_tokens, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    }


def _served_tier(req: ChatRequest) -> str:
    """The tier that served the request, as OpenAI reports it on every reply and chunk ("auto" is the project's
    default tier, "default")."""
    return "default" if req.service_tier in (None, "auto") else req.service_tier


def function_tools(tools: Any) -> dict[str, Any]:
    """``{name: parameters schema}`` of OpenAI-style function tools (Cohere v2 uses the same shape)."""
    out: dict[str, Any] = {}
    for t in tools if isinstance(tools, list) else []:
        fn = t.get("function") if isinstance(t, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            out[fn["name"]] = fn.get("parameters") or {}
    return out


def _logprobs(text: str, req: ChatRequest, refusal: bool = False) -> dict[str, Any] | None:
    """Deterministic per-word log probabilities, when the request asked for them: a refusal's under `refusal`."""
    if not req.logprobs or not text:
        return None
    tokens = [{"token": w, "logprob": -0.5, "bytes": list(w.encode()), "top_logprobs": []} for w in split_chunks(text)]
    return {"content": None, "refusal": tokens} if refusal else {"content": tokens, "refusal": None}


def _choice(value: Any) -> str | None:
    if isinstance(value, dict):
        fn = value.get("function")
        return fn.get("name") if isinstance(fn, dict) else None
    return {"none": "none", "required": "any"}.get(value) if isinstance(value, str) else None


def models_list(models: tuple[str, ...]) -> dict[str, Any]:
    """``GET /v1/models`` body."""
    return {
        "object": "list",
        "data": [{"id": m, "object": "model", "created": CREATED, "owned_by": "mock"} for m in models],
    }


class OpenAIProtocol:
    """OpenAI chat completions; `name` is the catalogue provider it answers for (stats, model list)."""

    cuts_tool_args = True  # a call cut by max_tokens comes back with its partial arguments and finish_reason length
    quota_status = 429  # OpenAI's "no credit left" is a 429 insufficient_quota
    overloaded_status = 503

    def __init__(self, name: str = "openai") -> None:
        self.name = name

    def api_key(self, headers: Headers) -> str | None:
        """Key from ``Authorization: Bearer``."""
        return bearer(headers)

    def check_headers(self, headers: Headers) -> str | None:
        """No required headers besides auth."""
        return None

    def parse(self, body: dict[str, Any], headers: Headers) -> ChatRequest:
        """Validate and normalize a chat completions request."""
        model, messages = body.get("model"), body.get("messages")
        if not isinstance(model, str) or not model:
            raise BadRequest("you must provide a model parameter")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("'messages' must be a non-empty array")
        turns: list[Turn] = []
        for m in messages:
            if not isinstance(m, dict) or not isinstance(m.get("role"), str):
                raise BadRequest("each message needs a 'role'")
            role = m["role"]
            role = {"developer": "system", "function": "tool"}.get(role) or role
            turns.append((role, content_text(m.get("content"))))
        schemas = function_tools(body.get("tools"))
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
        opts = body.get("stream_options") or {}
        fmt = mapping(body.get("response_format"))
        json_schema = mapping(fmt.get("json_schema")) if fmt.get("type") == "json_schema" else None
        return ChatRequest(
            model=model,
            turns=turns,
            tool_names=set(schemas),
            max_tokens=max_tokens if isinstance(max_tokens, int) else None,
            stream=bool(body.get("stream")),
            include_usage=bool(isinstance(opts, dict) and opts.get("include_usage")),
            tool_schemas=schemas,
            tool_choice=_choice(body.get("tool_choice")),
            output_schema=None if json_schema is None else mapping(json_schema.get("schema")),
            json_mode=fmt.get("type") == "json_object",
            logprobs=body.get("logprobs") is True,
            service_tier=tier if isinstance(tier := body.get("service_tier"), str) else None,
            stop=stop_sequences(body.get("stop"), "stop", most=4, one=True),
        )

    def error(self, kind: str, message: str) -> bytes:
        """OpenAI error envelope."""
        etype, code = ERRORS[kind]
        return jsonio.dumps({"error": {"message": message, "type": etype, "param": None, "code": code}})

    def _tool_call(self, plan: Plan, req: ChatRequest) -> dict[str, Any]:
        return {
            "id": f"call_mock{len(req.turns)}",
            "type": "function",
            "function": {"name": plan.tool_name, "arguments": plan.tool_args},
        }

    def response(self, plan: Plan, req: ChatRequest, rid: str) -> bytes:
        """Non-streamed ``chat.completion``."""
        message: dict[str, Any] = {"role": "assistant", "content": plan.text or None, "refusal": None}
        if plan.refusal:  # as OpenAI refuses: no content, the refusal's text beside it
            message.update(content=None, refusal=plan.text)
        if plan.tool_name:
            message["tool_calls"] = [self._tool_call(plan, req)]
        return jsonio.dumps(
            {
                "id": f"chatcmpl-mock{rid}",
                "object": "chat.completion",
                "created": CREATED,
                "model": req.model,
                "choices": [{"index": 0, "message": message, "logprobs": _logprobs(plan.text, req, plan.refusal),
                             "finish_reason": wire_finish(plan, FINISH)}],
                "usage": _usage(plan),
                "system_fingerprint": FINGERPRINT,
                "service_tier": _served_tier(req),
            }
        )

    def events(self, plan: Plan, req: ChatRequest, rid: str) -> list[bytes]:
        """``chat.completion.chunk`` frames, optional usage chunk, then ``[DONE]``."""
        base: dict[str, Any] = {
            "id": f"chatcmpl-mock{rid}",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": req.model,
            "system_fingerprint": FINGERPRINT,
            "service_tier": _served_tier(req),
        }
        if req.include_usage:
            base["usage"] = None

        def frame(delta: dict[str, Any], finish: str | None = None, logprobs: Any = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
            return _sse({**base, "choices": [choice]})

        if plan.tool_name:
            call = self._tool_call(plan, req)
            first = {**call, "index": 0, "function": {"name": plan.tool_name, "arguments": ""}}
            frames = [frame({"role": "assistant", "content": None, "tool_calls": [first]})]
            frames += [
                frame({"tool_calls": [{"index": 0, "function": {"arguments": part}}]})
                for part in split_json(plan.tool_args)
            ]
        elif plan.refusal:
            frames = [frame({"role": "assistant", "content": None, "refusal": ""})]
            frames += [frame({"refusal": piece}, logprobs=_logprobs(piece, req, refusal=True))
                       for piece in split_chunks(plan.text)]
        else:
            frames = [frame({"role": "assistant", "content": "", "refusal": None})]
            frames += [frame({"content": piece}, logprobs=_logprobs(piece, req))
                       for piece in split_chunks(plan.text)]
        frames.append(frame({}, wire_finish(plan, FINISH)))
        if req.include_usage:
            frames.append(_sse({**base, "choices": [], "usage": _usage(plan)}))
        frames.append(b"data: [DONE]\n\n")
        return frames

    def stream_error(self, kind: str, message: str) -> bytes:
        """A chunk that is an error object (the openai SDK raises it as an APIError)."""
        err_type, code = ERRORS[kind]
        return _sse({"error": {"message": message, "type": err_type, "param": None, "code": code}})

    def malformed_events(self) -> list[bytes]:
        """A chunk whose data is not JSON."""
        return [b'data: {"id": "chatcmpl-malformed", "choices": [\n\n', b"data: [DONE]\n\n"]
