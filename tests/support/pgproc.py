"""A real PostgreSQL server for tests (Debian's packages): initdb into a temp dir, postgres on a free port.

PostgreSQL refuses to run as root, and CI runs as root: then the cluster belongs to `nobody` and both
initdb and postgres run as that user. `stop()` is a fast shutdown (SIGINT) and `start()` again brings the
same cluster back, so a test can take the database away for a while and return it with its data.
A missing binary is a failure (the Makefile installs the packages), not a skip.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from tests.support.openbao import _port_answers, free_port


def pg_binary(name: str) -> str:
    """`initdb`/`postgres` from PATH or Debian's versioned directory."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)),
                                       None)
    if found is None:
        pytest.fail(f"{name} is not installed: run `make limits-tools` (apt-get install postgresql)")
    return found


class PostgresServer:
    """One throwaway cluster on 127.0.0.1:<free port>, user `postgres`, trust auth on loopback."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="llmgw-pg-"))  # not under pytest's 0700 tmp: `nobody` must enter
        self.data, self.sockets, self.log = self.root / "data", self.root / "run", self.root / "postgres.log"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._user: dict[str, int] = {}
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            self._user = {"user": nobody.pw_uid, "group": nobody.pw_gid}
        self.sockets.mkdir()
        for path in (self.root, self.sockets):
            path.chmod(0o755)
            if self._user:
                os.chown(path, self._user["user"], self._user["group"])
        self._run([pg_binary("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                   "--no-sync"])

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, argv: list[str]) -> None:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False,
                                **self._user)  # type: ignore[arg-type]
        if result.returncode != 0:
            pytest.fail(f"{argv[0]} failed:\n{result.stdout}\n{result.stderr}")

    def start(self, deadline_s: float = 30.0) -> PostgresServer:
        """Start postgres and wait until it accepts a connection."""
        if _port_answers(self.port):
            pytest.fail(f"port {self.port} already answers; refusing to start postgres on it")
        argv = [pg_binary("postgres"), "-D", str(self.data), "-h", "127.0.0.1", "-p", str(self.port),
                "-k", str(self.sockets), "-c", "fsync=off", "-c", "synchronous_commit=off",
                "-c", "full_page_writes=off"]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                         **self._user)  # type: ignore[arg-type]
        deadline = time.monotonic() + deadline_s
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"postgres exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                with psycopg.connect(self.dsn, connect_timeout=1):
                    return self
            except psycopg.OperationalError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"postgres not ready after {deadline_s:.0f} s:\n{self.log.read_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Fast shutdown (SIGINT: disconnect clients, stop), then kill if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def remove(self) -> None:
        """Stop and delete the cluster."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def query(self, text: str) -> list[tuple]:
        """Run one statement and return its rows."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return conn.execute(text).fetchall()  # type: ignore[arg-type]
