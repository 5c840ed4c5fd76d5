"""A real redis-server process for tests (Debian's `redis-server`, never a fake).

`RedisServer(tmp_path).start()` runs it on a free loopback port with no persistence; `kill()` is a
crash (SIGKILL) and `start()` again brings an empty server back on the same port. Start-up refuses a
port that already answers, polls PING while watching `process.poll()`, and puts the server's output in
the failure message. A missing binary is a failure (the Makefile installs it), not a skip.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import redis

from devstack.ports import answers, free_port
from devstack.procs import spawn, terminate, wait_until


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
        if answers(self.port):
            pytest.fail(f"port {self.port} already answers; refusing to start redis-server on it")
        argv = [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
                "--dir", str(self.dir), "--protected-mode", "yes", "--daemonize", "no"]
        self.proc = spawn(argv, self.log)
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5)

        def pong() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        try:
            wait_until(self.proc, pong, name="redis-server", log=self.log, deadline_s=deadline_s, every_s=0.05)
        finally:
            client.close()
        return self

    def kill(self) -> None:
        """Crash the server (SIGKILL): no goodbye to its clients."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        """Terminate, wait, then kill."""
        if self.proc is not None:
            terminate(self.proc)
