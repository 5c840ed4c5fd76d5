"""deploy/deploy.sh argument handling, configuration refusal and --dry-run output.

The script runs under bash with an empty environment and a PATH holding only a few coreutils:
no docker, no curl, no ssh — so a dry run that tried to touch an engine would fail here.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

import catalogue

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "deploy.sh"
STEPS = REPO / "deploy" / "deploy-steps.sh"  # sourced by SCRIPT
EXAMPLE = REPO / "deploy" / ".env.production.example"
COMPONENTS = (*catalogue.names(), "nginx", "mock")
TOOLS = ("bash", "env", "dirname", "basename", "date", "awk", "sed", "cat", "mkdir", "tail", "head")
# Real-looking values, made at run time (never committed), so placeholder detection cannot match them.
SECRETS = {"VAULT_ADMIN_TOKEN": "hvs." + secrets.token_hex(12),
           **{p.key_env: f"{p.name[:2]}-live-" + secrets.token_hex(12) for p in catalogue.providers()},
           "REGISTRY_PASSWORD": "ghp_" + secrets.token_hex(12)}


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """A PATH with only the listed tools, and a state directory."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    (tmp_path / "state").mkdir()
    return tmp_path


def _config(sandbox: Path, **overrides: str | None) -> Path:
    values: dict[str, str | None] = {
        "LLMGW_STATE_DIR": str(sandbox / "state"), "LLMGW_PUBLIC_URL": "https://127.0.0.1:8443",
        "LLMGW_TLS_CERT": "/etc/tls/server.pem", "LLMGW_TLS_KEY": "/etc/tls/server.key",
        **{k: v for k, v in SECRETS.items() if k != "REGISTRY_PASSWORD"},
    }
    values.update(overrides)
    path = sandbox / "deploy.env"
    path.write_text("# test configuration\n" + "".join(f"{k}={v}\n" for k, v in values.items() if v is not None))
    return path


def _deploy(sandbox: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    penv = {"PATH": str(sandbox / "bin"), "HOME": str(sandbox), **(env or {})}
    return subprocess.run([str(sandbox / "bin" / "bash"), str(SCRIPT), *args], capture_output=True, text=True,
                          env=penv, cwd=sandbox, timeout=60, check=False)


def test_syntax() -> None:
    assert subprocess.run(["bash", "-n", str(SCRIPT)], check=False).returncode == 0
    assert os.access(SCRIPT, os.X_OK)
    assert "set -euo pipefail" in SCRIPT.read_text()


def test_help_lists_the_five_steps_and_options(sandbox: Path) -> None:
    result = _deploy(sandbox, "--help")
    assert result.returncode == 0
    for word in ("--env", "--dry-run", "--images-file", "--rollback", "--tag", "staging or prod",
                 "1 images, 2 push, 3 deploy, 4 health (through nginx), 5 validate"):
        assert word in result.stdout


@pytest.mark.parametrize(("args", "message"), [
    ([], "--env is required"),
    (["--env", "qa"], "--env must be staging or prod, not 'qa'"),
    (["--env"], "--env needs a value"),
    (["--env", "prod", "--bogus"], "unknown argument: --bogus"),
    (["--env", "prod"], ".env.prod not found: copy deploy/.env.production.example"),
])
def test_usage_errors_exit_2(sandbox: Path, args: list[str], message: str) -> None:
    result = _deploy(sandbox, *args)
    assert result.returncode == 2
    assert message in result.stderr


def test_the_example_file_is_refused_until_filled_in(sandbox: Path) -> None:
    result = _deploy(sandbox, "--env", "prod", "--env-file", str(EXAMPLE), "--dry-run")
    assert result.returncode == 2
    assert re.search(r"error: REGISTRY still holds a placeholder \(.*\.env\.production\.example:\d+\)", result.stderr)


@pytest.mark.parametrize("name", ["VAULT_ADMIN_TOKEN", *(p.key_env for p in catalogue.providers())])
def test_a_missing_secret_is_named(sandbox: Path, name: str) -> None:
    result = _deploy(sandbox, "--env", "prod", "--env-file", str(_config(sandbox, **{name: None})), "--dry-run")
    assert result.returncode == 2
    assert f"error: {name} is missing" in result.stderr


@pytest.mark.parametrize("value", ["changeme", "CHANGE-ME-please", "xxxxxxxx", "your-key-here", "replace_me",
                                   "todo", "sk-example-0000", "<openai-api-key>"])
def test_a_placeholder_secret_is_named(sandbox: Path, value: str) -> None:
    """Same rule as gateway.validation.looks_like_placeholder (tests/unit/test_validate.py)."""
    result = _deploy(sandbox, "--env", "prod", "--env-file", str(_config(sandbox, OPENAI_API_KEY=value)), "--dry-run")
    assert result.returncode == 2
    assert "OPENAI_API_KEY" in result.stderr and "placeholder" in result.stderr


def test_registry_password_is_required_and_checked_when_pushing(sandbox: Path) -> None:
    cfg = _config(sandbox, REGISTRY="registry.internal:5000/llm", REGISTRY_USERNAME="ci", REGISTRY_PASSWORD="changeme")
    result = _deploy(sandbox, "--env", "prod", "--env-file", str(cfg), "--dry-run")
    assert result.returncode == 2
    assert "REGISTRY_PASSWORD holds a placeholder value" in result.stderr


def test_mock_upstream_is_refused_for_prod_but_needs_no_provider_keys_for_staging(sandbox: Path) -> None:
    cfg = _config(sandbox, LLMGW_UPSTREAM="mock", **{p.key_env: None for p in catalogue.providers()})
    prod = _deploy(sandbox, "--env", "prod", "--env-file", str(cfg), "--dry-run")
    assert prod.returncode == 2 and "LLMGW_UPSTREAM=mock is refused for --env prod" in prod.stderr
    staging = _deploy(sandbox, "--env", "staging", "--env-file", str(cfg), "--dry-run")
    assert staging.returncode == 0, staging.stderr


def test_a_remote_target_needs_a_registry(sandbox: Path) -> None:
    cfg = _config(sandbox, DOCKER_HOST="ssh://deploy@llm.internal:2222")
    result = _deploy(sandbox, "--env", "prod", "--env-file", str(cfg), "--dry-run")
    assert result.returncode == 2
    assert "is remote: set REGISTRY" in result.stderr


def test_the_env_file_is_parsed_not_executed(sandbox: Path) -> None:
    marker = sandbox / "executed"
    cfg = _config(sandbox, OPENAI_API_KEY=f"$(touch {marker})")
    _deploy(sandbox, "--env", "prod", "--env-file", str(cfg), "--dry-run")
    assert not marker.exists()
    (sandbox / "bad.env").write_text("this is not an assignment\n")
    result = _deploy(sandbox, "--env", "prod", "--env-file", str(sandbox / "bad.env"))
    assert result.returncode == 2 and "bad.env:1: not KEY=VALUE" in result.stderr


def test_dry_run_prints_every_step_and_changes_nothing(sandbox: Path) -> None:
    cfg = _config(sandbox, LLMGW_HEALTH_CACERT="/etc/tls/ca.pem")
    result = _deploy(sandbox, "--env", "staging", "--env-file", str(cfg), "--tag", "v1.2.3", "--dry-run")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "project llmgw-staging, tag v1.2.3, target local engine, DRY RUN" in out
    for n, name in enumerate(("images", "push", "deploy", "health", "validate"), start=1):
        assert re.search(rf"\[{n}/5\] {name} ✓ \d+\.\ds — ", out), f"step {n} {name}:\n{out}"
    assert f"deploy/docker/build-images.sh {' '.join(COMPONENTS)}" in out
    assert "IMAGE_TAG=v1.2.3" in out
    assert "skipped: no REGISTRY" in out
    assert "+ compose up -d --remove-orphans" in out
    blank = f"+ replace {sandbox / 'state'}/provider-keys.json with {{}}"  # once vault-bootstrap is done with it
    assert out.index("+ compose up -d --remove-orphans") < out.index(blank) < out.index("[4/5] health")
    assert "+ curl -fsS https://127.0.0.1:8443/openai/readyz" in out
    assert "+ docker exec <gateway-cohere> python -m gateway.validate --settings-only" in out
    assert "+ record v1.2.3 live" in out
    for secret in SECRETS.values():
        assert secret not in out + result.stderr
    assert list((sandbox / "state").iterdir()) == [], "a dry run writes nothing"


def test_dry_run_with_a_registry_pushes_with_password_on_stdin(sandbox: Path) -> None:
    cfg = _config(sandbox, REGISTRY="registry.internal:5000/llm", REGISTRY_USERNAME="ci",
                  REGISTRY_PASSWORD=SECRETS["REGISTRY_PASSWORD"], DOCKER_HOST="ssh://deploy@llm.internal")
    result = _deploy(sandbox, "--env", "prod", "--env-file", str(cfg), "--tag", "abc123", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "+ docker login registry.internal:5000 -u ci --password-stdin" in result.stdout
    assert "+ local_docker push -q registry.internal:5000/llm/llm-gateway-openai:abc123" in result.stdout
    assert "+ docker pull -q registry.internal:5000/llm/llm-gateway-nginx:abc123" in result.stdout
    assert SECRETS["REGISTRY_PASSWORD"] not in result.stdout


def test_dry_run_with_published_references(sandbox: Path) -> None:
    images = sandbox / "images.txt"
    refs = [f"ghcr.io/acme/llm-gateway-{c}:v2@sha256:{'a' * 64}" for c in COMPONENTS]
    images.write_text("\n".join(refs) + "\n")
    result = _deploy(sandbox, "--env", "prod", "--env-file", str(_config(sandbox)), "--images-file", str(images),
                     "--tag", "v2", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert f"+ docker pull -q {refs[0]}" in result.stdout
    assert f"+ docker tag {refs[-2]} llmgw/nginx:v2" in result.stdout
    assert "skipped: already published (--images-file)" in result.stdout
    assert f"+ docker tag {refs[-1]} llmgw/mock:v2" in result.stdout  # vault-bootstrap runs from it


def test_published_references_must_cover_every_image_compose_runs(sandbox: Path) -> None:
    images = sandbox / "images.txt"
    # A registry with a port: the component is the name after the last slash.
    images.write_text("".join(f"registry.internal:5000/llm/llm-gateway-{c}:v2\n" for c in COMPONENTS[:-1]))
    result = _deploy(sandbox, "--env", "prod", "--env-file", str(_config(sandbox)), "--images-file", str(images),
                     "--tag", "v2", "--dry-run")
    assert result.returncode == 2
    assert "has no reference for 'mock'" in result.stderr
    images.write_text(images.read_text() + "registry.internal:5000/llm/llm-gateway-mock:v2\n")
    result = _deploy(sandbox, "--env", "prod", "--env-file", str(_config(sandbox)), "--images-file", str(images),
                     "--tag", "v2", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "+ docker tag registry.internal:5000/llm/llm-gateway-mock:v2 llmgw/mock:v2" in result.stdout


def test_real_upstream_refuses_a_service_env_file_pointing_at_the_mock(sandbox: Path) -> None:
    env_dir = sandbox / "env"
    env_dir.mkdir()
    for p in ("openai", "anthropic", "cohere"):
        (env_dir / f"{p}.env").write_text("GATEWAY_LOG_LEVEL=info\n# GATEWAY_UPSTREAM_BASE_URL=http://mock:8199\n")
    (env_dir / "cohere.env").write_text((REPO / "deploy" / "env" / "cohere.env.example").read_text())
    result = _deploy(sandbox, "--env", "prod", "--env-file", str(_config(sandbox, LLMGW_ENV_DIR=str(env_dir))),
                     "--dry-run")
    assert result.returncode == 2
    assert f"{env_dir}/cohere.env points at the mock upstream" in result.stderr


def test_rollback_needs_recorded_releases(sandbox: Path) -> None:
    cfg = _config(sandbox)
    none = _deploy(sandbox, "--env", "prod", "--env-file", str(cfg), "--rollback", "--dry-run")
    assert none.returncode == 2 and "no live release recorded" in none.stderr
    (sandbox / "state" / "releases").write_text(
        "2025-01-01T00:00:00Z r1 live\n2025-01-02T00:00:00Z r2 live\n2025-01-03T00:00:00Z r3 failed\n"
        "2025-01-03T00:01:00Z r2 live\n")
    result = _deploy(sandbox, "--env", "prod", "--env-file", str(cfg), "--rollback", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "would roll back r2 → r1" in result.stdout


def test_invalid_tag_is_refused(sandbox: Path) -> None:
    result = _deploy(sandbox, "--env", "prod", "--env-file", str(_config(sandbox)), "--tag", "bad tag", "--dry-run")
    assert result.returncode == 2 and "is not a valid image tag" in result.stderr


def test_every_variable_the_script_reads_is_documented() -> None:
    script = SCRIPT.read_text() + STEPS.read_text() + (SCRIPT.parent / "deploy-target.sh").read_text()
    read = set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)", script)) | {"DOCKER_HOST"}
    internal = {"BASH_REMATCH", "BASH_SOURCE", "EPOCHREALTIME", "PROVIDERS", "PROVIDER_KEY_VARS", "COMPONENTS",
                "SECRETS", "CONFIG_FILES", "ADMIN_TOKEN_MIN_TTL_S"}
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", EXAMPLE.read_text(), re.M))
    assert read - internal <= documented, (read - internal) - documented
