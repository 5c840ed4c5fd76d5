"""`--settings-only`: validate one service's GATEWAY_* environment without any network I/O.

Builds what the service would build at start-up — settings, the provider adapter, a LangChain
chat model per allowed model, the agent graph with its tools — and reads the values back from
the constructed objects, so a setting the adapter ignores shows up as a failure. Nothing is
invoked: no token is spent and no secrets store is contacted.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import catalogue
from gateway.config import ConfigError, Settings, load_settings
from gateway.validation.report import Check, Status, looks_like_placeholder

# nginx/nginx.conf: proxy_read_timeout 300s — a non-streamed answer slower than this becomes an edge 504.
EDGE_READ_TIMEOUT_S = 300.0
_OFFLINE_KEY = "gateway-validate-offline-key"  # stands in for a key held in Vault; never sent anywhere
_TIMEOUT_ATTRS = ("request_timeout", "default_request_timeout", "timeout_seconds", "timeout")
_URL_ATTRS = ("openai_api_base", "anthropic_api_url", "base_url")


class _Checks:
    def __init__(self, target: str) -> None:
        self.target = target
        self.results: list[Check] = []

    def add(self, name: str, status: Status, detail: str) -> None:
        self.results.append(Check(self.target, name, status, detail))


def check_settings(environ: Mapping[str, str] | None = None) -> list[Check]:
    """Validate the GATEWAY_* environment of one service (default: this process's)."""
    env = os.environ if environ is None else environ
    checks = _Checks(env.get("GATEWAY_PROVIDER") or "settings")
    try:
        settings = _load(env)
    except ConfigError as exc:
        checks.add("settings", "FAIL", str(exc))
        return checks.results
    checks.add("settings", "PASS", f"provider {settings.provider}, secrets backend {settings.secrets_backend}")
    key = _provider_key(checks, settings, env)
    _client_keys(checks, settings)
    _files(checks, settings)
    from gateway.providers import create_adapter

    adapter = create_adapter(settings)
    source = "GATEWAY_MODELS" if settings.models else "provider defaults"
    if len(set(adapter.models)) != len(adapter.models):
        checks.add("models", "WARN", f"duplicates in the allowlist: {', '.join(adapter.models)}")
    else:
        checks.add("models", "PASS", f"{len(adapter.models)} allowed ({source}), default {adapter.models[0]}")
    _upstream_url(checks, adapter.base_url)
    try:
        built = [adapter.build_model(m, key or _OFFLINE_KEY) for m in adapter.models]
    except Exception as exc:  # noqa: BLE001 — any construction error is the finding
        checks.add("chat model", "FAIL", f"constructing the LangChain model failed: {type(exc).__name__}: {exc}")
        return checks.results
    _model_readback(checks, settings, adapter.base_url, built[0])
    _timeouts(checks, settings)
    _agent(checks, settings, built[0])
    return checks.results


def _load(env: Mapping[str, str]) -> Settings:
    if env is os.environ:
        return load_settings()
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        return load_settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _provider_key(checks: _Checks, settings: Settings, env: Mapping[str, str]) -> str | None:
    if settings.secrets_backend == "vault":
        checks.add("provider key", "SKIP", "held in Vault; /readyz of the running service proves it is readable")
        return None
    var = catalogue.provider(settings.provider).key_env
    value = env.get(var, "")
    if not value:
        checks.add("provider key", "FAIL", f"{var} is not set (GATEWAY_SECRETS_BACKEND=env)")
    elif looks_like_placeholder(value):
        checks.add("provider key", "FAIL", f"{var} holds a placeholder, not a key")
    else:
        checks.add("provider key", "PASS", f"{var} is set ({len(value)} characters)")
    return value or None


def _client_keys(checks: _Checks, settings: Settings) -> None:
    if settings.secrets_backend == "vault":
        return
    from gateway.secrets.base import SecretsError
    from gateway.secrets.env import load_client_keys_file, parse_client_keys_spec

    try:
        records = parse_client_keys_spec(settings.client_keys)
        if settings.client_keys_file is not None:
            records.update(load_client_keys_file(settings.client_keys_file))
    except SecretsError as exc:
        checks.add("client keys", "FAIL", str(exc))
        return
    usable = [r for r in records.values() if settings.provider in r.providers and not r.disabled]
    jwt = bool(settings.jwt_jwks_url or settings.jwt_public_key_file)
    if usable or jwt:
        checks.add("client keys", "PASS", f"{len(usable)} client key(s) for {settings.provider}"
                                          + (", JWT bearer tokens accepted" if jwt else ""))
    else:
        checks.add("client keys", "WARN", "no client key allows this provider and JWT is off: every call gets 401/403")


def _files(checks: _Checks, settings: Settings) -> None:
    files = {
        "GATEWAY_VAULT_ROLE_ID_FILE": settings.vault_role_id_file,
        "GATEWAY_VAULT_SECRET_ID_FILE": settings.vault_secret_id_file,
        "GATEWAY_VAULT_CACERT": Path(settings.vault_cacert) if settings.vault_cacert else None,
        "GATEWAY_JWT_PUBLIC_KEY_FILE": settings.jwt_public_key_file,
    }
    for var, path in files.items():
        if path is None:
            continue
        if not path.is_file() or not os.access(path, os.R_OK):
            checks.add("files", "FAIL", f"{var}: {path} is not a readable file")
        elif path.stat().st_size == 0:
            checks.add("files", "FAIL", f"{var}: {path} is empty")
        else:
            checks.add("files", "PASS", f"{var}: {path} readable")
    if settings.audit_log is not None:
        parent = settings.audit_log.parent
        if parent.is_dir() and os.access(parent, os.W_OK):
            checks.add("audit log", "PASS", f"{parent} is writable")
        else:
            checks.add("audit log", "FAIL", f"GATEWAY_AUDIT_LOG: directory {parent} is missing or not writable")


def _upstream_url(checks: _Checks, base_url: str) -> None:
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    internal = host in ("localhost", "127.0.0.1", "::1") or "." not in host
    if parts.scheme == "http" and not internal:
        checks.add("upstream", "WARN", f"{base_url} is plain HTTP to a non-local host: the provider key travels "
                                       "unencrypted")
    else:
        checks.add("upstream", "PASS", base_url)


def _model_readback(checks: _Checks, settings: Settings, base_url: str, model: object) -> None:
    # The LangChain integration's class (the gateway may use a subclass of it, e.g. ChatAnthropicOn).
    kind = next((c.__name__ for c in type(model).__mro__ if c.__module__.startswith("langchain_")),
                type(model).__name__)
    timeout = next((getattr(model, a) for a in _TIMEOUT_ATTRS if getattr(model, a, None) is not None), None)
    url = next((getattr(model, a) for a in _URL_ATTRS if getattr(model, a, None)), None)
    problems = []
    if timeout is None or float(timeout) != settings.upstream_timeout_s:
        problems.append(f"timeout {timeout} != GATEWAY_UPSTREAM_TIMEOUT_S {settings.upstream_timeout_s:g}")
    if url is not None and str(url).rstrip("/") != base_url.rstrip("/"):
        problems.append(f"base URL {url} != {base_url}")
    # A model over the gateway's retrying transport (its integration's client retries no 429/5xx) says `upstream`.
    upstream = getattr(model, "upstream", None)
    retries = upstream.retry.total if upstream is not None else getattr(model, "max_retries", None)
    if retries is not None and retries != settings.max_retries:
        problems.append(f"max_retries {retries} != GATEWAY_MAX_RETRIES {settings.max_retries}")
    if problems:
        checks.add("chat model", "FAIL", f"{kind}: " + "; ".join(problems))
        return
    retry_note = f"max_retries {retries}" if retries is not None else "retries by the provider SDK's own policy"
    if upstream is not None:
        retry_note += " (the gateway's retrying transport)"
    checks.add("chat model", "PASS", f"{kind} constructs; timeout {float(timeout or 0):g} s, {retry_note}")


def _timeouts(checks: _Checks, settings: Settings) -> None:
    worst = settings.upstream_timeout_s * (settings.max_retries + 1)
    notes = []
    if settings.max_retries == 0:
        notes.append("GATEWAY_MAX_RETRIES=0: every transient 429/5xx reaches the client")
    if worst > EDGE_READ_TIMEOUT_S:
        notes.append(f"worst case {worst:g} s (timeout x attempts) exceeds nginx proxy_read_timeout "
                     f"{EDGE_READ_TIMEOUT_S:g} s: clients may get the edge's 504 first")
    if settings.agent_timeout_s < settings.upstream_timeout_s:
        notes.append(f"GATEWAY_AGENT_TIMEOUT_S {settings.agent_timeout_s:g} s is below one upstream call's "
                     f"timeout {settings.upstream_timeout_s:g} s")
    detail = (f"upstream {settings.upstream_timeout_s:g} s x {settings.max_retries + 1} attempts = {worst:g} s; "
              f"agent {settings.agent_timeout_s:g} s")
    checks.add("timeouts", "WARN" if notes else "PASS", "; ".join([detail, *notes]))


def _agent(checks: _Checks, settings: Settings, model: object) -> None:
    from langchain.agents import create_agent
    from langchain_core.language_models import BaseChatModel

    from gateway.agent.runner import SYSTEM_PROMPT
    from gateway.agent.tools import TOOL_NAMES, build_tools

    assert isinstance(model, BaseChatModel)
    try:
        tools = build_tools(model, None)
        create_agent(model, tools, system_prompt=SYSTEM_PROMPT)
    except Exception as exc:  # noqa: BLE001 — the agent must compile; report why it does not
        checks.add("agent", "FAIL", f"create_agent failed: {type(exc).__name__}: {exc}")
        return
    names = [t.name for t in tools]
    status: Status = "PASS" if tuple(names) == TOOL_NAMES else "FAIL"
    checks.add("agent", status, f"create_agent compiles with tools {', '.join(names)}; "
                                f"at most {settings.agent_max_steps} steps, {settings.agent_timeout_s:g} s")
