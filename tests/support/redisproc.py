"""A real redis-server process for tests (Debian's `redis-server`, never a fake).

`RedisServer(tmp_path).start()` runs it on a free loopback port with no persistence; `kill()` is a
crash (SIGKILL) and `start()` again brings an empty server back on the same port. Start-up refuses a
port that already answers, polls PING while watching `process.poll()`, and puts the server's output in
the failure message. A missing binary is a failure (the Makefile installs it), not a skip.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis

from tests.support.openbao import _port_answers, free_port


class RedisServer:
    """One redis-server on 127.0.0.1:<free port>."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log = self.dir / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, deadline_s: float = 15.0) -> RedisServer:
        """Start the server and wait until it answers PING."""
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            pytest.fail("redis-server is not installed: run `make limits-tools` (apt-get install redis-server)")
        if _port_answers(self.port):
            pytest.fail(f"port {self.port} already answers; refusing to start redis-server on it")
        argv = [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
                "--dir", str(self.dir), "--protected-mode", "yes", "--daemonize", "no"]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + deadline_s
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5)
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"redis-server exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                if client.ping():
                    client.close()
                    return self
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"redis-server not ready after {deadline_s:.0f} s:\n{self.log.read_text()}")
            time.sleep(0.05)

    def kill(self) -> None:
        """Crash the server (SIGKILL): no goodbye to its clients."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        """Terminate, wait, then kill."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()
