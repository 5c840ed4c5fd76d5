"""The README's quick start as the user runs it: `python -m devstack up|status|down` (what `make up`, `make status`
and `make down` call), configured only by STACK_* variables, on free loopback ports in a temporary state dir."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import catalogue
from devstack.ports import free_ports
from tests.support.stack import external_stack

pytestmark = [pytest.mark.integration, pytest.mark.local_stack]


def _devstack(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devstack", command], env=env, capture_output=True, text=True,
                          timeout=240, check=False)


@pytest.fixture(scope="module")
def quick_start(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], Path]]:
    """`devstack up` with the defaults a laptop gets (ports aside), then `devstack down` whatever happened."""
    state = tmp_path_factory.mktemp("quick-start")
    providers = catalogue.providers()
    ports = iter(free_ports(5 + len(providers)))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("STACK_") and k not in {p.key_env for p in providers}}  # the keyless demo
    env.update({"STACK_STATE_DIR": str(state), "STACK_HTTPS_PORT": str(next(ports)),
                "STACK_HTTP_PORT": str(next(ports)), "STACK_MOCK_PORT": str(next(ports)),
                "STACK_BAO_PORT": str(next(ports)), "STACK_BAO_CLUSTER_PORT": str(next(ports))})
    env.update({f"STACK_GATEWAY_PORT_{p.upper}": str(next(ports)) for p in providers})
    up = subprocess.CompletedProcess[str]([], 1, "", "not started")
    try:
        up = _devstack("up", env)
        assert up.returncode == 0, up.stdout + up.stderr
        assert "source .stack/env" in up.stdout and "curl --cacert" in up.stdout
        yield env, state
    finally:
        down = _devstack("down", env)  # whatever `up` started, even if it failed half-way
        if up.returncode == 0:  # else `up`'s own failure is the one to report
            assert down.returncode == 0 and "stack stopped" in down.stdout, down.stdout + down.stderr
            assert _devstack("status", env).returncode == 3  # "stack is not running"


def test_up_writes_the_env_file_and_serves_every_provider(quick_start: tuple[dict[str, str], Path]) -> None:
    env, state = quick_start
    stack = external_stack(state / "env")
    assert stack.url == f"https://127.0.0.1:{env['STACK_HTTPS_PORT']}"
    status = _devstack("status", env)
    assert status.returncode == 0 and "nginx" in status.stdout, status.stdout + status.stderr
    with httpx.Client(base_url=stack.url, verify=str(stack.ca), timeout=30) as edge:
        for provider in ("openai", "anthropic", "cohere"):
            reply = edge.post(f"/{provider}/v1/chat/completions", headers={"x-api-key": stack.keys[provider]},
                              json={"model": stack.model(provider), "messages": [{"role": "user", "content": "hi"}]})
            assert reply.status_code == 200, reply.text
            assert reply.json()["choices"][0]["message"]["content"]


def test_a_web_app_on_the_dev_server_origin_may_call_it(quick_start: tuple[dict[str, str], Path]) -> None:
    _, state = quick_start
    stack = external_stack(state / "env")
    assert stack.env["STACK_CORS_ORIGINS"] == "http://localhost:3000"
    with httpx.Client(base_url=stack.url, verify=str(stack.ca), timeout=30) as edge:
        preflight = edge.options("/openai/v1/chat/completions", headers={
            "Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-stainless-os"})
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "http://localhost:3000"
        other = edge.options("/openai/v1/chat/completions", headers={
            "Origin": "http://localhost:8000", "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in other.headers
