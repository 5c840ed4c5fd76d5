"""Start ``python -m mockllm`` as a real uvicorn subprocess on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "services"


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
        with log.open("wb") as out:
            cmd = [sys.executable, "-m", "mockllm", "--host", "127.0.0.1", "--port", str(port), "--log-level", "info"]
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=penv)
        server = MockServer(url, port, log)
        try:
            deadline = time.monotonic() + startup_timeout
            while not _healthy(url):
                if proc.poll() is not None:
                    raise RuntimeError(f"mockllm exited with {proc.returncode}:\n{server.log_text()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"mockllm not healthy after {startup_timeout}s:\n{server.log_text()}")
                time.sleep(0.05)
            yield server
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
