"""Streams on a SIGKILLed replica: the official openai SDK raises, it never ends a cut stream "successfully".

Two gateway replicas per provider behind the real nginx; the mock paces its chunks so streams are in flight
when one replica is killed. What a client can see is fixed by the edge: once nginx has relayed the 200 and
part of the body it cannot send anything else (nginx-light has no njs/lua, and neither `error_page` nor
`proxy_next_upstream` applies after the header went out). When the upstream connection dies it closes the
client's connection without the terminating zero-length chunk, so an HTTP/1.1 client reads an incomplete
chunked body: httpx raises `RemoteProtocolError`, which the openai SDK raises as `openai.APIConnectionError`
while the stream is iterated. That error, not an SSE error event, is the documented outcome (docs/limits.md).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai
import pytest

from devstack.ports import free_ports
from tests.reliability.conftest import show, stack_overrides
from tests.reliability.helpers import pid_of, signal_and_reap, wait_for
from tests.support.stack import RunningStack, local_stack

pytestmark = [pytest.mark.integration, pytest.mark.local_stack]

CHUNK_MS = 100
WORDS = 40  # the mock echoes the prompt: 40 chunks, about 4 s per stream
STREAMS = 8
VICTIM = "gateway-openai-2"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    ports = free_ports(3)
    replica_ports = {p: [port] for p, port in zip(("openai", "anthropic", "cohere"), ports, strict=True)}
    overrides = stack_overrides(mock_env={"MOCK_CHUNK_DELAY_MS": str(CHUNK_MS)})
    with local_stack(tmp_path_factory.mktemp("rel-stream-kill"), replicas=2, replica_ports=replica_ports,
                     **overrides) as running:
        yield running


@dataclass
class StreamOutcome:
    chunks: int = 0
    text: str = ""
    finish: str | None = None
    error: BaseException | None = None
    ended: float = 0.0
    started: threading.Event = field(default_factory=threading.Event)


def run_stream(client: openai.OpenAI, model: str, prompt: str, out: StreamOutcome) -> StreamOutcome:
    """Iterate one SDK stream to its end, recording what arrived and whatever the SDK raised."""
    try:
        stream = client.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}],
                                                stream=True, max_tokens=WORDS + 10)
        for chunk in stream:
            out.chunks += 1
            out.started.set()
            if chunk.choices:
                out.text += chunk.choices[0].delta.content or ""
                out.finish = chunk.choices[0].finish_reason or out.finish
    except Exception as exc:  # noqa: BLE001 — what the SDK raises is the observation
        out.error = exc
    finally:
        out.ended = time.monotonic()
        out.started.set()
    return out


def test_streams_cut_by_a_killed_replica_raise_in_the_openai_sdk(stack: RunningStack,
                                                                 figures: dict[str, Any]) -> None:
    prompt = " ".join(f"w{i}" for i in range(WORDS))
    http = httpx.Client(verify=str(stack.ca), timeout=60)
    client = openai.OpenAI(base_url=f"{stack.url}/openai/v1", api_key=stack.keys["openai"], max_retries=0,
                           http_client=http)  # pyright: ignore[reportArgumentType]  # httpx.Client accepted at runtime
    victim = pid_of(stack, VICTIM)
    outcomes = [StreamOutcome() for _ in range(STREAMS)]
    with ThreadPoolExecutor(STREAMS) as pool:
        futures = [pool.submit(run_stream, client, stack.model("openai"), prompt, o) for o in outcomes]
        wait_for(lambda: all(o.started.is_set() for o in outcomes), within=20, what="every stream's first chunk")
        assert all(o.error is None for o in outcomes), [repr(o.error) for o in outcomes]
        killed = time.monotonic()
        signal_and_reap(victim, signal.SIGKILL)
        done = [f.result(timeout=60) for f in futures]
    http.close()
    assert stack.stack is not None
    stack.stack.restart_service(VICTIM)

    raised = [o for o in done if o.error is not None]
    completed = [o for o in done if o.error is None]
    show(figures, "stream_on_killed_replica", {
        "streams": STREAMS, "chunk_ms": CHUNK_MS, "words": WORDS,
        "raised": len(raised), "completed": len(completed),
        "errors": sorted({f"{_name(o.error)}: {o.error} (from {_name(o.error.__cause__)}: {o.error.__cause__})"
                          for o in raised if o.error}),
        "chunks_before_error": sorted(o.chunks for o in raised),
        "error_after_kill_s": round(max(o.ended for o in raised) - killed, 2) if raised else None,
    })
    # nginx balances the streams over both replicas: the victim held some of them.
    assert raised, "no stream was on the killed replica"
    for outcome in raised:  # cut mid-stream, after content had arrived, as a transport error
        assert 0 < outcome.chunks < WORDS + 2, outcome
        # The SDK wraps httpx's "incomplete chunked read" (nginx closed without the last chunk).
        assert isinstance(outcome.error, openai.APIConnectionError), repr(outcome.error)
        assert isinstance(outcome.error.__cause__, httpx.RemoteProtocolError), repr(outcome.error.__cause__)
        assert outcome.ended - killed < 5, "the cut reached the client late"
    for outcome in completed:  # never a truncated stream passed off as a finished one
        assert outcome.text.split() == ["Echo:", *prompt.split()] and outcome.finish == "stop", outcome


def _name(exc: BaseException | None) -> str:
    return "None" if exc is None else f"{type(exc).__module__}.{type(exc).__name__}"
