"""The nginx renderer: defaults, per-provider limits, CORS allowlist, and values that must be refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edge import render as nginx_render
from edge.render import RenderError, render, render_text, retry_after
from gateway.errors import QuotaExceededError, retry_headers
from gateway.limits import enforce
from gateway.limits.base import Limits, Reservation, Windows

BASE = {"NGINX_TLS_CERT": "/tls/server.pem", "NGINX_TLS_KEY": "/tls/server.key"}


def _render(tmp_path: Path, **values: str) -> Path:
    return render(tmp_path / "edge", {**BASE, **values})


def test_render_writes_a_self_contained_tree(tmp_path: Path) -> None:
    conf = _render(tmp_path)
    prefix = conf.parent
    text = conf.read_text()
    assert f"pid {prefix}/nginx.pid;" in text
    assert "listen 127.0.0.1:8443 ssl http2 default_server;" in text
    assert "use https://$host:8443 " in text and "return 308" not in text
    for name in ("openai", "anthropic", "cohere"):
        assert "server 127.0.0.1:810" in (prefix / "providers" / name / "http.conf").read_text()
        assert f"location /{name}/ {{" in (prefix / "providers" / name / "server.conf").read_text()
    assert sorted(p.name for p in (prefix / "errors").iterdir()) == [
        "400.json", "401-missing.json", "401.json", "403.json", "404.json", "405.json", "413.json", "429.json",
        "500.json", "502.json", "503.json", "504.json", "anthropic"]
    assert (prefix / "tls" / "ffdhe2048.dhparam").read_text().startswith("-----BEGIN DH PARAMETERS-----")
    for sub in ("logs", "tmp/body", "tmp/proxy"):
        assert (prefix / sub).is_dir()
    placeholder = re.compile(r"\$\{NGINX_[A-Z0-9_]+\}")
    leftovers = [p for p in prefix.rglob("*") if p.is_file() and placeholder.search(p.read_text(errors="ignore"))]
    assert leftovers == []


def test_mozilla_intermediate_tls_settings(tmp_path: Path) -> None:
    tls = (_render(tmp_path).parent / "snippets" / "tls.conf").read_text()
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in tls
    assert "ssl_session_tickets off;" in tls
    assert "ssl_prefer_server_ciphers off;" in tls
    assert ("ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
            "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
            "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305;") in tls


def test_per_provider_limits_override_the_global_ones(tmp_path: Path) -> None:
    prefix = _render(tmp_path, NGINX_RATE_IP="10r/s", NGINX_COHERE_RATE_IP="30r/m",
                     NGINX_COHERE_BURST_IP="7").parent
    cohere = (prefix / "providers" / "cohere" / "http.conf").read_text()
    openai = (prefix / "providers" / "openai" / "http.conf").read_text()
    assert "zone=ip_cohere:10m rate=30r/m;" in cohere
    assert "zone=ip_openai:10m rate=10r/s;" in openai
    assert "zone=key_" not in cohere + openai  # per-credential limits are the gateway's
    assert "burst=7 nodelay;" in (prefix / "providers" / "cohere" / "server.conf").read_text()
    assert (prefix / "providers" / "cohere" / "retry-after.map").read_text().strip() == "cohere 2;"
    assert (prefix / "providers" / "openai" / "retry-after.map").read_text().strip() == "openai 1;"


def test_replicas_are_balanced_with_retry_to_a_sibling(tmp_path: Path) -> None:
    prefix = _render(tmp_path, NGINX_UPSTREAM_OPENAI="127.0.0.1:9001, 127.0.0.1:9002,127.0.0.1:9003").parent
    http = (prefix / "providers" / "openai" / "http.conf").read_text()
    assert [line.strip() for line in http.splitlines() if line.strip().startswith("server ")] == [
        f"server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;" for port in (9001, 9002, 9003)]
    proxy = (prefix / "snippets" / "proxy.conf").read_text()
    assert "proxy_next_upstream error timeout http_503 non_idempotent;" in proxy


def test_the_keepalive_pool_to_the_gateways_is_configurable(tmp_path: Path) -> None:
    http = (_render(tmp_path).parent / "providers" / "openai" / "http.conf").read_text()
    assert "    keepalive 256;" in http  # the default covers 256 requests in flight per worker
    http = (_render(tmp_path, NGINX_GATEWAY_KEEPALIVE="64").parent / "providers" / "cohere" / "http.conf").read_text()
    assert "    keepalive 64;" in http


@pytest.mark.parametrize("name", ["NGINX_RATE_KEY", "NGINX_COHERE_BURST_KEY"])
def test_per_key_edge_limits_are_refused_with_a_pointer(tmp_path: Path, name: str) -> None:
    with pytest.raises(RenderError, match=f"{name}: per-credential limits moved .* vaultctl client-key"):
        _render(tmp_path, **{name: "5r/s"})


@pytest.mark.parametrize(("rates", "seconds"), [(("50r/s", "20r/s"), 1), (("30r/m",), 2), (("1r/m", "5r/s"), 60)])
def test_retry_after_is_the_slowest_refill(rates: tuple[str, ...], seconds: int) -> None:
    assert retry_after(*rates) == seconds


def test_cors_allowlist_is_rendered_as_exact_origins(tmp_path: Path) -> None:
    prefix = _render(tmp_path, NGINX_CORS_ORIGINS="https://app.example.com, http://localhost:3000").parent
    assert (prefix / "conf.d" / "cors-origins.map").read_text() == (
        '"https://app.example.com" "https://app.example.com";\n"http://localhost:3000" "http://localhost:3000";\n')
    assert (_render(tmp_path).parent / "conf.d" / "cors-origins.map").read_text() == ""


def test_cors_exposes_every_header_the_sdks_and_apps_read(tmp_path: Path) -> None:
    # A header a page may not read is, to the JavaScript SDKs, not sent: the rendered map must list every
    # response header the gateway sets for clients (a new one added there and not here fails this test).
    conf = (_render(tmp_path).parent / "conf.d" / "cors.conf").read_text()
    listed = re.search(r"map \$cors_allow_origin \$cors_expose_headers \{\s*default \"([^\"]+)\";", conf)
    assert listed
    exposed = {name.strip().lower() for name in listed[1].split(",")}
    limits = Limits(rpm=60, tpm=1000, daily_tokens=5000)
    res = Reservation("c", limits, 10, 1_800_000_030.0, Windows.at(1_800_000_030.0))
    refused = QuotaExceededError(retry_after=30, retry_after_ms=29_001, retryable=False)
    refused.reservation = res
    sent = {name.decode() for name, _ in enforce.headers(res) + enforce.anthropic_headers(res)}
    sent |= {name.lower() for name in [*retry_headers(refused), *enforce.refusal_headers(refused, anthropic=True)]}
    assert sent | {"x-request-id", "request-id"} <= exposed, sorted(sent - exposed)


@pytest.mark.parametrize("origin", ["*", "https://*.example.com", "null", "https://app.example.com/path",
                                    "https://App.example.com", 'https://a.example.com";evil'])
def test_wildcard_or_malformed_origins_are_refused(tmp_path: Path, origin: str) -> None:
    with pytest.raises(RenderError, match="NGINX_CORS_ORIGINS"):
        _render(tmp_path, NGINX_CORS_ORIGINS=origin)


@pytest.mark.parametrize(("name", "value"), [
    ("NGINX_UPSTREAM_OPENAI", "127.0.0.1:8101; include /etc/passwd"),
    ("NGINX_TLS_CERT", "/tls/a.pem}"),
    ("NGINX_ACCESS_LOG", "/dev/stdout edge_json; error_log /x"),
    ("NGINX_RATE_IP", "fast"),
    ("NGINX_OPENAI_BURST_IP", "-1"),
    ("NGINX_UPSTREAM_COHERE", "127.0.0.1:1,127.0.0.1:2 backup"),
    ("NGINX_CLIENT_MAX_BODY_SIZE", "1t"),
    ("NGINX_CORS_ALLOW_CREDENTIALS", "yes"),
    ("NGINX_CORS_ALLOW_HEADERS", "Authorization; X"),
    ("NGINX_PROVIDERS", "openai,../etc"),
    ("NGINX_GATEWAY_KEEPALIVE", "0"),
    ("NGINX_GATEWAY_KEEPALIVE", "32; keepalive_requests 1"),
])
def test_unsafe_or_invalid_values_are_refused(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(RenderError, match=name):
        _render(tmp_path, **{name: value})


def test_a_missing_upstream_or_certificate_is_named(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="NGINX_UPSTREAM_GEMINI"):  # not in the catalogue: no default
        _render(tmp_path, NGINX_PROVIDERS="openai,gemini")
    with pytest.raises(RenderError, match="NGINX_TLS_CERT"):
        render(tmp_path / "edge", {"NGINX_TLS_KEY": "/k"})


def test_providers_are_configurable_and_stale_ones_removed(tmp_path: Path) -> None:
    _render(tmp_path)
    prefix = _render(tmp_path, NGINX_PROVIDERS="openai,mistral", NGINX_UPSTREAM_MISTRAL="10.0.0.9:8000").parent
    assert sorted(p.name for p in (prefix / "providers").iterdir()) == ["mistral", "openai"]
    mistral = (prefix / "providers" / "mistral" / "http.conf").read_text()
    assert "server 10.0.0.9:8000 max_fails=1 fail_timeout=5s;" in mistral


def test_container_port_shorthand_listens_on_all_interfaces(tmp_path: Path) -> None:
    text = _render(tmp_path, NGINX_HTTPS_PORT="443", NGINX_HTTP_PORT="80").read_text()
    assert "listen 0.0.0.0:443 ssl http2 default_server;" in text
    assert "listen 0.0.0.0:80 default_server;" in text
    assert "use https://$host (" in text


def test_render_text_substitutes_and_names_missing_values() -> None:
    assert render_text("listen ${NGINX_LISTEN_HTTP};", {}) == "listen 127.0.0.1:8080;"
    with pytest.raises(RenderError, match="NGINX_PREFIX"):
        render_text("pid ${NGINX_PREFIX}/nginx.pid;", {})


def test_render_refuses_the_template_directory_as_prefix() -> None:
    with pytest.raises(RenderError, match="template directory"):
        render(nginx_render.NGINX_DIR, BASE)


def test_cli_reads_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    for key, value in BASE.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("NGINX_RATE_IP", "3r/s")
    assert nginx_render.main(["--out", str(tmp_path / "edge")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "edge" / "nginx.conf")
    assert "rate=3r/s;" in (tmp_path / "edge" / "providers" / "openai" / "http.conf").read_text()
    monkeypatch.setenv("NGINX_RATE_IP", "lots")
    assert nginx_render.main(["--prefix", str(tmp_path / "edge")]) == 2
    assert "NGINX_RATE_IP" in capsys.readouterr().err


def test_upstream_pattern_names_each_catalogue_gateway_unless_one_is_set(tmp_path: Path) -> None:
    # The edge image sets NGINX_UPSTREAM_PATTERN: every catalogue provider gets gateway-<name>:8000.
    import catalogue

    conf = render(tmp_path / "edge", {"NGINX_UPSTREAM_PATTERN": "gateway-{provider}:8000",
                                      "NGINX_UPSTREAM_COHERE": "10.0.0.7:9000",
                                      "NGINX_TLS_CERT": "/c.pem", "NGINX_TLS_KEY": "/k.pem"})
    for name in catalogue.names():
        http = (conf.parent / "providers" / name / "http.conf").read_text()
        expected = "10.0.0.7:9000" if name == "cohere" else f"gateway-{name}:8000"
        assert f"server {expected} max_fails=1" in http
    with pytest.raises(RenderError, match="NGINX_UPSTREAM_PATTERN"):
        nginx_render.settings({"NGINX_UPSTREAM_PATTERN": "gateway-x:8000;evil"})
