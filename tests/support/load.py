"""A bounded async load generator for reliability tests (loopback only).

`Load(targets, clients=50, duration_s=20, max_requests=5000).run()` drives N concurrent
clients, each a loop that sends the next target's request and records one `Outcome`
(status, error, latency; for streams whether `data: [DONE]` arrived and any in-stream
error event). Every run is bounded by time AND count, and each request by a timeout.

Tests that do blocking work while load runs (kill a process, run vaultctl, poll
/readyz) use `Load.start()` / `Load.stop()`: the clients then run on their own event
loop in a background thread, so a blocking call in the test never stalls them.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson


@dataclass(frozen=True)
class Target:
    """One kind of request: where, with which headers and body, and whether it streams."""

    label: str
    url: str
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    stream: bool = False


@dataclass
class Outcome:
    """What one request produced."""

    label: str
    started: float  # monotonic
    latency_s: float
    status: int | None = None  # None: no HTTP answer (transport error)
    error: str | None = None  # transport error class, or "incomplete_stream"
    stream_error: str | None = None  # `error.code` of an in-stream error event
    error_code: str | None = None  # `error.code` of a JSON error body
    content_type: str | None = None
    retry_after: str | None = None

    @property
    def ok(self) -> bool:
        """A 2xx answer, complete, with no in-stream error."""
        return self.status is not None and 200 <= self.status < 300 and self.error is None \
            and self.stream_error is None

    def kind(self) -> str:
        """A short class for counting: `200`, `502`, `200+stream_error:upstream_error`, `ReadError`…"""
        if self.status is None:
            return self.error or "no_answer"
        out = str(self.status)
        if self.stream_error:
            out += f"+stream_error:{self.stream_error}"
        if self.error:
            out += f"+{self.error}"
        return out


@dataclass
class LoadResult:
    """All outcomes of a run plus its wall-clock bounds."""

    outcomes: list[Outcome]
    started: float
    ended: float

    @property
    def count(self) -> int:
        return len(self.outcomes)

    def failures(self, labels: Callable[[str], bool] | None = None) -> list[Outcome]:
        """Outcomes that are not ok (optionally only those whose label passes the filter)."""
        return [o for o in self.outcomes if not o.ok and (labels is None or labels(o.label))]

    def kinds(self, labels: Callable[[str], bool] | None = None) -> Counter[str]:
        """Count outcomes by kind."""
        return Counter(o.kind() for o in self.outcomes if labels is None or labels(o.label))

    def between(self, start: float, end: float) -> list[Outcome]:
        """Outcomes of requests started within [start, end) (monotonic clock)."""
        return [o for o in self.outcomes if start <= o.started < end]

    def summary(self) -> dict[str, Any]:
        """Figures for the report: counts, throughput, latency percentiles in ms."""
        lat = sorted(o.latency_s for o in self.outcomes if o.ok)
        wall = max(self.ended - self.started, 1e-9)

        def pct(p: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1) if lat else None

        return {
            "requests": self.count, "ok": len(lat), "failed": self.count - len(lat),
            "duration_s": round(wall, 1), "rps": round(self.count / wall, 1),
            "latency_ms": {"p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99),
                           "mean": round(statistics.fmean(lat) * 1000, 1) if lat else None},
            "kinds": dict(self.kinds().most_common()),
        }


class Load:
    """N concurrent clients cycling through targets until the time or count bound."""

    def __init__(
        self,
        targets: Sequence[Target],
        *,
        clients: int = 50,
        duration_s: float = 20.0,
        max_requests: int = 10_000,
        request_timeout_s: float = 30.0,
        ca: Path | None = None,
        pause_s: float = 0.0,
    ) -> None:
        if not targets:
            raise ValueError("no targets")
        for target in targets:
            if not target.url.startswith(("http://127.", "https://127.", "http://localhost", "https://localhost")):
                raise ValueError(f"loopback targets only, got {target.url}")
        self.targets = list(targets)
        self.clients, self.duration_s, self.max_requests = clients, duration_s, max_requests
        self.request_timeout_s, self.ca, self.pause_s = request_timeout_s, ca, pause_s
        self._outcomes: list[Outcome] = []
        self._issued = 0
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._result: LoadResult | None = None
        self._crash: BaseException | None = None
        self._running = threading.Event()

    # -- background use ---------------------------------------------------------------------
    def start(self) -> Load:
        """Run the clients in a background thread; return once they are sending."""
        def main() -> None:
            try:
                self._result = asyncio.run(self.run())
            except BaseException as exc:  # noqa: BLE001 — re-raised in stop()
                self._crash = exc
                self._running.set()

        self._thread = threading.Thread(target=main, name="load", daemon=True)
        self._thread.start()
        if not self._running.wait(timeout=10):
            raise RuntimeError("the load generator did not start within 10 s")
        return self

    def stop(self) -> LoadResult:
        """Ask the clients to finish their current request, wait, return the result."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        assert self._thread is not None, "start() first"
        self._thread.join(timeout=self.request_timeout_s + 10)
        if self._crash is not None:
            raise self._crash
        if self._result is None:
            raise RuntimeError("the load generator did not finish")
        return self._result

    def __enter__(self) -> Load:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None and self._thread.is_alive():
            self.stop()

    @property
    def result(self) -> LoadResult:
        """The result after stop() (or after the block of `with Load(...)`)."""
        if self._result is None:
            raise RuntimeError("the load has not finished")
        return self._result

    def snapshot(self) -> list[Outcome]:
        """Outcomes recorded so far (a copy; safe from another thread)."""
        return list(self._outcomes)

    def run_sync(self) -> LoadResult:
        """Run to the bound on a fresh event loop (from synchronous code) and return the result."""
        self._result = asyncio.run(self.run())
        return self._result

    # -- the run ----------------------------------------------------------------------------
    async def run(self) -> LoadResult:
        """Drive the clients until the duration, the request count or stop()."""
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        limits = httpx.Limits(max_connections=self.clients, max_keepalive_connections=self.clients)
        verify: Any = str(self.ca) if self.ca else True
        started = time.monotonic()
        deadline = started + self.duration_s
        async with httpx.AsyncClient(verify=verify, limits=limits, timeout=self.request_timeout_s) as client:
            self._running.set()
            await asyncio.gather(*(self._client(client, i, deadline) for i in range(self.clients)))
        return LoadResult(self._outcomes, started, time.monotonic())

    async def _client(self, client: httpx.AsyncClient, index: int, deadline: float) -> None:
        assert self._stop is not None
        turn = index
        while not self._stop.is_set() and time.monotonic() < deadline and self._issued < self.max_requests:
            self._issued += 1
            target = self.targets[turn % len(self.targets)]
            turn += self.clients
            self._outcomes.append(await self._one(client, target))
            if self.pause_s:
                await asyncio.sleep(self.pause_s)

    async def _one(self, client: httpx.AsyncClient, target: Target) -> Outcome:
        started = time.monotonic()
        out = Outcome(target.label, started, 0.0)
        content = orjson.dumps(target.body) if target.body is not None else None
        headers = {**target.headers, **({"content-type": "application/json"} if content is not None else {})}
        try:
            async with client.stream(target.method, target.url, content=content, headers=headers) as resp:
                out.status = resp.status_code
                out.content_type = resp.headers.get("content-type")
                out.retry_after = resp.headers.get("retry-after")
                if target.stream and resp.status_code == 200:
                    await _read_stream(resp, out)
                else:
                    _read_error_code(await resp.aread(), out)
        except httpx.HTTPError as exc:
            out.error = type(exc).__name__
        out.latency_s = time.monotonic() - started
        return out


async def _read_stream(resp: httpx.Response, out: Outcome) -> None:
    """Consume SSE lines: note an error event, require `data: [DONE]` at the end."""
    done = False
    async for line in resp.aiter_lines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            done = True
            continue
        if '"error"' in data:
            try:
                doc = orjson.loads(data)
            except orjson.JSONDecodeError:
                out.stream_error = "unparsable_event"
                continue
            if isinstance(doc, dict) and "error" in doc:
                out.stream_error = str((doc["error"] or {}).get("code"))
    if not done:
        out.error = "incomplete_stream"


def _read_error_code(raw: bytes, out: Outcome) -> None:
    if out.status is not None and out.status < 400:
        return
    try:
        doc = orjson.loads(raw)
        out.error_code = str(doc["error"]["code"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        out.error_code = "not_json"


def chat_targets(base_url: str, provider: str, key: str, model: str, *, text: str = "hello reliability",
                 stream_too: bool = True, label: str | None = None) -> list[Target]:
    """A plain and (optionally) a streaming chat-completions target for one provider."""
    url = f"{base_url}/v1/chat/completions"
    headers = {"authorization": f"Bearer {key}"}
    body = {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 16}
    name = label or provider
    out = [Target(f"{name}/plain", url, headers=headers, body=body)]
    if stream_too:
        out.append(Target(f"{name}/stream", url, headers=headers, body={**body, "stream": True}, stream=True))
    return out
