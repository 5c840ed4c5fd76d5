"""The committed per-environment service settings that `release.yml` deploys with `--service-env`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import catalogue

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("env", ["staging", "prod"])
@pytest.mark.parametrize("provider", catalogue.names())
def test_service_env_is_real_upstream_and_secret_free(env: str, provider: str) -> None:
    text = (ROOT / "deploy" / "env" / env / f"{provider}.env").read_text()
    settings = dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert "GATEWAY_UPSTREAM_BASE_URL" not in settings  # deploy.sh refuses a mock upstream for real deploys
    assert "GATEWAY_PROVIDER" not in settings  # baked into each image
    assert not any(re.search(r"KEY|TOKEN|SECRET|PASSWORD", k) for k in settings), settings
    assert settings["GATEWAY_MODELS"].split(",")[0]


def test_release_workflow_passes_the_service_env() -> None:
    workflow = (ROOT / ".github" / "workflows" / "release.yml").read_text()
    for env in ("staging", "prod"):
        assert f"--service-env deploy/env/{env}" in workflow
