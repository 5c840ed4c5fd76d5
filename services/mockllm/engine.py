"""Request pipeline shared by the three protocols: auth, parse, faults, latency, reply."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any, Protocol

import catalogue
from mockllm import asgi, jsonio
from mockllm.asgi import Headers, Receive, Scope, Send
from mockllm.config import MockConfig
from mockllm.directives import Plan, Turn, norm_latency, plan_reply
from mockllm.faults import ERROR_FAULTS, MALFORMED_JSON, MESSAGES, FaultPicker, error_reply

STATUS = {"auth": 401, "invalid": 400, "rate_limit": 429, "server": 500, "overloaded": 503, "not_found": 404}
DISCONNECT_AFTER = 3  # stream frames sent before a ``disconnect`` fault aborts (or a ``stall`` pauses)


class BadRequest(Exception):
    """Invalid request; answered with 400 in the provider's error shape."""


@dataclass(slots=True)
class ChatRequest:
    """Provider-independent view of a chat request."""

    model: str
    turns: list[Turn]
    tool_names: set[str]
    max_tokens: int | None
    stream: bool
    include_usage: bool = False
    tool_schemas: dict[str, Any] = field(default_factory=dict)  # offered tool -> its parameters schema
    tool_choice: str | None = None  # None (auto), "none", "any" or a tool name
    output_schema: dict[str, Any] | None = None  # structured output: the reply is an instance of it
    json_mode: bool = False  # the reply is some JSON object
    logprobs: bool = False  # OpenAI: per-token log probabilities requested
    service_tier: str | None = None  # OpenAI: the processing tier asked for
    thought: str | None = None  # Anthropic: extended thinking is on, and this is what it shows (None: off)
    stop: tuple[str, ...] = ()  # the caller's stop sequences


def stop_sequences(value: Any, field: str, *, most: int | None = None, one: bool = False) -> tuple[str, ...]:
    """The caller's stop sequences from ``field`` (a list of strings; a lone string too when ``one``)."""
    if value is None:
        return ()
    items = [value] if one and isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
        raise BadRequest(f"{field}: expected {'a string or ' if one else ''}a list of strings")
    if most is not None and len(items) > most:
        raise BadRequest(f"{field}: at most {most} sequences")
    return tuple(items)


class Provider(Protocol):
    """What each wire protocol module implements."""

    name: str
    cuts_tool_args: bool  # max_tokens can stop a tool call inside its arguments (finish: length)
    quota_status: int  # the status of its "no credit left" error (mockllm.faults.ERROR_FAULTS)
    overloaded_status: int  # and of its "overloaded" one

    def api_key(self, headers: Headers) -> str | None: ...
    def check_headers(self, headers: Headers) -> str | None: ...
    def parse(self, body: dict[str, Any], headers: Headers) -> ChatRequest: ...
    def error(self, kind: str, message: str) -> bytes: ...
    def response(self, plan: Plan, req: ChatRequest, rid: str) -> bytes: ...
    def events(self, plan: Plan, req: ChatRequest, rid: str) -> list[bytes]: ...
    def malformed_events(self) -> list[bytes]: ...
    def stream_error(self, kind: str, message: str) -> bytes | None: ...  # None: the protocol has no such event


@dataclass(slots=True)
class Stats:
    """Per-provider counters exposed at ``/_mock/stats``."""

    requests: int = 0  # chat requests (including refused ones)
    models: int = 0  # model-list requests
    last_key: str | None = None
    last_params: dict[str, Any] = field(default_factory=dict)  # last chat body without its messages
    last_messages: list[Any] = field(default_factory=list)  # and its messages, as the provider's wire had them
    last_embedding_params: dict[str, Any] = field(default_factory=dict)  # last embeddings body without its input
    unauthorized: int = 0
    faults: int = 0


@dataclass(slots=True)
class State:
    """Mutable per-app state."""

    config: MockConfig
    picker: FaultPicker
    stats: dict[str, Stats] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @classmethod
    def create(cls, config: MockConfig) -> State:
        """Fresh state for ``config``."""
        return cls(config, FaultPicker(config.faults, config.fault_rate, config.seed))

    def reset(self) -> None:
        """Clear counters and restart the fault RNG and id sequence."""
        self.stats.clear()
        self.picker.reset(self.config.seed)
        self.ids = itertools.count(1)

    def stat(self, provider: str) -> Stats:
        """Counters of one provider (created on first use)."""
        return self.stats.setdefault(provider, Stats())

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready stats for all providers."""
        return {
            name: {
                "requests": s.requests,
                "models": s.models,
                "last_key": s.last_key,
                "last_params": s.last_params,
                "last_messages": s.last_messages,
                "last_embedding_params": s.last_embedding_params,
                "unauthorized": s.unauthorized,
                "faults": s.faults,
            }
            for name, s in ((p, self.stat(p)) for p in catalogue.names())
        }


async def authorize(provider: Provider, state: State, headers: Headers, send: Send, chat: bool = True) -> bool:
    """Count the request and check its key; answer 401 and return False if refused."""
    st = state.stat(provider.name)
    if chat:
        st.requests += 1
    else:
        st.models += 1
    key = provider.api_key(headers)
    if key:
        st.last_key = key
    if key and (not state.config.api_keys or key in state.config.api_keys):
        return True
    st.unauthorized += 1
    msg = "missing API key" if not key else "invalid API key"
    await asgi.send_bytes(send, 401, provider.error("auth", msg))
    return False


async def handle_chat(provider: Provider, state: State, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve one chat request for ``provider``."""
    headers = asgi.headers_of(scope)
    if not await authorize(provider, state, headers, send):
        return
    raw = await asgi.read_body(receive)
    try:
        problem = provider.check_headers(headers)
        if problem:
            raise BadRequest(problem)
        try:
            body = jsonio.loads(raw)
        except jsonio.JSONDecodeError as exc:
            raise BadRequest("request body is not valid JSON") from exc
        if not isinstance(body, dict):
            raise BadRequest("request body must be a JSON object")
        stat = state.stat(provider.name)
        stat.last_params = {k: v for k, v in body.items() if k != "messages"}
        messages = body.get("messages")
        stat.last_messages = messages if isinstance(messages, list) else []
        req = provider.parse(body, headers)
    except BadRequest as exc:
        await asgi.send_bytes(send, 400, provider.error("invalid", str(exc)))
        return
    plan = plan_reply(req.turns, req.tool_names, req.max_tokens, tool_choice=req.tool_choice,
                      tool_schemas=req.tool_schemas, output_schema=req.output_schema, json_mode=req.json_mode,
                      cut_tool_args=provider.cuts_tool_args, stop=req.stop)
    fault = state.picker.pick(plan.fault, asgi.header(headers, b"x-mock-fault"))
    latency = plan.latency_ms or norm_latency(asgi.header(headers, b"x-mock-latency-ms")) or 0
    if fault:
        state.stat(provider.name).faults += 1
    stalls_first = fault == "timeout" or (fault == "stall" and not req.stream)  # a stream stalls mid-way
    if stalls_first and await asgi.sleep_or_disconnect(receive, state.config.timeout_s):
        return
    rid = f"{next(state.ids):08d}"
    if not req.stream or fault in ERROR_FAULTS:
        if await asgi.sleep_or_disconnect(receive, latency / 1000):
            return
        await _send_plain(provider, plan, req, rid, fault, send)
        return
    await _send_stream(provider, state, plan, req, rid, fault, latency, receive, send)


async def _send_plain(
    provider: Provider, plan: Plan, req: ChatRequest, rid: str, fault: str | None, send: Send
) -> None:
    if fault in ERROR_FAULTS:
        status, body, extra = error_reply(provider, fault)
        await asgi.send_bytes(send, status, body, extra=extra)
    elif fault == "malformed":
        await asgi.send_bytes(send, 200, MALFORMED_JSON)
    elif fault == "midstream":  # a stream's fault: a plain request is answered as overloaded before any byte
        status, body, extra = error_reply(provider, "503")
        await asgi.send_bytes(send, status, body, extra=extra)
    elif fault == "disconnect":  # announce the full length, send half, then drop the connection
        body = provider.response(plan, req, rid)
        await asgi.start(send, 200, asgi.JSON, len(body))
        await asgi.chunk(send, body[: len(body) // 2])
    else:
        await asgi.send_bytes(send, 200, provider.response(plan, req, rid))


async def _send_stream(
    provider: Provider,
    state: State,
    plan: Plan,
    req: ChatRequest,
    rid: str,
    fault: str | None,
    latency: int,
    receive: Receive,
    send: Send,
) -> None:
    await asgi.start(send, 200, asgi.SSE, extra=[(b"cache-control", b"no-cache")])
    if await asgi.sleep_or_disconnect(receive, latency / 1000):
        return
    if fault == "malformed":
        frames = provider.malformed_events()
    else:
        frames = provider.events(plan, req, rid)
        if fault == "disconnect":  # returning without the final chunk makes uvicorn drop the connection
            frames = frames[:DISCONNECT_AFTER]
        elif fault == "midstream":  # the provider's error event after a few frames (none: the stream is cut)
            error = provider.stream_error("overloaded", MESSAGES["overloaded"])
            frames = frames[:DISCONNECT_AFTER] + ([error] if error is not None else [])
            fault = "disconnect" if error is None else fault
    delay = state.config.chunk_delay_ms / 1000
    for n, frame in enumerate(frames):
        if fault == "stall" and n == DISCONNECT_AFTER and await asgi.sleep_or_disconnect(
                receive, state.config.timeout_s):
            return
        await asgi.chunk(send, frame)
        if delay:
            await asyncio.sleep(delay)
    if fault != "disconnect":
        await asgi.chunk(send, b"", more=False)
