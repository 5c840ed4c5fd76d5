"""LangChain AIMessageChunks -> OpenAI `chat.completion.chunk` SSE events, tool calls included."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import orjson
from langchain_core.messages import AIMessageChunk

from gateway import context
from gateway.api.event_stream import LastEvent
from gateway.chat.response import fingerprint_of, record_usage, served_tier, usage_of
from gateway.errors import GatewayError, UpstreamBadResponseError, fault, sse_error
from gateway.providers.base import ProviderAdapter
from gateway.stream_idle import AT_HAND_MAX, WAITING, IdleBound

_log = logging.getLogger("gateway.chat")
DONE = b"data: [DONE]\n\n"
_OPEN_TAIL = b',"logprobs":null,"finish_reason":null}]}\n\n'  # an event's end while the choice is open
_OPENS_TEXT: dict[str, Any] = {"role": "assistant", "content": ""}  # the first delta of a text reply


class ToolCallDeltas:
    """Renders LangChain `tool_call_chunks` the way OpenAI streams `delta.tool_calls`.

    The first delta of a call carries its OpenAI index, id, type and name (arguments ""), the
    following ones only index and an arguments fragment. Upstream indexes (Anthropic counts
    content blocks, text included) are renumbered 0, 1, … in order of appearance. A call whose arguments never
    came (Anthropic streams an empty input as one empty fragment) gets `{}` before the finish, as OpenAI
    streams it and as the unstreamed reply has it (`closing`).
    """

    def __init__(self, most: int | None = None, provider: str = "") -> None:
        self._most, self._provider = most, provider  # calls allowed (None: any number); one more fails the stream
        self._index: dict[Any, int] = {}
        self._last: Any = None
        self._bare: set[int] = set()  # indexes of calls with no argument text yet

    @property
    def count(self) -> int:
        """How many tool calls were streamed."""
        return len(self._index)

    def deltas(self, chunk: AIMessageChunk) -> list[dict[str, Any]]:
        """The `delta.tool_calls` entries for one chunk."""
        out: list[dict[str, Any]] = []
        for part in chunk.tool_call_chunks:
            key = part.get("index")
            if key is None:  # langchain-cohere's async stream sends whole calls without an index
                key = part.get("id") or self._last
            args = part.get("args") or ""
            if key not in self._index:
                if self._most is not None and len(self._index) >= self._most:
                    raise too_many_calls(self._provider)
                self._index[key] = len(self._index)
                self._bare.add(self._index[key])
                # OpenAI opens a call with its id, type, name and empty arguments.
                out.append({"index": self._index[key], "id": part.get("id"), "type": "function",
                            "function": {"name": part.get("name"), "arguments": ""}})
            self._last = key
            if args:
                self._bare.discard(self._index[key])
                out.append({"index": self._index[key], "function": {"arguments": args}})
        return out

    def closing(self, finish: str | None) -> list[dict[str, Any]]:
        """The `{}` of each call that got no arguments, unless the reply was cut (`length`: nothing was written)."""
        if not self._bare or finish == "length":
            return []
        return [{"index": index, "function": {"arguments": "{}"}} for index in sorted(self._bare)]


async def events(adapter: ProviderAdapter, first: AIMessageChunk | None, upstream: AsyncIterator[Any], idle_s: float,
                 include_usage: bool, model_name: str, completion_id: str,
                 most_calls: int | None = None) -> AsyncGenerator[bytes, None]:
    """Yield the SSE events of one completion, ending with `data: [DONE]` (errors become an error event).

    The closing events and `[DONE]` come as one `LastEvent`, sent with the response's end.

    `first` is the chunk `chat.stream` awaited before answering (None: the stream ended at once); the
    rest come from `upstream`, each within `idle_s` seconds of the one before. Runs once per streamed
    token: each chunk does only what it needs. The events of chunks that arrived together (in one read
    of a busy process) are yielded together, as one write; those ready are yielded before any wait.
    """
    base = {"id": completion_id, "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model_name}
    # Every event of the stream starts with the same bytes, up to its delta: rendered once, not per token.
    head = b"data: " + orjson.dumps(base)[:-1] + b',"choices":[{"index":0,"delta":'

    def event(delta: dict[str, Any], finish: str | None = None, logprobs: Any = None) -> bytes:
        if finish is None and logprobs is None:
            return head + orjson.dumps(delta) + _OPEN_TAIL
        doc = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish}]}
        return b"data: " + orjson.dumps(doc) + b"\n\n"

    calls = ToolCallDeltas(most_calls, adapter.name)
    usage: dict[str, Any] | None = None
    finish: str | None = None
    tier: str | None = None  # the service tier that served it (OpenAI says so with the finish reason)
    fingerprint: str | None = None  # and its backend configuration, `system_fingerprint` (idem)
    opened = False
    chunk: Any = first
    idle = IdleBound(idle_s)
    out = b""  # events not yielded yet: those of the chunks at hand
    awaiting = False  # while True, a failure is the upstream call's (as for a plain completion); else the gateway's
    try:
        while True:
            if chunk is None:
                if len(out) >= AT_HAND_MAX:
                    yield out
                    out = b""
                awaiting = True
                chunk = idle.poll(upstream) if out else await idle.next(upstream)
                if chunk is WAITING:  # the next chunk is not there yet: what is at hand goes out first
                    yield out
                    out = b""
                    chunk = await idle.rest()
                awaiting = False
                if chunk is None:
                    break
            assert isinstance(chunk, AIMessageChunk)
            if chunk.usage_metadata:
                usage = _add_usage(usage, usage_of(chunk))
            metadata = chunk.response_metadata
            logprobs = None
            # Most chunks' metadata is only LangChain's {"model_provider": ...}: nothing to read there, per token.
            if metadata and not (len(metadata) == 1 and "model_provider" in metadata):
                finish = adapter.finish_reason(metadata) or finish
                tier = served_tier(metadata) or tier
                fingerprint = fingerprint_of(metadata) or fingerprint
                logprobs = metadata.get("logprobs")  # OpenAI's ride on their chunk
            content = chunk.content
            text = content if type(content) is str else chunk.text  # `.text` of a str is the str, built anew
            refusal = chunk.additional_kwargs.get("refusal") if chunk.additional_kwargs else None  # OpenAI's
            # The assistant's turn opens as OpenAI's does, by what comes first: text with `content: ""` (then the
            # text), a refusal or a tool call with `content: null` (so a tool-call-only reply's content stays null,
            # as it does unstreamed).
            if text:
                if not opened:
                    out += event(_OPENS_TEXT)
                    opened = True
                out += event({"content": text}, logprobs=logprobs)
            if refusal is not None and (refusal or not opened):
                out += event({"refusal": refusal} if opened else {"role": "assistant", "content": None,
                                                                  "refusal": refusal}, logprobs=logprobs)
                opened = True
            if chunk.tool_call_chunks:
                for tool_delta in calls.deltas(chunk):  # one event per delta, as OpenAI sends them
                    call: dict[str, Any] = {"tool_calls": [tool_delta]}
                    out += event(call if opened else {"role": "assistant", "content": None, **call})
                    opened = True
            chunk = None
        if not opened:  # nothing came: the turn is empty text
            out += event(_OPENS_TEXT)
        if finish is None:  # every provider closes a complete stream with a stop reason
            raise UpstreamBadResponseError("the upstream stream ended before completion", code="upstream_truncated")
    except Exception as exc:  # noqa: BLE001 - every failure becomes one error event
        mapped = adapter.map_error(exc) if awaiting or isinstance(exc, GatewayError) else fault(exc)
        context.stream_failed(mapped.code, mapped.status)
        yield LastEvent(out + sse_error(mapped) + DONE)  # the events before the failure, then its own
        return
    finally:
        idle.close()
        await idle.abandon()  # closed while a read waited (the client left as its events went out)
        await _close(upstream)  # left at a chunk (a failure of the gateway's, the client gone): its call ends now
    record_usage(usage)
    # The closing events are ready together: one write to the client, not three.
    if tier is not None:
        base["service_tier"] = tier
    if fingerprint is not None:
        base["system_fingerprint"] = fingerprint
    tail = b"".join(event({"tool_calls": [delta]}) for delta in calls.closing(finish)) + event({}, finish)
    if include_usage:
        tail += b"data: " + orjson.dumps({**base, "choices": [], "usage": usage}) + b"\n\n"
    yield LastEvent(out + tail + DONE)


async def _close(upstream: AsyncIterator[Any]) -> None:
    """End the upstream stream's call now, not when the garbage collector finds its generator (nothing when it
    ended already); a failure to close it is no failure of the client's stream."""
    close = getattr(upstream, "aclose", None)
    if close is None:
        return
    try:
        await close()
    except Exception:  # noqa: BLE001 - the stream's own outcome stands
        _log.debug("closing an upstream stream failed", exc_info=True)


def too_many_calls(provider: str, count: int | None = None) -> UpstreamBadResponseError:
    """The failure of a reply that called more tools than `parallel_tool_calls: false` allows, from a provider with
    no such switch (`one_call_checked`)."""
    said = f"{count} tool calls" if count else "more than one tool call"
    return UpstreamBadResponseError(
        f"the {provider} provider replied with {said}, where parallel_tool_calls false asks for one at most "
        "(it has no such switch: the gateway checks its reply)", code="upstream_parallel_tool_calls")


def _add_usage(total: dict[str, Any] | None, part: dict[str, Any] | None) -> dict[str, Any] | None:
    """Sum streamed usage: LangChain chunks carry additive usage, details included (a provider may split it)."""
    if part is None:
        return total
    if total is None:
        return part  # usage_of built it for this chunk alone
    out = dict(total)
    for key, value in part.items():
        mine = out.get(key)
        out[key] = value if mine is None else _add_usage(mine, value) if isinstance(mine, dict) else mine + value
    return out
