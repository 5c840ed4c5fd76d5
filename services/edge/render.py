"""Render the nginx/ templates from NGINX_* variables (stdlib + the catalogue: the edge image runs it).

`render(prefix, values)` writes a self-contained tree under `prefix`:

    nginx.conf, conf.d/*.conf, snippets/*.conf    templates, ${NGINX_*} substituted
    conf.d/cors-origins.map                       generated from NGINX_CORS_ORIGINS
    providers/<name>/{http,server}.conf, ...      nginx/provider/* rendered once per provider
    errors/*.json, tls/ffdhe2048.dhparam          copied as they are
    logs/, tmp/                                   nginx's writable directories

Per provider `p` (NGINX_PROVIDERS, default: every catalogue provider), the upstream is NGINX_UPSTREAM_<P>
(`host:port`, or a comma-separated list of replicas; default: NGINX_UPSTREAM_PATTERN with {provider}
replaced when that is set, as in the edge image, else 127.0.0.1:<catalogue port>), and each limit
NGINX_<P>_<LIMIT> overrides the global NGINX_<LIMIT> (e.g. NGINX_COHERE_RATE_IP=5r/s). Per-credential
limits are not the edge's: they are set per client key in the gateway (`vaultctl client-key --rpm ...`);
an NGINX_*_KEY limit is refused with that pointer. Every value is checked before it reaches the config,
so a variable cannot inject nginx directives.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import os
import re
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

import catalogue

NGINX_DIR = Path(__file__).resolve().parents[2] / "nginx"
TEMPLATE = NGINX_DIR / "nginx.conf"
_VAR = re.compile(r"\$\{(NGINX_[A-Z0-9_]+)\}")
_TEMPLATE_DIRS = ("conf.d", "snippets")
_COPY_DIRS = ("errors", "tls")
_PROVIDER_DIR = "provider"
_WRITABLE = ("logs", "tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi")
_LIMITS = ("RATE_IP", "BURST_IP")
_MOVED = re.compile(r"NGINX_([A-Z0-9_]+_)?(RATE|BURST)_KEY")
_HOST_PORT = re.compile(r"[A-Za-z0-9.\[\]:_-]+:\d{1,5}")
_PATTERN = re.compile(r"[A-Za-z0-9._-]*\{provider\}[A-Za-z0-9._-]*:\d{1,5}")

DEFAULTS = {
    "NGINX_WORKER_PROCESSES": "auto",
    "NGINX_WORKER_CONNECTIONS": "4096",
    "NGINX_WORKER_RLIMIT_NOFILE": "16384",
    "NGINX_LISTEN_HTTPS": "127.0.0.1:8443",
    "NGINX_LISTEN_HTTP": "127.0.0.1:8080",
    "NGINX_PROVIDERS": ",".join(catalogue.names()),
    **{f"NGINX_UPSTREAM_{p.upper}": f"127.0.0.1:{p.port}" for p in catalogue.providers()},
    "NGINX_ACCESS_LOG": "${NGINX_PREFIX}/logs/access.log",
    "NGINX_ERROR_LOG": "${NGINX_PREFIX}/logs/error.log",
    "NGINX_DHPARAM": "${NGINX_PREFIX}/tls/ffdhe2048.dhparam",
    # Flood guard per client IP, per provider (overridable as NGINX_<P>_RATE_IP, ...).
    "NGINX_RATE_IP": "50r/s",
    "NGINX_BURST_IP": "100",
    "NGINX_CONN_PER_IP": "100",
    "NGINX_LIMIT_ZONE_SIZE": "10m",
    "NGINX_CLIENT_MAX_BODY_SIZE": "1m",
    # Idle keep-alive connections each nginx worker keeps to each provider's gateways. When a worker has more
    # requests in flight than this, each one past it opens and closes a connection (so does its auth_request).
    "NGINX_GATEWAY_KEEPALIVE": "256",
    "NGINX_PROXY_READ_TIMEOUT": "60s",
    "NGINX_STREAM_READ_TIMEOUT": "300s",
    # CORS: comma-separated exact origins (scheme://host[:port]); empty means no cross-origin access.
    "NGINX_CORS_ORIGINS": "",
    "NGINX_CORS_ALLOW_CREDENTIALS": "false",
    # The openai and anthropic browser SDKs' request headers (the latter with dangerouslyAllowBrowser): besides
    # the credentials and Anthropic's, both send X-Stainless-* on every request (platform, retry count, timeout;
    # Helper-Method from their stream helpers), and a browser refuses the request if the preflight omits one.
    "NGINX_CORS_ALLOW_HEADERS": ("Authorization, Content-Type, X-Api-Key, X-Request-ID, Anthropic-Version, "
                                 "Anthropic-Beta, Anthropic-Dangerous-Direct-Browser-Access, X-Stainless-Arch, "
                                 "X-Stainless-Lang, X-Stainless-OS, X-Stainless-Package-Version, "
                                 "X-Stainless-Retry-Count, X-Stainless-Runtime, X-Stainless-Runtime-Version, "
                                 "X-Stainless-Timeout, X-Stainless-Helper-Method"),
    "NGINX_CORS_MAX_AGE": "600",
    # Comma-separated CIDRs of the load balancers / proxies in front of nginx. Only a connection from
    # one of them may name the client in X-Forwarded-For; empty (default): the peer address is the client.
    "NGINX_TRUSTED_PROXIES": "",
}

_RATE = r"[1-9]\d*r/[sm]"
_CHECKS = {
    "RATE_IP": _RATE, "BURST_IP": r"\d+",
    "NGINX_CONN_PER_IP": r"[1-9]\d*", "NGINX_WORKER_CONNECTIONS": r"[1-9]\d*", "NGINX_GATEWAY_KEEPALIVE": r"[1-9]\d*",
    "NGINX_WORKER_RLIMIT_NOFILE": r"[1-9]\d*", "NGINX_WORKER_PROCESSES": r"auto|[1-9]\d*",
    "NGINX_LIMIT_ZONE_SIZE": r"\d+[km]", "NGINX_CLIENT_MAX_BODY_SIZE": r"\d+[kmg]?",
    "NGINX_PROXY_READ_TIMEOUT": r"\d+(ms|s|m|h)?", "NGINX_STREAM_READ_TIMEOUT": r"\d+(ms|s|m|h)?",
    "NGINX_CORS_ALLOW_CREDENTIALS": r"true|false", "NGINX_CORS_MAX_AGE": r"\d+",
    "NGINX_CORS_ALLOW_HEADERS": r"[A-Za-z0-9-]+(, ?[A-Za-z0-9-]+)*",
    "NGINX_HTTPS_PUBLIC_PORT": r"\d{1,5}", "NGINX_USER": r"([a-z_][a-z0-9_-]*( [a-z_][a-z0-9_-]*)?)?",
}
_PROVIDER_NAME = re.compile(r"[a-z][a-z0-9-]{0,30}")
_ORIGIN = re.compile(r"https?://[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?")
_MAY_BE_EMPTY = frozenset({"NGINX_HTTPS_PORT_SUFFIX", "NGINX_USER_DIRECTIVE", "NGINX_TRUSTED_PROXIES",
                           "NGINX_REAL_IP_FROM"})
# checked or built here
_SPACED = frozenset({"NGINX_CORS_ALLOW_HEADERS", "NGINX_USER_DIRECTIVE", "NGINX_REAL_IP_FROM", "NGINX_P_SERVERS"})
_UNSAFE = re.compile(r"[\s;{}'\"\\#$]")  # anything that could end a directive or start another


class RenderError(ValueError):
    """A required variable is missing or a value is not acceptable."""


def settings(values: Mapping[str, str]) -> dict[str, str]:
    """Merge `values` over DEFAULTS, derive the computed NGINX_* values and check every one."""
    merged = {**DEFAULTS, **values}
    for name in ("NGINX_HTTPS", "NGINX_HTTP"):  # NGINX_HTTPS_PORT=8443: all interfaces (containers)
        port = values.get(f"{name}_PORT")
        if port and f"NGINX_LISTEN_{name.removeprefix('NGINX_')}" not in values:
            merged[f"NGINX_LISTEN_{name.removeprefix('NGINX_')}"] = f"0.0.0.0:{port}"
    merged.setdefault("NGINX_HTTPS_PUBLIC_PORT", merged["NGINX_LISTEN_HTTPS"].rpartition(":")[2])
    pattern = merged.pop("NGINX_UPSTREAM_PATTERN", "")
    if pattern:  # e.g. gateway-{provider}:8000: an upstream per provider not named explicitly
        if not _PATTERN.fullmatch(pattern):
            raise RenderError(f"NGINX_UPSTREAM_PATTERN: {pattern!r} is not host-with-{{provider}}:port")
        for name in providers(merged):
            key = f"NGINX_UPSTREAM_{name.upper().replace('-', '_')}"
            if key not in values:
                merged[key] = pattern.replace("{provider}", name)
    for key, value in list(merged.items()):
        if "${" in value:  # defaults under the prefix; left out (reported if used) when there is no prefix
            try:
                merged[key] = _VAR.sub(lambda m: _lookup(merged, m.group(1)), value)
            except RenderError:
                del merged[key]
    _check(merged)
    merged["NGINX_USER_DIRECTIVE"] = _user_directive(merged.get("NGINX_USER", ""))
    merged["NGINX_REAL_IP_FROM"] = "".join(f"set_real_ip_from {net};\n" for net in trusted_proxies(merged))
    port = merged["NGINX_HTTPS_PUBLIC_PORT"]
    merged["NGINX_HTTPS_PORT_SUFFIX"] = "" if port == "443" else f":{port}"
    return merged


def trusted_proxies(merged: Mapping[str, str]) -> list[str]:
    """Return NGINX_TRUSTED_PROXIES as normalised CIDRs; refuse anything that is not one."""
    nets = []
    for item in (i.strip() for i in merged.get("NGINX_TRUSTED_PROXIES", "").split(",")):
        if not item:
            continue
        try:
            nets.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise RenderError(f"NGINX_TRUSTED_PROXIES: {item!r} is not an IP address or CIDR") from None
    return nets


def _user_directive(user: str) -> str:
    """`user` for the workers: NGINX_USER, else the renderer's own user when that is root.

    A root master would otherwise start its workers as `nobody`, who cannot read the error pages or
    write the temp files under a private state directory (pytest's, a CI checkout). Unprivileged, nginx
    ignores `user` with a warning, so the line is left out.
    """
    if user:
        return f"user {user};"
    return "user root;" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""


def _lookup(merged: Mapping[str, str], name: str) -> str:
    if not merged.get(name):
        raise RenderError(f"missing nginx setting: {name}")
    return merged[name]


def _check(merged: Mapping[str, str]) -> None:
    for key in merged:
        if _MOVED.fullmatch(key):
            raise RenderError(f"{key}: per-credential limits moved from the edge to the gateway "
                              "(set them per client key: vaultctl client-key create|update --rpm/--tpm)")
    for key, pattern in _CHECKS.items():
        key = key if key.startswith("NGINX_") else f"NGINX_{key}"
        if key in merged and not re.fullmatch(pattern, merged[key]):
            raise RenderError(f"{key}: {merged[key]!r} is not valid (expected {pattern})")
    for origin in origins(merged):
        if not _ORIGIN.fullmatch(origin):
            raise RenderError(f"NGINX_CORS_ORIGINS: {origin!r} is not an exact origin like https://app.example.com"
                              " (no wildcard, no path, lowercase)")
    for name in providers(merged):
        if not _PROVIDER_NAME.fullmatch(name):
            raise RenderError(f"NGINX_PROVIDERS: {name!r} is not a valid provider name")


def origins(merged: Mapping[str, str]) -> list[str]:
    """The CORS allowlist."""
    return [o.strip() for o in re.split(r"[,\s]+", merged.get("NGINX_CORS_ORIGINS", "")) if o.strip()]


def providers(merged: Mapping[str, str]) -> list[str]:
    """The providers routed by the edge."""
    return [p.strip() for p in re.split(r"[,\s]+", merged.get("NGINX_PROVIDERS", "")) if p.strip()]


def retry_after(*rates: str) -> int:
    """Seconds until a full bucket lets one more request through, for the slowest of `rates`."""
    periods = [(60.0 if rate.endswith("m") else 1.0) / int(rate.split("r/")[0]) for rate in rates]
    return max(1, math.ceil(max(periods)))


def upstream_servers(merged: Mapping[str, str], provider: str) -> list[str]:
    """The `host:port` of each of a provider's gateway replicas (NGINX_UPSTREAM_<P>, checked)."""
    upper = provider.upper().replace("-", "_")
    upstream = _lookup(merged, f"NGINX_UPSTREAM_{upper}")
    servers = [s.strip() for s in upstream.split(",") if s.strip()]
    if not servers or not all(_HOST_PORT.fullmatch(s) for s in servers):
        raise RenderError(f"NGINX_UPSTREAM_{upper}: {upstream!r} is not a host:port (or a comma-separated list)")
    return servers


def provider_values(merged: Mapping[str, str], provider: str) -> dict[str, str]:
    """The NGINX_P_* values of one provider's templates."""
    upper = provider.upper().replace("-", "_")
    servers = upstream_servers(merged, provider)
    out = {"NGINX_P_NAME": provider,
           # max_fails=1: one refused connection takes a dead replica out of rotation for fail_timeout.
           "NGINX_P_SERVERS": "\n    ".join(f"server {s} max_fails=1 fail_timeout=5s;" for s in servers)}
    for limit in _LIMITS:
        value = merged.get(f"NGINX_{upper}_{limit}") or merged[f"NGINX_{limit}"]
        if not re.fullmatch(_CHECKS[limit], value):
            raise RenderError(f"NGINX_{upper}_{limit}: {value!r} is not valid (expected {_CHECKS[limit]})")
        out[f"NGINX_P_{limit}"] = value
    out["NGINX_P_RETRY_AFTER"] = str(retry_after(out["NGINX_P_RATE_IP"]))
    return {**merged, **out}


def render_text(template: str, values: Mapping[str, str]) -> str:
    """Substitute ${NGINX_*} placeholders; raise RenderError naming any missing or unsafe variable."""
    return _substitute(template, settings(values))


def _substitute(template: str, merged: Mapping[str, str]) -> str:
    used = set(_VAR.findall(template))
    missing = sorted(m for m in used if not merged.get(m) and m not in _MAY_BE_EMPTY)
    if missing:
        raise RenderError(f"missing nginx setting(s): {', '.join(missing)}")
    for name in sorted(used - _SPACED):
        if _UNSAFE.search(merged[name]):
            raise RenderError(f"{name}: {merged[name]!r} contains whitespace or one of ; {{ }} ' \" \\ # $")
    return _VAR.sub(lambda m: merged[m.group(1)], template)


def render(prefix: Path, values: Mapping[str, str], template: Path = TEMPLATE) -> Path:
    """Write the rendered tree under `prefix` (absolute) and create nginx's writable directories."""
    prefix = prefix.resolve()
    source = template.parent
    if prefix == source.resolve():
        raise RenderError("the prefix must not be the template directory")
    merged = settings({**values, "NGINX_PREFIX": str(prefix)})
    for sub in (*_TEMPLATE_DIRS, *_COPY_DIRS, "providers"):
        shutil.rmtree(prefix / sub, ignore_errors=True)
    for sub in (*_WRITABLE, *_TEMPLATE_DIRS, "providers"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    for sub in _TEMPLATE_DIRS:
        for path in sorted((source / sub).glob("*.conf")):
            (prefix / sub / path.name).write_text(_substitute(path.read_text(), merged))
    for sub in _COPY_DIRS:
        shutil.copytree(source / sub, prefix / sub)
    (prefix / "conf.d" / "cors-origins.map").write_text("".join(f'"{o}" "{o}";\n' for o in origins(merged)))
    for name in providers(merged):
        pvalues = provider_values(merged, name)
        (prefix / "providers" / name).mkdir()
        for path in sorted((source / _PROVIDER_DIR).iterdir()):
            (prefix / "providers" / name / path.name).write_text(_substitute(path.read_text(), pvalues))
    out = prefix / "nginx.conf"
    out.write_text(_substitute(template.read_text(), merged))
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI: render with values from the NGINX_* environment."""
    parser = argparse.ArgumentParser(description="Render the nginx/ templates from NGINX_* variables.")
    parser.add_argument("--prefix", "--out", dest="prefix", type=Path, required=True,
                        help="nginx prefix directory to render into")
    args = parser.parse_args(argv)
    env = {k: v for k, v in os.environ.items() if k.startswith("NGINX_")}
    try:
        path = render(args.prefix, env)
    except RenderError as exc:
        print(f"edge.render: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
