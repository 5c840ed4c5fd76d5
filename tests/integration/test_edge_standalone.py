"""The edge config on its own: nginx -t, gixy, sslyze, and exactly what reaches a gateway.

Here nginx runs alone in front of a recording fake gateway, with a certificate that follows the
CA/Browser rules sslyze checks (non-critical SAN, 90-day life), so every header that crosses the
edge can be asserted and the TLS scan judges the config rather than the dev certificate.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest

from devstack.ports import free_ports
from devstack.procs import spawn, terminate
from devstack.tls import issue
from edge import render as nginx_render
from tests.support import fake_http
from tests.support.process import wait_ready

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
GOOD_KEY = "lgw_standalone0001_secretsecretsecretsecretsecret00"
SLOW_PART, SLOW_PAUSE_S = b"x" * 64, 1.0
NGINX = shutil.which("nginx", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"])) or "nginx"


@dataclass
class FakeGateway:
    """Records every request; /v1/auth/verify accepts GOOD_KEY only."""

    seen: list[dict] = field(default_factory=list)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                gateway.seen.append({"method": self.command, "path": self.path, "body": body,
                                     "headers": {k.lower(): v for k, v in self.headers.items()}})
                if b'"slow"' in body:  # first half, a pause, second half: as a stream or a plain reply
                    stream = b'"stream":true' in body.replace(b" ", b"")
                    self._send_slowly({"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"} if stream
                                      else {"Content-Type": "application/json"})
                elif self.path != "/v1/auth/verify":
                    self._send(200, b'{"ok":true}', {"Content-Type": "application/json"})
                elif GOOD_KEY in (self.headers.get("x-api-key"), self.headers.get("authorization", "")[7:]):
                    self._send(204, b"", {"X-Client-Id": "client-1", "X-Auth-Method": "api_key"})
                else:
                    self._send(401, b'{"error":{"message":"bad key","type":"authentication_error","code":"k"}}',
                               {"Content-Type": "application/json", "WWW-Authenticate": 'Bearer realm="llm-gateway"'})

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _send_slowly(self, headers: dict[str, str]) -> None:
                self.send_response(200)
                for key, value in {**headers, "Content-Length": str(2 * len(SLOW_PART))}.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(SLOW_PART)
                self.wfile.flush()
                time.sleep(SLOW_PAUSE_S)
                self.wfile.write(SLOW_PART)

            do_GET = do_POST = do_HEAD = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def requests(self, path: str) -> list[dict]:
        return [r for r in self.seen if r["path"] == path]


@dataclass
class Edge:
    url: str
    ca: Path
    prefix: Path
    conf: Path
    gateway: FakeGateway


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    root = tmp_path_factory.mktemp("edge")
    gateway = FakeGateway()
    server = fake_http.start(gateway.handler())
    upstream = f"127.0.0.1:{server.server_address[1]}"
    tls = issue(root / "tls")
    # gixy treats any `listen` whose text contains "443" as TLS (weak_ssl_tls, hsts_header), so a random
    # plain-HTTP port such as 44312 would be reported as a TLS server missing its settings: draw again.
    https, http = free_ports(2)
    while "443" in str(http):
        https, http = free_ports(2)
    conf = nginx_render.render(root / "nginx", {
        "NGINX_LISTEN_HTTPS": f"127.0.0.1:{https}", "NGINX_LISTEN_HTTP": f"127.0.0.1:{http}",
        "NGINX_TLS_CERT": str(tls["cert"]), "NGINX_TLS_KEY": str(tls["key"]), "NGINX_WORKER_PROCESSES": "1",
        **{f"NGINX_UPSTREAM_{p}": upstream for p in ("OPENAI", "ANTHROPIC", "COHERE")}})
    proc = spawn([NGINX, "-p", str(conf.parent), "-c", str(conf), "-e", str(conf.parent / "logs/error.log"),
                  "-g", "daemon off;"], root / "nginx.log")
    url = f"https://127.0.0.1:{https}"
    try:
        _wait_ready(proc, url, tls["ca"], root / "nginx.log")
        yield Edge(url=url, ca=tls["ca"], prefix=conf.parent, conf=conf, gateway=gateway)
    finally:
        terminate(proc)
        server.stop()


def _wait_ready(proc: subprocess.Popen[bytes], url: str, ca: Path, log: Path) -> None:
    wait_ready(proc, f"{url}/healthz", log, name="nginx", deadline_s=15, verify=str(ca))


def _tool(name: str, *candidates: Path) -> str:
    for path in (*candidates, Path(shutil.which(name) or "/nonexistent")):
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    pytest.fail(f"{name} is not installed; run `make edge-tools` (mk/edge.mk)")


def test_nginx_accepts_the_rendered_config(edge: Edge) -> None:
    out = subprocess.run([NGINX, "-t", "-p", str(edge.prefix), "-c", str(edge.conf)],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert "syntax is ok" in out.stderr
    assert "[warn]" not in out.stderr and "[emerg]" not in out.stderr, out.stderr


def test_gixy_finds_nothing(edge: Edge) -> None:
    # No --nginx-version: Debian patches security fixes into 1.22.1 without changing the version, so
    # version-matched CVE reports would be about fixes the package already carries (apt keeps it current).
    gixy = _tool("gixy", REPO / ".venv" / "bin" / "gixy")
    out = subprocess.run([gixy, "-f", "json", str(edge.conf)], capture_output=True, text=True, check=False)
    findings = json.loads(out.stdout or "null")
    print(f"gixy: {len(findings)} findings")
    assert findings == [], json.dumps(findings, indent=1)
    assert out.returncode == 0


def test_sslyze_mozilla_intermediate_compliant(edge: Edge, tmp_path: Path) -> None:
    sslyze = _tool("sslyze", Path(os.environ.get("SSLYZE", "/nonexistent")),
                   REPO / "build" / "tools" / "sslyze" / "bin" / "sslyze")
    report = tmp_path / "sslyze.json"
    out = subprocess.run([sslyze, "--mozilla_config=intermediate", "--certinfo_ca_file", str(edge.ca),
                          "--json_out", str(report), edge.url.removeprefix("https://")],
                         capture_output=True, text=True, check=False, timeout=120)
    compliance = out.stdout[out.stdout.find("COMPLIANCE AGAINST"):]
    print(compliance)
    # sslyze can exit 0 after a failed scan: read the verdict and the scan itself.
    assert re.search(r"127\.0\.0\.1:\d+: OK - Compliant\.", compliance), out.stdout + out.stderr
    assert out.returncode == 0
    scan = json.loads(report.read_text())["server_scan_results"][0]
    assert scan["scan_status"] == "COMPLETED"
    result = scan["scan_result"]
    accepted = {v: [s["cipher_suite"]["name"] for s in result[f"{v}_cipher_suites"]["result"]["accepted_cipher_suites"]]
                for v in ("ssl_2_0", "ssl_3_0", "tls_1_0", "tls_1_1", "tls_1_2", "tls_1_3")}
    assert accepted["ssl_2_0"] == accepted["ssl_3_0"] == accepted["tls_1_0"] == accepted["tls_1_1"] == []
    assert accepted["tls_1_2"] and accepted["tls_1_3"]
    assert all("GCM" in c or "CHACHA20" in c for c in accepted["tls_1_2"]), accepted["tls_1_2"]
    print({v: len(c) for v, c in accepted.items()})


def test_gateway_sees_the_verified_identity_never_the_clients(edge: Edge) -> None:
    edge.gateway.seen.clear()
    response = httpx.post(f"{edge.url}/openai/v1/chat/completions", verify=str(edge.ca), json={"messages": []},
                          headers={"x-api-key": GOOD_KEY, "X-Client-Id": "admin", "X-Auth-Method": "forged",
                                   "X-Request-ID": "trace-42", "X-Forwarded-For": "10.9.9.9", "Cookie": "a=b"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "trace-42"
    [verify] = edge.gateway.requests("/v1/auth/verify")
    assert verify["method"] == "GET" and verify["body"] == b""
    # Only the credential and the request id go to the verify call.
    assert set(verify["headers"]) <= {"host", "connection", "x-api-key", "x-request-id"}, verify["headers"]
    assert verify["headers"]["x-api-key"] == GOOD_KEY
    [proxied] = edge.gateway.requests("/v1/chat/completions")
    headers = proxied["headers"]
    assert headers["x-client-id"] == "client-1" and headers["x-auth-method"] == "api_key"
    assert headers["x-request-id"] == "trace-42"
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert json.loads(proxied["body"]) == {"messages": []}


def _first_byte_after(edge: Edge, body: dict, path: str) -> float:
    start = time.perf_counter()
    with httpx.stream("POST", f"{edge.url}{path}", verify=str(edge.ca), json=body,
                      headers={"x-api-key": GOOD_KEY}) as response:
        assert response.status_code == 200
        next(response.iter_raw())
        return time.perf_counter() - start


def test_only_streams_the_gateway_marks_go_out_unbuffered(edge: Edge) -> None:
    # A plain reply is buffered at the edge (errors and JSON arrive whole); a stream marked
    # X-Accel-Buffering: no passes chunk by chunk, before the upstream has finished.
    path = "/openai/v1/chat/completions"  # a route that may stream
    plain = _first_byte_after(edge, {"model": "slow", "messages": []}, path)
    streamed = _first_byte_after(edge, {"model": "slow", "stream": True, "messages": []}, path)
    print(f"\nfirst byte: plain {plain * 1000:.0f} ms, stream {streamed * 1000:.0f} ms (pause {SLOW_PAUSE_S} s)")
    assert plain >= SLOW_PAUSE_S * 0.9 and streamed < SLOW_PAUSE_S * 0.5


def test_public_routes_strip_a_client_sent_identity(edge: Edge) -> None:
    edge.gateway.seen.clear()
    response = httpx.get(f"{edge.url}/cohere/readyz", verify=str(edge.ca), headers={"X-Client-Id": "admin"})
    assert response.status_code == 200
    [proxied] = edge.gateway.requests("/readyz/public")
    assert "x-client-id" not in proxied["headers"]
    assert edge.gateway.requests("/v1/auth/verify") == []
    assert re.fullmatch(r"[0-9a-f]{32}", proxied["headers"]["x-request-id"])


def test_access_log_is_json_without_credentials(edge: Edge) -> None:
    httpx.get(f"{edge.url}/anthropic/v1/models?api_key=leak", verify=str(edge.ca),
              headers={"Authorization": f"Bearer {GOOD_KEY}", "X-Request-ID": "log-check-1"})
    entry = _logged(edge, "log-check-1")
    text = (edge.prefix / "logs" / "access.log").read_text()
    assert GOOD_KEY not in text and "leak" not in text
    assert entry["path"] == "/anthropic/v1/models" and entry["status"] == 200
    assert entry["provider"] == "anthropic" and entry["client_id"] == "client-1"
    assert entry["tls"] in ("TLSv1.2", "TLSv1.3")
    assert entry["method"] == "GET" and entry["auth_status"] == "204" and float(entry["auth_time"]) >= 0


def test_a_refused_request_is_logged_with_the_clients_method_and_the_verify_answer(edge: Edge) -> None:
    # The 401 page is an error_page redirect, which turns $request_method into GET: the log keeps the POST.
    response = httpx.post(f"{edge.url}/openai/v1/chat/completions", verify=str(edge.ca), json={"messages": []},
                          headers={"x-api-key": "nope", "X-Request-ID": "log-check-2"})
    assert response.status_code == 401
    entry = _logged(edge, "log-check-2")
    assert (entry["method"], entry["path"], entry["status"]) == ("POST", "/openai/v1/chat/completions", 401)
    assert entry["auth_status"] == "401" and float(entry["auth_time"]) >= 0


def _logged(edge: Edge, request_id: str) -> dict:
    log = edge.prefix / "logs" / "access.log"
    deadline = time.monotonic() + 5  # nginx writes the line after the response has gone out
    while request_id not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    [entry] = [e for e in map(json.loads, log.read_text().splitlines()) if e["request_id"] == request_id]
    return entry


def test_an_invalid_credential_is_refused_with_the_gateways_challenge(edge: Edge) -> None:
    response = httpx.get(f"{edge.url}/openai/v1/models", verify=str(edge.ca), headers={"x-api-key": "nope"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert response.headers.get_list("www-authenticate") == ['Bearer realm="llm-gateway"']
