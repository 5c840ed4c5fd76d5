"""Fixtures for the container stage: the Docker engine, the built images and the compose stack.

Needs a running engine and the images from `make containers-build` (mk/containers.mk). A missing
engine is a failure, not a skip: the Makefile installs and starts it. The compose stack is the
one described by STACK_ENV_FILE when that file says STACK_KIND=compose; otherwise this session
starts it with deploy/docker/stack.sh and tears it down (containers, networks, volumes) at the end.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import catalogue
from tests.support.stack import parse_env_file

REPO = Path(__file__).resolve().parents[2]
STACK_SH = REPO / "deploy" / "docker" / "stack.sh"
PROVIDERS = catalogue.names()
PREFIX = os.environ.get("LLMGW_IMAGE_PREFIX", "llmgw")
TAG = os.environ.get("LLMGW_TAG", "local")
PROJECT = os.environ.get("LLMGW_PROJECT", "llmgw")

pytestmark = pytest.mark.containers


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI and return its result (text)."""
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=timeout)


def image(target: str) -> str:
    """Name of the locally built image for a target (provider, mock, nginx)."""
    return f"{PREFIX}/{target}:{TAG}"


@pytest.fixture(scope="session", autouse=True)
def engine() -> None:
    """Fail fast, with the reason, when the Docker engine does not answer."""
    try:
        result = docker("info", "--format", "{{.ServerVersion}}", check=False, timeout=20)
    except FileNotFoundError:
        pytest.fail("docker CLI not installed (make containers-base installs docker.io)")
    if result.returncode != 0:
        pytest.fail(f"Docker engine not reachable (deploy/docker/start-dockerd.sh): {result.stderr.strip()}")


@dataclass
class ComposeStack:
    """A running compose stack: its env (stack.env) and how to reach its containers."""

    env: dict[str, str]

    def container(self, service: str) -> str:
        """Container id of a compose service."""
        out = docker("ps", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}",
                     "--filter", f"label=com.docker.compose.service={service}").stdout.split()
        assert out, f"no running container for service {service}"
        return out[0]

    def exec_python(self, service: str, code: str) -> subprocess.CompletedProcess[str]:
        """Run a Python snippet inside a service's container."""
        return docker("exec", self.container(service), "python3", "-c", code, check=False, timeout=60)


@pytest.fixture(scope="session")
def compose_stack() -> Iterator[ComposeStack]:
    """The compose stack under test (see the module docstring)."""
    env_file = os.environ.get("STACK_ENV_FILE")
    if env_file and parse_env_file(Path(env_file)).get("STACK_KIND") == "compose":
        yield ComposeStack(parse_env_file(Path(env_file)))
        return
    up = subprocess.run([str(STACK_SH), "up"], capture_output=True, text=True, timeout=600, check=False)
    try:
        if up.returncode != 0:
            pytest.fail(f"compose stack did not come up:\n{up.stdout}\n{up.stderr}")
        state = Path(os.environ.get("LLMGW_STATE_DIR", REPO / ".stack" / "compose"))
        yield ComposeStack(parse_env_file(state / "stack.env"))
    finally:
        subprocess.run([str(STACK_SH), "down"], capture_output=True, text=True, timeout=300, check=False)
