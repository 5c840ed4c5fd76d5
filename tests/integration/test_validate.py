"""`python -m gateway.validate` against the running stack: green when configured, clear when not,
and never a token spent (the mock's request counters do not move)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import catalogue
from tests.support.process import running
from tests.support.stack import RunningStack

pytestmark = pytest.mark.integration

SERVICES = Path(__file__).resolve().parents[2] / "services"
PROVIDERS = catalogue.names()


def _validate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    penv = {k: v for k, v in os.environ.items() if not k.startswith(("VALIDATE_", "GATEWAY_"))}
    penv["PYTHONPATH"] = str(SERVICES)
    penv.update(env or {})
    return subprocess.run([sys.executable, "-m", "gateway.validate", *args], capture_output=True, text=True,
                          env=penv, timeout=120, check=False)


def _keys(stack: RunningStack) -> dict[str, str]:
    return {f"VALIDATE_CLIENT_KEY_{catalogue.provider(p).upper}": stack.keys[p] for p in PROVIDERS}


def _mock_stats(stack: RunningStack) -> dict:
    return httpx.get(f"{stack.mock_url}/_mock/stats", timeout=5).json()


@pytest.fixture
def direct(stack: RunningStack) -> list[str]:
    if set(stack.gateway_urls) != set(PROVIDERS):
        pytest.skip("this stack does not expose the gateways' direct URLs")
    return [arg for p in PROVIDERS for arg in ("--target", f"{p}={stack.gateway_urls[p]}")]


def test_every_gateway_validates_green_without_spending_tokens(stack: RunningStack, direct: list[str]) -> None:
    before = _mock_stats(stack)
    result = _validate(*direct, env=_keys(stack))
    assert result.returncode == 0, result.stdout + result.stderr
    for provider in PROVIDERS:
        assert f"[{provider}]" in result.stdout
    assert result.stdout.count("PASS  agent tools") == len(PROVIDERS)
    assert result.stdout.count("PASS  allowlist") == len(PROVIDERS)
    checks = 6 * len(PROVIDERS)
    assert result.stdout.splitlines()[-1] == f"validation PASS: {checks} checks, 0 failed, 0 warnings, 0 skipped"
    assert _mock_stats(stack) == before, "validation must not reach the LLM"


def test_validation_through_the_nginx_edge(stack: RunningStack) -> None:
    result = _validate("--edge", stack.url, "--cacert", str(stack.ca), env=_keys(stack))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"PASS  reachable    {stack.url}/openai/healthz answered 200" in result.stdout


def test_validation_with_the_stack_env_file(stack: RunningStack, direct: list[str], tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("".join(f"export {k}='{v}'\n" for k, v in stack.env.items()))
    result = _validate("--stack-env", str(env_file), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"ok": true' in result.stdout


def test_a_wrong_url_fails_with_the_address(stack: RunningStack) -> None:
    from devstack.ports import free_ports

    url = f"http://127.0.0.1:{free_ports(1)[0]}"
    result = _validate("--target", f"openai={url}")
    assert result.returncode == 1
    assert f"FAIL  reachable  cannot reach {url}/healthz: ConnectError" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("validation FAIL: 1 checks, 1 failed")


def test_a_misrouted_target_is_named(stack: RunningStack, direct: list[str]) -> None:
    result = _validate("--target", f"anthropic={stack.gateway_urls['openai']}")
    assert result.returncode == 1
    assert "is the 'openai' gateway, not 'anthropic'" in result.stdout


def test_a_rejected_client_key_is_reported(stack: RunningStack, direct: list[str]) -> None:
    result = _validate("--target", f"cohere={stack.gateway_urls['cohere']}",
                       env={"VALIDATE_CLIENT_KEY_COHERE": stack.keys["openai"]})
    assert result.returncode == 1
    assert "client key was rejected (403 provider_not_allowed)" in result.stdout


@contextlib.contextmanager
def _gateway_without_key(tmp: Path) -> Iterator[str]:
    """A real `python -m gateway` process for openai with no OPENAI_API_KEY (env backend)."""
    from devstack.ports import free_ports

    port = free_ports(1)[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_") and not k.endswith("_API_KEY")}
    env.update({"PYTHONPATH": str(SERVICES), "GATEWAY_PROVIDER": "openai", "GATEWAY_PORT": str(port),
                "GATEWAY_HOST": "127.0.0.1"})
    url = f"http://127.0.0.1:{port}"
    with running([sys.executable, "-m", "gateway"], f"{url}/healthz", tmp / "gateway.log", name="gateway",
                 env=env):
        yield url


def test_a_gateway_without_provider_key_fails_readiness_by_name(tmp_path: Path) -> None:
    with _gateway_without_key(tmp_path) as url:
        result = _validate("--target", f"openai={url}")
    assert result.returncode == 1
    assert (f"FAIL  readyz     {url}/readyz answered 503: provider key missing "
            "(secrets backend env: OPENAI_API_KEY is not set)") in result.stdout


def test_settings_only_inside_a_service_environment() -> None:
    env = {"GATEWAY_PROVIDER": "anthropic", "ANTHROPIC_API_KEY": "mock-anthropic-5e4f3a2b1c0d",
           "GATEWAY_UPSTREAM_BASE_URL": "http://127.0.0.1:8199", "GATEWAY_MODELS": "claude-sonnet-4-6"}
    result = _validate("--settings-only", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS  chat model    ChatAnthropic constructs; timeout 60 s, max_retries 2" in result.stdout
    missing = _validate("--settings-only", env={"GATEWAY_PROVIDER": "anthropic"})
    assert missing.returncode == 1
    assert "ANTHROPIC_API_KEY is not set (GATEWAY_SECRETS_BACKEND=env)" in missing.stdout
