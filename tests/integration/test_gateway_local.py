"""Tests that need their own local processes: a short upstream timeout, a slow mock, and start-up failures.

The client-disconnect tests look at the gateway process's own TCP connections to the mock
(`/proc/<pid>/fd` joined with `/proc/net/tcp`): while the mock is still streaming (or still
waiting), that connection exists; once the client is gone it must be closed long before the
mock would have finished.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

import catalogue
from tests.support.stack import RunningStack, local_stack

pytestmark = [pytest.mark.integration, pytest.mark.local_stack]
PROVIDERS = catalogue.names()
SERVICES = Path(__file__).resolve().parents[2] / "services"


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """Gateways that time out after 4 s (2 s of stream silence) without retrying, before a slow mock."""
    with local_stack(tmp_path_factory.mktemp("slow"),
                     gateway_env={"GATEWAY_UPSTREAM_TIMEOUT_S": "4", "GATEWAY_MAX_RETRIES": "0",
                                  "GATEWAY_STREAM_IDLE_TIMEOUT_S": "2"},
                     mock_env={"MOCK_TIMEOUT_S": "10", "MOCK_CHUNK_DELAY_MS": "250"}) as running:
        yield running


def _gateway_pid(stack: RunningStack, provider: str) -> int:
    assert stack.stack is not None
    return next(int(r["pid"]) for r in stack.stack.records() if r["name"] == f"gateway-{provider}")


def upstream_connections(stack: RunningStack, provider: str) -> int:
    """Established TCP connections from this provider's gateway process to the mock."""
    assert stack.stack is not None
    mock_port = stack.stack.config.mock_port
    pid = _gateway_pid(stack, provider)
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == mock_port and fields[3] == "01" and fields[9] in inodes:
                count += 1
    return count


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _chat(stack: RunningStack, provider: str, text: str, stream: bool) -> tuple[str, dict, dict]:
    url = f"{stack.url}/{provider}/v1/chat/completions"
    body = {"model": stack.model(provider), "stream": stream, "messages": [{"role": "user", "content": text}]}
    return url, body, {"Authorization": f"Bearer {stack.keys[provider]}"}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_client_disconnect_mid_stream_cancels_the_upstream_call(slow: RunningStack, provider: str) -> None:
    words = " ".join(f"w{i}" for i in range(120))  # ~30 s of streaming at 250 ms per chunk
    url, body, headers = _chat(slow, provider, words, stream=True)
    before = upstream_connections(slow, provider)
    with httpx.Client(verify=str(slow.ca), timeout=30) as client, \
            client.stream("POST", url, json=body, headers=headers) as resp:
        assert resp.status_code == 200
        lines = resp.iter_lines()
        got = [line for line in (next(lines) for _ in range(6)) if line.startswith("data: ")]
        assert len(got) >= 2
        during = upstream_connections(slow, provider)
        assert during >= 1
    # the client is gone: nginx → gateway → the SDK's upstream connection must close within seconds
    assert wait_for(lambda: upstream_connections(slow, provider) < during, timeout=5), (before, during)


def _leave_before_the_answer(stack: RunningStack, provider: str, url: str, body: dict, headers: dict) -> None:
    """A client that gives up (1.5 s read timeout) while the mock holds the answer; the gateway's upstream
    connection must close well before the gateway's own 4 s upstream timeout."""
    before = upstream_connections(stack, provider)

    def call() -> None:
        with httpx.Client(verify=str(stack.ca), timeout=httpx.Timeout(30, read=1.5)) as client, \
                pytest.raises(httpx.ReadTimeout):
            client.post(url, json=body, headers=headers)

    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(call)
        assert wait_for(lambda: upstream_connections(stack, provider) > before, timeout=1.2)  # the mock holds it
        during = upstream_connections(stack, provider)
        pending.result()
    assert wait_for(lambda: upstream_connections(stack, provider) < during, timeout=1.5)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_client_disconnect_before_the_first_chunk_cancels_too(slow: RunningStack, provider: str) -> None:
    _leave_before_the_answer(slow, provider, *_chat(slow, provider, "wait for it [[mock:latency=20000]]", stream=True))
    # recorded as 499, not 504
    metrics = httpx.get(f"{slow.gateway_urls[provider]}/metrics").text
    assert wait_for(lambda: 'route="chat",status="499"' in httpx.get(f"{slow.gateway_urls[provider]}/metrics").text,
                    timeout=5), metrics


def _messages(stack: RunningStack, text: str) -> tuple[str, dict, dict]:
    body = {"model": stack.model("anthropic"), "max_tokens": 512, "stream": True,
            "messages": [{"role": "user", "content": text}]}
    return (f"{stack.url}/anthropic/v1/messages", body,
            {"x-api-key": stack.keys["anthropic"], "anthropic-version": "2023-06-01"})


def test_client_disconnect_mid_messages_stream_cancels_the_upstream_call(slow: RunningStack) -> None:
    url, body, headers = _messages(slow, " ".join(f"w{i}" for i in range(120)))
    before = upstream_connections(slow, "anthropic")
    with httpx.Client(verify=str(slow.ca), timeout=30) as client, \
            client.stream("POST", url, json=body, headers=headers) as resp:
        assert resp.status_code == 200
        lines = resp.iter_lines()
        # message_start, content_block_start, ping, then the first delta: 3 lines each (event, data, blank)
        got = [line for line in (next(lines) for _ in range(12)) if line.startswith("event: ")]
        assert "event: content_block_delta" in got, got
        during = upstream_connections(slow, "anthropic")
        assert during > before
    assert wait_for(lambda: upstream_connections(slow, "anthropic") < during, timeout=5), (before, during)


def test_client_disconnect_before_the_first_messages_event_cancels_too(slow: RunningStack) -> None:
    # the mock holds its answer, headers included (a stream's latency directive would send them first)
    _leave_before_the_answer(slow, "anthropic", *_messages(slow, "wait for it [[mock:fault=timeout]]"))
    # recorded as 499
    metrics_url = f"{slow.gateway_urls['anthropic']}/metrics"
    assert wait_for(lambda: 'route="messages",status="499"' in httpx.get(metrics_url).text, timeout=5)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_upstream_timeout_is_504(slow: RunningStack, provider: str, stream: bool) -> None:
    url, body, headers = _chat(slow, provider, "hello [[mock:fault=timeout]]", stream=stream)
    started = time.monotonic()
    with httpx.Client(verify=str(slow.ca), timeout=30) as client:
        resp = client.post(url, json=body, headers=headers)
    elapsed = time.monotonic() - started
    assert resp.status_code == 504, resp.text
    assert resp.json()["error"]["code"] == "upstream_timeout"
    assert 3.5 < elapsed < 9  # the gateway's 4 s, not the mock's 10 s stall


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_stream_silent_past_the_idle_timeout_ends_with_an_error_event(slow: RunningStack, provider: str) -> None:
    url, body, headers = _chat(slow, provider, "a b c d e f g h [[mock:fault=stall]]", stream=True)
    before = upstream_connections(slow, provider)
    started = time.monotonic()
    with httpx.Client(verify=str(slow.ca), timeout=30) as client:
        resp = client.post(url, json=body, headers=headers)
    elapsed = time.monotonic() - started
    assert resp.status_code == 200, resp.text  # the stream had started: the timeout is reported in-band
    events = [line[6:] for line in resp.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    error = json.loads(events[-2])["error"]
    assert error["code"] == "upstream_timeout" and "sent nothing for 2 s" in error["message"], error
    before_error = [json.loads(e) for e in events[:-2]]  # the turn opens with its first text (none yet: none)
    assert not before_error or before_error[0]["choices"][0]["delta"]["role"] == "assistant"
    assert elapsed < 9  # the gateway's bound, not the end of the mock's 10 s silence
    assert wait_for(lambda: upstream_connections(slow, provider) <= before, timeout=5)  # the upstream call closed


def test_a_messages_stream_silent_past_the_idle_timeout_ends_with_an_error_event(slow: RunningStack) -> None:
    headers = {"x-api-key": slow.keys["anthropic"], "anthropic-version": "2023-06-01"}
    body = {"model": slow.model("anthropic"), "max_tokens": 64, "stream": True,
            "messages": [{"role": "user", "content": "a b c d e f g h [[mock:fault=stall]]"}]}
    with httpx.Client(verify=str(slow.ca), timeout=30) as client:
        resp = client.post(f"{slow.url}/anthropic/v1/messages", json=body, headers=headers)
    assert resp.status_code == 200, resp.text
    blocks = resp.text.strip().split("\n\n")
    assert blocks[0].startswith("event: message_start")
    assert blocks[-1].startswith("event: error\n") and "sent nothing for 2 s" in blocks[-1], blocks[-1]


def test_in_flight_gauge_returns_to_zero(slow: RunningStack) -> None:
    for provider in PROVIDERS:
        text = httpx.get(f"{slow.gateway_urls[provider]}/metrics").text
        line = next(x for x in text.splitlines() if x.startswith("llm_gateway_in_flight_requests{"))
        assert line.endswith(" 0.0")  # nothing in flight: the /metrics request itself is not counted


@pytest.mark.parametrize(("env", "variable"), [
    ({"GATEWAY_PROVIDER": "gemini"}, "GATEWAY_PROVIDER"),
    ({"GATEWAY_PROVIDER": "openai", "GATEWAY_PORT": "eighty"}, "GATEWAY_PORT"),
    ({"GATEWAY_PROVIDER": "openai", "GATEWAY_SECRETS_BACKEND": "vault"}, "GATEWAY_VAULT_ADDR"),
])
def test_bad_setting_stops_start_up_with_one_line(env: dict[str, str], variable: str) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    clean["PYTHONPATH"] = os.pathsep.join(p for p in (str(SERVICES), clean.get("PYTHONPATH", "")) if p)
    proc = subprocess.run([sys.executable, "-m", "gateway"], env={**clean, **env}, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0] and "Traceback" not in proc.stderr, proc.stderr
