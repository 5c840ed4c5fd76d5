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
from pathlib import Path
from typing import LiteralString, TypedDict

import psycopg
import pytest

from devstack.ports import answers, free_port
from devstack.procs import spawn, terminate, wait_until


def pg_binary(name: str) -> str:
    """`initdb`/`postgres` from PATH or Debian's versioned directory."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)),
                                       None)
    if found is None:
        pytest.fail(f"{name} is not installed: run `make limits-tools` (apt-get install postgresql)")
    return found


class _RunAs(TypedDict, total=False):
    """The `user`/`group` keywords of subprocess and `spawn`: none, or both (then `nobody`)."""

    user: int
    group: int


class PostgresServer:
    """One throwaway cluster on 127.0.0.1:<free port>, user `postgres`, trust auth on loopback."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="llmgw-pg-"))  # not under pytest's 0700 tmp: `nobody` must enter
        self.data, self.sockets, self.log = self.root / "data", self.root / "run", self.root / "postgres.log"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        nobody = pwd.getpwnam("nobody") if os.geteuid() == 0 else None
        self._user: _RunAs = {"user": nobody.pw_uid, "group": nobody.pw_gid} if nobody else {}
        self.sockets.mkdir()
        for path in (self.root, self.sockets):
            path.chmod(0o755)
            if nobody:
                os.chown(path, nobody.pw_uid, nobody.pw_gid)
        self._run([pg_binary("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                   "--no-sync"])

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, argv: list[str]) -> None:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False,
                                **self._user)
        if result.returncode != 0:
            pytest.fail(f"{argv[0]} failed:\n{result.stdout}\n{result.stderr}")

    def start(self, deadline_s: float = 30.0) -> PostgresServer:
        """Start postgres and wait until it accepts a connection."""
        if answers(self.port):
            pytest.fail(f"port {self.port} already answers; refusing to start postgres on it")
        argv = [pg_binary("postgres"), "-D", str(self.data), "-h", "127.0.0.1", "-p", str(self.port),
                "-k", str(self.sockets), "-c", "fsync=off", "-c", "synchronous_commit=off",
                "-c", "full_page_writes=off"]
        self.proc = spawn(argv, self.log, **self._user)

        def accepts() -> bool:
            try:
                with psycopg.connect(self.dsn, connect_timeout=1):
                    return True
            except psycopg.OperationalError:
                return False

        wait_until(self.proc, accepts, name="postgres", log=self.log, deadline_s=deadline_s)
        return self

    def stop(self) -> None:
        """Fast shutdown (SIGINT: disconnect clients, stop), then kill if it hangs."""
        if self.proc is not None:
            terminate(self.proc, grace_s=20, sig=signal.SIGINT)

    def remove(self) -> None:
        """Stop and delete the cluster."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def query(self, text: LiteralString) -> list[tuple]:
        """Run one statement, a literal (psycopg takes no plain str: SQL injection), and return its rows."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return conn.execute(text).fetchall()
