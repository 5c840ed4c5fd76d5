"""Start ``python -m mockllm`` as a real uvicorn subprocess on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from devstack.ports import free_port
from devstack.procs import spawn, terminate, wait_until

SERVICES = Path(__file__).resolve().parents[2] / "services"


@dataclass(frozen=True)
class MockServer:
    """A running mock: its base URL and log file."""

    url: str
    port: int
    log: Path

    def log_text(self) -> str:
        """Everything the process has written so far."""
        return self.log.read_text(errors="replace")


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=0.5) as resp:  # noqa: S310 - loopback http
            return resp.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def run_mock(env: Mapping[str, str] | None = None, startup_timeout: float = 20.0) -> Iterator[MockServer]:
    """Run the mock until the block exits; raise with its log if it does not become healthy."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    penv = {**os.environ, **(env or {})}
    penv["PYTHONPATH"] = os.pathsep.join(p for p in (str(SERVICES), penv.get("PYTHONPATH", "")) if p)
    with tempfile.TemporaryDirectory(prefix="mockllm-") as tmp:
        log = Path(tmp) / "mockllm.log"
        cmd = [sys.executable, "-m", "mockllm", "--host", "127.0.0.1", "--port", str(port), "--log-level", "info"]
        proc = spawn(cmd, log, env=penv)
        try:
            wait_until(proc, lambda: _healthy(url), name="mockllm", log=log, deadline_s=startup_timeout,
                       every_s=0.05)
            yield MockServer(url, port, log)
        finally:
            terminate(proc, grace_s=5)
