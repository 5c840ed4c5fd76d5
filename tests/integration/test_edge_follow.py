"""The address follower against a real nginx: its SIGHUP reloads the master named in the rendered
pid file (new workers, still serving), and the CLI the edge image runs returns at once, leaving the
follower in the background. The resolver is a table here; the compose test moves a real gateway.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devstack.ports import free_ports
from devstack.procs import spawn, terminate
from devstack.tls import issue
from edge import follow
from edge import render as nginx_render
from tests.support.process import wait_ready

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"])) or "nginx"


@dataclass
class Edge:
    url: str
    ca: Path
    prefix: Path
    values: dict[str, str]
    proc: subprocess.Popen[bytes]

    def workers(self) -> set[int]:
        """Pids of the master's children (its workers)."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return {int(pid) for pid in children}

    def healthy(self) -> bool:
        return httpx.get(f"{self.url}/healthz", verify=str(self.ca), timeout=5).status_code == 200


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[Edge]:
    tls = issue(tmp_path / "tls")
    https, http = free_ports(2)
    values = {"NGINX_LISTEN_HTTPS": f"127.0.0.1:{https}", "NGINX_LISTEN_HTTP": f"127.0.0.1:{http}",
              "NGINX_TLS_CERT": str(tls["cert"]), "NGINX_TLS_KEY": str(tls["key"]), "NGINX_WORKER_PROCESSES": "2",
              "NGINX_PROVIDERS": "openai", "NGINX_UPSTREAM_OPENAI": "localhost:8100"}
    conf = nginx_render.render(tmp_path / "nginx", values)
    proc = spawn([NGINX, "-p", str(conf.parent), "-c", str(conf), "-e", str(conf.parent / "logs/error.log"),
                  "-g", "daemon off;"], tmp_path / "nginx.log")
    url = f"https://127.0.0.1:{https}"
    try:
        wait_ready(proc, f"{url}/healthz", tmp_path / "nginx.log", name="nginx", deadline_s=15, verify=str(tls["ca"]))
        yield Edge(url, tls["ca"], conf.parent, values, proc)
    finally:
        terminate(proc)


def _until(check: Callable[[], bool], within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_a_moved_address_reloads_the_real_nginx(edge: Edge) -> None:
    table = {"localhost": frozenset({"127.0.0.1"})}
    said: list[str] = []
    follower = follow.Follower(follow.targets(edge.values), edge.prefix / "nginx.pid",
                               resolver=lambda host, _port: table[host], say=said.append)
    assert follower.names == [("localhost", 8100)]
    follower.baseline()
    _until(lambda: len(edge.workers()) == 2)
    before = edge.workers()
    assert follower.tick() and said == []
    table["localhost"] = frozenset({"127.0.0.1", "::1"})
    assert follower.tick()
    assert said == [f"localhost 127.0.0.1 -> 127.0.0.1,::1; nginx reloaded (SIGHUP to {edge.proc.pid})"]
    _until(lambda: len(edge.workers()) == 2 and not edge.workers() & before)  # new workers, the old ones gone
    assert edge.proc.poll() is None and edge.healthy()


def test_the_cli_returns_at_once_and_follows_in_the_background(edge: Edge) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("NGINX_")}, **edge.values,
           "PYTHONPATH": str(REPO / "services"), "NGINX_FOLLOW_INTERVAL_S": "0.2"}
    log = edge.prefix / "follow.log"
    started = time.monotonic()
    with log.open("w") as out:  # a file, not a pipe: the background follower keeps stderr open
        result = subprocess.run([sys.executable, "-m", "edge.follow", "--prefix", str(edge.prefix)], env=env,
                                stdout=out, stderr=out, timeout=30, check=False)
    assert result.returncode == 0 and log.read_text() == "", log.read_text()
    assert time.monotonic() - started < 10
    found = subprocess.run(["pgrep", "-f", f"edge.follow --prefix {edge.prefix}$"], capture_output=True, text=True,
                           check=False)
    pids = [int(pid) for pid in found.stdout.split()]
    assert len(pids) == 1, found
    try:
        time.sleep(0.6)  # a few rounds: localhost stays where it is, so nginx keeps its workers
        assert Path(f"/proc/{pids[0]}").exists()
    finally:
        os.kill(pids[0], 15)


def test_a_renewed_certificate_is_served_after_the_follower_reloads_the_real_nginx(edge: Edge,
                                                                                    tmp_path: Path) -> None:
    # nginx reads its certificate only when it loads its config: a renewal (cert-manager rewriting the Secret,
    # Kubernetes swapping the mounted files) is served once the follower sees the new content and reloads it.
    host, port = edge.url.removeprefix("https://").split(":")
    served = lambda: ssl.get_server_certificate((host, int(port)))  # noqa: E731 - read twice
    said: list[str] = []
    follower = follow.Follower([], edge.prefix / "nginx.pid", say=said.append,
                               files=follow.certificates(edge.values))
    follower.baseline()
    old = served()
    assert follower.tick() and said == []  # nothing changed: no reload
    renewed = issue(tmp_path / "renewed")
    for name, source in (("NGINX_TLS_CERT", renewed["cert"]), ("NGINX_TLS_KEY", renewed["key"])):
        Path(edge.values[name]).write_bytes(source.read_bytes())
    assert served() == old  # not before a reload
    assert follower.tick()
    assert said and said[0].endswith(f"changed; nginx reloaded (SIGHUP to {edge.proc.pid})"), said
    _until(lambda: served() != old)
    assert served() == ssl.DER_cert_to_PEM_cert(ssl.PEM_cert_to_DER_cert(renewed["cert"].read_text()))
    assert edge.proc.poll() is None
