"""Security review finding 2 with real nginx: per-IP limits and logs use the real client address,
taken from X-Forwarded-For only when the peer is a configured trusted proxy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from devstack.ports import free_ports
from devstack.procs import spawn, terminate
from devstack.tls import issue
from edge import render as nginx_render
from tests.integration.test_edge_standalone import NGINX, FakeGateway, _wait_ready
from tests.support import fake_http

pytestmark = pytest.mark.integration


@contextmanager
def _edge(root: Path, trusted: str) -> Iterator[tuple[str, Path, Path, FakeGateway]]:
    gateway = FakeGateway()
    server = fake_http.start(gateway.handler())
    upstream = f"127.0.0.1:{server.server_address[1]}"
    tls = issue(root / "tls")
    https, http = free_ports(2)
    # One request a minute per client IP, plus one burst: the third from the same client is refused.
    conf = nginx_render.render(root / "nginx", {
        "NGINX_LISTEN_HTTPS": f"127.0.0.1:{https}", "NGINX_LISTEN_HTTP": f"127.0.0.1:{http}",
        "NGINX_TLS_CERT": str(tls["cert"]), "NGINX_TLS_KEY": str(tls["key"]), "NGINX_WORKER_PROCESSES": "1",
        "NGINX_RATE_IP": "1r/m", "NGINX_BURST_IP": "1", "NGINX_TRUSTED_PROXIES": trusted,
        **{f"NGINX_UPSTREAM_{p}": upstream for p in ("OPENAI", "ANTHROPIC", "COHERE")}})
    proc = spawn([NGINX, "-p", str(conf.parent), "-c", str(conf), "-e", str(conf.parent / "logs/error.log"),
                  "-g", "daemon off;"], root / "nginx.log")
    url = f"https://127.0.0.1:{https}"
    try:
        _wait_ready(proc, url, tls["ca"], root / "nginx.log")
        yield url, tls["ca"], conf.parent / "logs" / "access.log", gateway
    finally:
        terminate(proc)
        server.stop()


def _get(url: str, ca: Path, client: str) -> int:
    return httpx.get(f"{url}/openai/healthz", verify=str(ca), headers={"X-Forwarded-For": client}).status_code


def test_behind_a_trusted_balancer_each_client_has_its_own_limit(tmp_path: Path) -> None:
    with _edge(tmp_path, "127.0.0.1/32, 10.0.0.0/8") as (url, ca, access_log, gateway):
        assert [_get(url, ca, "203.0.113.10") for _ in range(3)] == [200, 200, 429]
        assert _get(url, ca, "203.0.113.20") == 200  # another client behind the same balancer
        # A client cannot dodge its limit by prepending addresses: the last untrusted hop counts.
        assert _get(url, ca, "198.51.100.1, 203.0.113.10") == 429
        forwarded = {r["headers"]["x-forwarded-for"] for r in gateway.requests("/healthz")}
        assert forwarded == {"203.0.113.10", "203.0.113.20"}
    logged = [json.loads(line)["remote_addr"] for line in access_log.read_text().splitlines()]
    assert set(logged) >= {"203.0.113.10", "203.0.113.20"} and "127.0.0.1" not in logged[-5:]


def test_an_untrusted_peer_cannot_choose_its_address(tmp_path: Path) -> None:
    with _edge(tmp_path, "") as (url, ca, _, gateway):
        # Three different forged X-Forwarded-For values, one real peer: one bucket.
        assert [_get(url, ca, f"203.0.113.{i}") for i in range(3)] == [200, 200, 429]
        assert {r["headers"]["x-forwarded-for"] for r in gateway.requests("/healthz")} == {"127.0.0.1"}


def test_a_bad_trusted_proxy_entry_is_refused(tmp_path: Path) -> None:
    with pytest.raises(nginx_render.RenderError, match="NGINX_TRUSTED_PROXIES"):
        nginx_render.settings({"NGINX_TRUSTED_PROXIES": "10.0.0.0/8;evil", "NGINX_PREFIX": str(tmp_path)})
