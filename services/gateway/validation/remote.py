"""Checks against a running gateway, none of which reaches the LLM.

Every probe stops inside the gateway before a model is called: `/readyz` only constructs
the chat model; a model outside the allowlist gets 404 before any upstream call; an unknown
agent tool is refused (422, listing the available tools) before the agent starts; a `max_tokens`
far above any sane limit gets 400 naming the limit. Probes that need a client credential are
skipped, with a note, when none is given.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from gateway.validation.report import Check, Status

PROBE_MODEL = "gateway-validate/not-a-model"
PROBE_TOOL = "gateway_validate_probe"
PROBE_MAX_TOKENS = 10**15  # above any plausible GATEWAY_MAX_TOKENS_LIMIT, so the gateway answers 400


@dataclass(frozen=True, slots=True)
class Target:
    """One gateway to validate: its provider and base URL (direct, or the nginx prefix `/<provider>`)."""

    provider: str
    url: str
    client_key: str | None = None
    expect_models: tuple[str, ...] = ()


class _Checks:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.results: list[Check] = []

    def add(self, name: str, status: Status, detail: str) -> None:
        self.results.append(Check(self.target.provider, name, status, detail))


def check_target(target: Target, client: httpx.Client, expect_tools: Sequence[str]) -> list[Check]:
    """Run every remote check on one target."""
    checks = _Checks(target)
    base = target.url.rstrip("/")
    try:
        health = client.get(f"{base}/healthz")
    except httpx.HTTPError as exc:
        checks.add("reachable", "FAIL", f"cannot reach {base}/healthz: {type(exc).__name__}: {exc}")
        return checks.results
    if health.status_code != 200:
        checks.add("reachable", "FAIL", f"{base}/healthz answered {health.status_code}, expected 200")
        return checks.results
    checks.add("reachable", "PASS", f"{base}/healthz answered 200")
    if not _readiness(checks, client, base):
        return checks.results
    if not target.client_key:
        variable = target.provider.upper().replace("-", "_")  # as catalogue rows name their variables
        note = f"no client key: set VALIDATE_CLIENT_KEY_{variable} (or VALIDATE_CLIENT_KEY)"
        for name in ("models", "allowlist", "max_tokens", "agent tools"):
            checks.add(name, "SKIP", note)
        return checks.results
    headers = {"Authorization": f"Bearer {target.client_key}"}
    default_model = _models(checks, client, base, headers)
    if default_model is None:
        return checks.results
    _allowlist(checks, client, base, headers)
    _max_tokens(checks, client, base, headers, default_model)
    _agent_tools(checks, client, base, headers, expect_tools)
    return checks.results


def _json(resp: httpx.Response) -> dict[str, Any]:
    try:
        doc = resp.json()
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _error(resp: httpx.Response) -> dict[str, Any]:
    err = _json(resp).get("error")
    return err if isinstance(err, dict) else {}


def _readiness(checks: _Checks, client: httpx.Client, base: str) -> bool:
    resp = client.get(f"{base}/readyz")
    doc = _json(resp)
    provider = doc.get("provider")
    if provider is not None and provider != checks.target.provider:
        checks.add("readyz", "FAIL", f"{base} is the {provider!r} gateway, not {checks.target.provider!r}: "
                                     "check the routing or the target list")
        return False
    raw_checks = doc.get("checks")
    parts: dict[str, Any] = raw_checks if isinstance(raw_checks, dict) else {}
    raw_secrets = parts.get("secrets")
    secrets: dict[str, Any] = raw_secrets if isinstance(raw_secrets, dict) else {}
    backend = secrets.get("backend", "?")
    if resp.status_code != 200:
        reasons = []
        if not parts.get("provider_key"):
            reasons.append(f"provider key missing (secrets backend {backend}: {secrets.get('reason') or 'no key'})")
        elif not parts.get("model"):
            reasons.append(f"chat model construction failed ({parts.get('model_error', 'unknown error')})")
        if doc.get("status") == "draining" or not reasons:
            reasons.append(f"status {doc.get('status', resp.status_code)}")
        checks.add("readyz", "FAIL", f"{base}/readyz answered {resp.status_code}: " + "; ".join(reasons))
        return False
    detail = f"{doc.get('status')}: secrets backend {backend}, provider key present, chat model constructs"
    if secrets.get("degraded") or doc.get("status") == "degraded":
        checks.add("readyz", "WARN", f"{detail}; backend degraded ({secrets.get('reason')})")
    else:
        checks.add("readyz", "PASS", detail)
    return True


def _models(checks: _Checks, client: httpx.Client, base: str, headers: dict[str, str]) -> str | None:
    resp = client.get(f"{base}/v1/models", headers=headers)
    if resp.status_code in (401, 403):
        checks.add("models", "FAIL", f"the client key was rejected ({resp.status_code} "
                                     f"{_error(resp).get('code')}): is it valid for {checks.target.provider}?")
        return None
    data = _json(resp).get("data")
    if resp.status_code != 200 or not isinstance(data, list) or not data:
        checks.add("models", "FAIL", f"/v1/models answered {resp.status_code} without a model list")
        return None
    models = [str(m.get("id")) for m in data if isinstance(m, dict)]
    expected = checks.target.expect_models
    if expected and tuple(models) != expected:
        checks.add("models", "FAIL", f"allowlist is {', '.join(models)}; expected {', '.join(expected)}")
    else:
        checks.add("models", "PASS", f"{len(models)} allowed, default {models[0]}: {', '.join(models)}")
    return models[0]


def _allowlist(checks: _Checks, client: httpx.Client, base: str, headers: dict[str, str]) -> None:
    body = {"model": PROBE_MODEL, "messages": [{"role": "user", "content": "validate"}]}
    resp = client.post(f"{base}/v1/chat/completions", headers=headers, json=body)
    code = _error(resp).get("code")
    if resp.status_code == 404 and code == "model_not_found":
        checks.add("allowlist", "PASS", "a model outside the allowlist is refused (404 model_not_found)")
    else:
        checks.add("allowlist", "FAIL", f"a model outside the allowlist got {resp.status_code} {code}, expected 404")


def _max_tokens(checks: _Checks, client: httpx.Client, base: str, headers: dict[str, str], model: str) -> None:
    body = {"model": model, "max_tokens": PROBE_MAX_TOKENS, "messages": [{"role": "user", "content": "validate"}]}
    resp = client.post(f"{base}/v1/chat/completions", headers=headers, json=body)
    message = str(_error(resp).get("message", ""))
    found = re.search(r"at most (\d+)", message)
    if resp.status_code == 400 and found:
        checks.add("max_tokens", "PASS", f"requests above {found.group(1)} max_tokens are refused (400)")
    else:
        checks.add("max_tokens", "FAIL", f"max_tokens={PROBE_MAX_TOKENS} got {resp.status_code}, expected 400")


def _listed_tools(status: int, message: str) -> list[str]:
    """Tool names from the refusal: 422 `Input should be 'a', 'b' or 'c'` or 400 `available: a, b`."""
    if status == 422:
        return re.findall(r"'([^']+)'", message.partition("should be")[2])
    found = re.search(r"available: (.+)$", message) if status == 400 else None
    return [t.strip() for t in found.group(1).split(",") if t.strip()] if found else []


def _agent_tools(checks: _Checks, client: httpx.Client, base: str, headers: dict[str, str],
                 expect_tools: Sequence[str]) -> None:
    resp = client.post(f"{base}/v1/agent", headers=headers, json={"input": "validate", "tools": [PROBE_TOOL]})
    err = _error(resp)
    tools = _listed_tools(resp.status_code, str(err.get("message", "")))
    if not tools:
        checks.add("agent tools", "FAIL", f"/v1/agent answered {resp.status_code} {err.get('code')} to an unknown "
                                          "tool, expected 400/422 listing the available tools")
        return
    missing = [t for t in expect_tools if t not in tools]
    if missing:
        checks.add("agent tools", "FAIL", f"tools {', '.join(tools)}; missing {', '.join(missing)}")
    else:
        checks.add("agent tools", "PASS", f"create_agent tools: {', '.join(tools)}")
