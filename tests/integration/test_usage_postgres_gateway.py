"""A real gateway writing usage to a real PostgreSQL: an outage under load loses nothing, SIGTERM flushes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.ports import free_port
from devstack.procs import spawn, terminate
from gateway.auth import keys
from tests.support.load import Load, chat_targets
from tests.support.mockproc import SERVICES, MockServer, run_mock
from tests.support.pgproc import PostgresServer
from tests.support.process import wait_ready

pytestmark = pytest.mark.integration

OUTAGE_S = 30.0


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    with run_mock({"MOCK_API_KEYS": "sk-mock-usage"}) as server:
        yield server


def start_gateway(mock: MockServer, pg: PostgresServer, tmp_path: Path,
                  **env: str) -> tuple[subprocess.Popen, str, str]:
    full, key_id, digest = keys.generate()
    port = free_port()
    genv = {**os.environ, "PYTHONPATH": str(SERVICES), "GATEWAY_PROVIDER": "openai", "GATEWAY_PORT": str(port),
            "GATEWAY_UPSTREAM_BASE_URL": f"{mock.url}/v1", "OPENAI_API_KEY": "sk-mock-usage",
            "GATEWAY_CLIENT_KEYS": f"{key_id}:{digest}:openai", "GATEWAY_USAGE_BACKEND": "postgres",
            "GATEWAY_POSTGRES_DSN": pg.dsn, **env}
    log = tmp_path / "gateway.log"
    proc = spawn([sys.executable, "-m", "gateway"], log, env=genv)
    url = f"http://127.0.0.1:{port}"
    wait_ready(proc, f"{url}/readyz", log, name="gateway")
    return proc, url, full


def rows(pg: PostgresServer) -> tuple[int, int]:
    try:
        [(count, distinct)] = pg.query("SELECT count(*), count(DISTINCT request_id) FROM llm_usage")
    except Exception:  # noqa: BLE001 — the table appears with the first batch
        return 0, 0
    return count, distinct


def test_postgres_stopped_30s_under_load_every_row_arrives_once(mock: MockServer, pg: PostgresServer,
                                                                tmp_path: Path) -> None:
    proc, url, key = start_gateway(mock, pg, tmp_path, GATEWAY_USAGE_FLUSH_S="0.5")
    try:
        load = Load(chat_targets(url, "openai", key, "gpt-4o-mini"), clients=8, duration_s=OUTAGE_S + 20,
                    max_requests=50_000, request_timeout_s=20)
        with load:
            time.sleep(3)
            pg.stop()
            stopped = time.monotonic()
            time.sleep(OUTAGE_S / 2)
            degraded = httpx.get(f"{url}/readyz", timeout=5).json()
            time.sleep(OUTAGE_S / 2)
            pg.start()
            back = time.monotonic()
            time.sleep(3)
            result = load.stop()
        during = result.between(stopped, back)
        deadline = time.monotonic() + 20
        while rows(pg)[0] < result.count and time.monotonic() < deadline:
            time.sleep(0.5)
        count, distinct = rows(pg)
        print(f"\nPostgreSQL stopped {OUTAGE_S:.0f} s under load: {result.count} requests "
              f"({len(during)} during the outage, kinds {dict(result.kinds())}); rows {count}, distinct {distinct}; "
              f"buffered at mid-outage {degraded['checks']['usage']['buffered']}")
        assert result.failures() == [] and during
        assert degraded["status"] == "degraded" and degraded["checks"]["usage"]["degraded"] is True
        assert count == distinct == result.count
    finally:
        terminate(proc)


def test_sigterm_flushes_buffered_rows(mock: MockServer, pg: PostgresServer, tmp_path: Path) -> None:
    proc, url, key = start_gateway(mock, pg, tmp_path, GATEWAY_USAGE_FLUSH_S="300", GATEWAY_USAGE_BATCH="10000")
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
    with httpx.Client(timeout=30, headers={"authorization": f"Bearer {key}"}) as client:
        for _ in range(25):
            assert client.post(f"{url}/v1/chat/completions", json=body).status_code == 200
    assert httpx.get(f"{url}/readyz").json()["checks"]["usage"]["buffered"] == 25
    assert rows(pg) == (0, 0)  # nothing written yet: the flush interval is 300 s
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a graceful shutdown
    assert rows(pg) == (25, 25)
