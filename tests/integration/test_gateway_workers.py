"""GATEWAY_WORKERS=2: real uvicorn worker processes; metrics and audit records add up across them.

One `python -m gateway` with two workers behind one port, a real mock upstream and a real redis-server
(the limits backend several workers need). Requests arrive on fresh connections until both workers have
served some; then every scrape (whichever worker answers it) reports the total of both, and the per-worker
audit files together hold exactly one record per request.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from devstack.ports import free_port
from devstack.procs import spawn, terminate
from gateway.auth import keys
from tests.support.mockproc import SERVICES, MockServer, run_mock
from tests.support.process import wait_ready
from tests.support.redisproc import RedisServer

pytestmark = pytest.mark.integration
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "workers test"}], "max_tokens": 8}
ROUNDS, PER_ROUND = 6, 24  # bounded: at most 144 requests


@pytest.fixture
def mock() -> Iterator[MockServer]:
    with run_mock({"MOCK_API_KEYS": "sk-mock-workers"}) as server:
        yield server


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    srv = RedisServer(tmp_path).start()
    try:
        yield srv
    finally:
        srv.stop()


def _served(audit_dir: Path) -> dict[str, list[dict]]:
    return {p.name: [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
            for p in sorted(audit_dir.glob("gateway.pid*.log"))}


def _chat_total(text: str) -> float:
    pattern = r'^llm_gateway_requests_total\{[^}]*route="chat"[^}]*status="200"[^}]*\} (\S+)$'
    return sum(float(v) for v in re.findall(pattern, text, re.M))


def test_two_workers_share_metrics_and_write_every_audit_record(mock: MockServer, redis_server: RedisServer,
                                                                tmp_path: Path) -> None:
    full, key_id, digest = keys.generate()
    port = free_port()
    audit_dir = tmp_path / "audit"
    env = {**os.environ, "PYTHONPATH": str(SERVICES), "GATEWAY_PROVIDER": "openai", "GATEWAY_PORT": str(port),
           "GATEWAY_WORKERS": "2", "GATEWAY_LIMITS_BACKEND": "redis", "GATEWAY_REDIS_URL": redis_server.url,
           "GATEWAY_UPSTREAM_BASE_URL": f"{mock.url}/v1", "OPENAI_API_KEY": "sk-mock-workers",
           "GATEWAY_CLIENT_KEYS": f"{key_id}:{digest}:openai", "GATEWAY_AUDIT_LOG": str(audit_dir / "gateway.log"),
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    log = tmp_path / "gateway.log"
    proc = spawn([sys.executable, "-m", "gateway"], log, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, f"{url}/readyz", log, name="gateway (2 workers)", deadline_s=60)

        def one(_: int) -> int:  # a fresh connection each time: either worker may accept it
            with httpx.Client(timeout=20) as client:
                return client.post(f"{url}/v1/chat/completions", json=CHAT,
                                   headers={"Authorization": f"Bearer {full}"}).status_code

        sent = 0
        with ThreadPoolExecutor(8) as pool:
            for _ in range(ROUNDS):
                statuses = list(pool.map(one, range(PER_ROUND)))
                assert statuses == [200] * PER_ROUND, statuses
                sent += PER_ROUND
                if len([f for f, recs in _served(audit_dir).items() if recs]) >= 2:
                    break
        served = _served(audit_dir)
        print(f"\n2 workers: {sent} requests, audit records per worker file "
              f"{ {name: len(recs) for name, recs in served.items()} }")
        assert len([recs for recs in served.values() if recs]) == 2, f"one worker served everything: {served.keys()}"
        records = [r for recs in served.values() for r in recs if r["route"] == "chat"]
        assert len(records) == sent and len({r["id"] for r in records}) == sent

        # Each worker publishes its readiness every second: both ready, the shared gauge reads 1 (livemin).
        deadline = time.monotonic() + 10
        while not re.search(r'^llm_gateway_ready\{provider="openai"\} 1\.0$', httpx.get(f"{url}/metrics").text, re.M):
            assert time.monotonic() < deadline, "the workers' shared readiness never read 1"
            time.sleep(0.2)
        for _ in range(4):  # each scrape may land on either worker: all report the sum of both
            with httpx.Client(timeout=10) as client:
                text = client.get(f"{url}/metrics").text
            assert _chat_total(text) == sent, text[:2000]
            # livesum over the workers: nothing in flight (the scrape itself is not counted)
            assert re.search(r'^llm_gateway_in_flight_requests\{provider="openai"\} 0\.0$', text, re.M), text[:600]
            assert re.search(r'^llm_gateway_ready\{provider="openai"\} 1\.0$', text, re.M)
    finally:
        terminate(proc)
    assert "Traceback" not in log.read_text(errors="replace")


def test_more_than_one_worker_needs_the_redis_limiter(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(SERVICES), "GATEWAY_PROVIDER": "openai", "GATEWAY_WORKERS": "2"}
    out = subprocess.run([sys.executable, "-m", "gateway"], env=env, capture_output=True, text=True, timeout=60,
                         check=False)
    assert out.returncode == 2
    assert "GATEWAY_WORKERS > 1 needs GATEWAY_LIMITS_BACKEND=redis" in out.stderr
