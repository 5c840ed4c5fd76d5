"""The Anthropic Messages API, relayed: a validated request goes to Anthropic with the provider key.

No LangChain here on purpose: the client already speaks the provider's own protocol, so a translation
through LangChain messages would only lose fields (tool_use ids, thinking blocks, cache_control). The
official `anthropic` SDK makes the call (timeouts, retries, error types the adapter already maps).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import anthropic
from anthropic._streaming import ServerSentEvent  # the SDK's own event record, for the subclass below
from anthropic.types import Message, MessageTokensCount, RawMessageStreamEvent

from gateway import context, jsonbytes
from gateway.anthropic_errors import RelayedAnthropicError, relayed
from gateway.api.anthropic_schemas import CountTokensRequest, MessagesRequest
from gateway.api.event_stream import LastEvent
from gateway.errors import GatewayError, UnknownModelError, UpstreamBadResponseError, fault
from gateway.providers.base import ProviderAdapter
from gateway.stream_idle import AT_HAND_MAX, WAITING, IdleBound

_CLIENTS = 4  # one per provider key in use; a rotated key gets a new client, old ones age out
_PING = '{"type": "ping"}'


class EventsWithPings(anthropic.AsyncStream[RawMessageStreamEvent]):
    """Anthropic's stream with its `ping` events kept, which the SDK's stream drops: a client reading the events
    sees them as Anthropic sends them, and through a long silence they tell the gateway's idle bound, nginx and
    the client's own proxies that the upstream is alive. Renamed past the SDK's filter, a ping's data
    (`{"type": "ping"}`) names it again; tests/unit/test_anthropic_pings.py holds the SDK to this."""

    async def _iter_events(self) -> AsyncIterator[ServerSentEvent]:
        async for event in super()._iter_events():
            if event.event == "ping":
                event = ServerSentEvent(event="relayed_ping", data=event.data or _PING)
            yield event


class MessagesRelay:
    """Sends Messages API requests upstream and records their usage on the request context."""

    def __init__(self, adapter: ProviderAdapter) -> None:
        self.adapter = adapter
        self._clients: OrderedDict[str, anthropic.AsyncAnthropic] = OrderedDict()

    def client(self, api_key: str) -> anthropic.AsyncAnthropic:
        """Return the cached SDK client for this provider key."""
        found = self._clients.get(api_key)
        if found is not None:
            self._clients.move_to_end(api_key)
            return found
        settings = self.adapter.settings
        built = self._clients[api_key] = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=self.adapter.base_url, timeout=settings.upstream_timeout_s,
            max_retries=settings.max_retries, http_client=self.adapter.http_client())  # shared: evicting closes nothing
        while len(self._clients) > _CLIENTS:
            self._clients.popitem(last=False)
        return built

    async def create(self, req: MessagesRequest, api_key: str, version: str,
                     beta: str | None = None) -> dict[str, Any]:
        """Run a non-streamed request and return Anthropic's message document as received."""
        try:
            message = await self.client(api_key).post("/v1/messages", cast_to=Message, body=_params(req),
                                                      options=_headers(version, beta))
        except Exception as exc:
            raise self._upstream_error(exc) from exc
        _record(_input_tokens(message.usage), message.usage.output_tokens)
        return message.to_dict(mode="json")

    async def stream(self, req: MessagesRequest, api_key: str, version: str,
                     beta: str | None = None) -> AsyncGenerator[bytes, None]:
        """Open the upstream stream (failures to open raise, with their status) and return its SSE events."""
        try:
            upstream = await self.client(api_key).post(
                "/v1/messages", cast_to=Message, body={**_params(req), "stream": True}, options=_headers(version, beta),
                stream=True, stream_cls=EventsWithPings)
        except Exception as exc:
            raise self._upstream_error(exc) from exc
        return self._events(upstream)

    async def _events(self, upstream: anthropic.AsyncStream[Any]) -> AsyncGenerator[bytes, None]:
        tokens = [0, 0]
        stopped = False
        events, idle = aiter(upstream), IdleBound(self.adapter.settings.stream_idle_timeout_s)
        out = b""  # the events at hand: those that arrived together go out together (see IdleBound.poll)
        awaiting = False  # while True, a failure is the upstream's; else the gateway's own
        try:
            while True:
                if len(out) >= AT_HAND_MAX:
                    yield out
                    out = b""
                awaiting = True
                event = idle.poll(events) if out else await idle.next(events)
                if event is WAITING:  # the next event is not there yet: what is at hand goes out first
                    yield out
                    out = b""
                    event = await idle.rest()
                awaiting = False
                if event is None:
                    break
                if event.type == "message_start":
                    tokens[0] = _input_tokens(event.message.usage)
                elif event.type == "message_delta":  # cumulative; its input counts may be left out
                    tokens[1] = event.usage.output_tokens
                    tokens[0] = _input_tokens(event.usage) or tokens[0]
                stopped = stopped or event.type == "message_stop"
                out += sse(event.type, event.to_dict(mode="json"))
            if not stopped:
                raise UpstreamBadResponseError("the upstream stream ended before message_stop",
                                               code="upstream_truncated")
        except Exception as exc:  # noqa: BLE001 - every failure becomes one error event
            mapped = self._upstream_error(exc) if awaiting or isinstance(exc, GatewayError) else fault(exc)
            context.stream_failed(mapped.code, mapped.status)
            yield LastEvent(out + sse("error", error_body(mapped)))  # the events before the failure, then its own
            return
        finally:
            idle.close()
            await idle.abandon()  # closed while a read waited (the client left as its events went out)
            await upstream.close()
        _record(tokens[0], tokens[1])
        yield LastEvent(out)  # sent with the response's end

    def _upstream_error(self, exc: BaseException) -> GatewayError:
        """Anthropic's own error where the client's SDK reads it (anthropic_errors), else the gateway's mapping."""
        return relayed(exc) or self.adapter.map_error(exc)

    async def models(self, api_key: str, version: str) -> list[dict[str, Any]]:
        """Anthropic's own descriptions of its models, as received (one page of up to 1,000: all of them)."""
        try:
            page = await self.client(api_key).models.list(limit=1000, extra_headers={"anthropic-version": version})
        except Exception as exc:
            raise self._upstream_error(exc) from exc
        return [info.to_dict(mode="json") for info in page.data]

    async def model(self, model: str, api_key: str, version: str) -> dict[str, Any]:
        """Anthropic's own description of one model, as received."""
        try:
            info = await self.client(api_key).models.retrieve(model, extra_headers={"anthropic-version": version})
        except anthropic.NotFoundError as exc:
            raise UnknownModelError(f"model '{model}' is allowed on this gateway but unknown to Anthropic",
                                    param="model") from exc
        except Exception as exc:
            raise self._upstream_error(exc) from exc
        return info.to_dict(mode="json")

    async def count_tokens(self, req: CountTokensRequest, api_key: str, version: str,
                           beta: str | None = None) -> dict[str, Any]:
        """Ask Anthropic how many input tokens the request would use."""
        try:
            counted = await self.client(api_key).post(
                "/v1/messages/count_tokens", cast_to=MessageTokensCount,
                body=req.model_dump(exclude_none=True, by_alias=True), options=_headers(version, beta))
        except Exception as exc:
            raise self._upstream_error(exc) from exc
        return counted.to_dict(mode="json")


def _params(req: MessagesRequest) -> dict[str, Any]:
    # The validated body as sent, through the SDK's generic post: its typed create() lags the API
    # (anthropic 2.x no longer names temperature/top_p/top_k, which ChatAnthropic still sends).
    params = req.model_dump(exclude_none=True, exclude={"stream"}, by_alias=True)
    if req.diagnostics is not None:  # `previous_message_id: null` opts in on a first turn: keep the null
        params["diagnostics"] = req.diagnostics.model_dump(exclude_unset=True)
    return params


def _headers(version: str, beta: str | None) -> Any:
    headers = {"anthropic-version": version}
    if beta:
        headers["anthropic-beta"] = ",".join(part.strip() for part in beta.split(","))
    return {"headers": headers}


def _input_tokens(usage: Any) -> int:
    """Every prompt token of a message: Anthropic's `input_tokens` leaves out those read from or written to
    its prompt cache (counted as LangChain counts them on the chat route, so budgets see the same tokens)."""
    return ((usage.input_tokens or 0) + (usage.cache_read_input_tokens or 0)
            + (usage.cache_creation_input_tokens or 0))


def _record(input_tokens: int | None, output_tokens: int | None) -> None:
    ctx = context.get()
    if ctx is not None:
        ctx.prompt_tokens, ctx.completion_tokens = input_tokens, output_tokens


# Gateway status -> Anthropic error type (https://docs.anthropic.com/en/api/errors).
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 405: "invalid_request_error", 413: "request_too_large",
               422: "invalid_request_error", 429: "rate_limit_error", 504: "timeout_error"}


def error_body(exc: GatewayError, request_id: str | None = None) -> dict[str, Any]:
    """The Anthropic error document for a gateway error; an HTTP error's names its request, as Anthropic's do."""
    error: dict[str, Any] = {"type": ERROR_TYPES.get(exc.status, "api_error"), "message": exc.message}
    if isinstance(exc, RelayedAnthropicError):
        error["type"] = exc.anthropic_type
        if exc.details is not None:
            error["details"] = exc.details
    body: dict[str, Any] = {"type": "error", "error": error}
    if request_id is not None:
        body["request_id"] = request_id
    return body


def sse(event: str, data: dict[str, Any]) -> bytes:
    """One server-sent event in Anthropic's framing (`event:` line, then `data:`)."""
    return b"event: " + event.encode() + b"\ndata: " + jsonbytes.dumps(data) + b"\n\n"
