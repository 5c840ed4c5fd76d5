"""deploy/docker/build-images.sh's scheduling: the first image alone, the rest BUILD_JOBS at a time, and a
failed build fails the script with its log.

The engine is the one thing replaced: a `docker` on PATH that records when each build starts and ends
(the real builds run in the container stage, `make test-containers`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "docker" / "build-images.sh"

FAKE_DOCKER = r"""#!/usr/bin/env bash
# docker build ... -t IMAGE CONTEXT  |  docker image inspect -f ... IMAGE
set -euo pipefail
log="${FAKE_DOCKER_LOG:?}"
if [[ "$1" == build ]]; then
    image=""
    while (($#)); do [[ "$1" == -t ]] && image="$2"; shift; done
    echo "start ${image} $(date +%s.%N)" >>"${log}"
    if [[ "${image}" == *"${FAKE_FAIL:-no-such-image}"* ]]; then  # fails at once, the others still build
        echo "Step 4/9 : RUN pip install: no matching distribution" >&2
        echo "end ${image} $(date +%s.%N) failed" >>"${log}"
        exit 1
    fi
    sleep "${FAKE_BUILD_S:-0.3}"
    echo "end ${image} $(date +%s.%N)" >>"${log}"
elif [[ "$1 $2" == "image inspect" ]]; then
    echo 123456789
else
    echo "unexpected: docker $*" >&2
    exit 2
fi
"""


def _run(tmp_path: Path, targets: list[str], **env: str) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER)
    docker.chmod(0o755)
    log = tmp_path / "docker.log"
    log.write_text("")
    if not (bin_dir / "python3").exists():  # the script checks the rendered Dockerfiles with python3
        (bin_dir / "python3").symlink_to(sys.executable)
    penv = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "FAKE_DOCKER_LOG": str(log), **env}
    result = subprocess.run(["bash", str(SCRIPT), *targets], capture_output=True, text=True, env=penv,
                            timeout=60, check=False)
    return result, [line.split() for line in log.read_text().splitlines()]


def _most_at_once(events: list[list[str]]) -> int:
    running = most = 0
    for kind, _image, _t, *_ in sorted(events, key=lambda e: float(e[2])):
        running += 1 if kind == "start" else -1
        most = max(most, running)
    return most


TARGETS = ["openai", "anthropic", "cohere", "mistral", "mock", "nginx"]


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_the_first_builds_alone_then_at_most_build_jobs_at_a_time(tmp_path: Path, jobs: int) -> None:
    result, events = _run(tmp_path, TARGETS, BUILD_JOBS=str(jobs))
    assert result.returncode == 0, result.stderr
    starts = [e for e in events if e[0] == "start"]
    assert sorted(e[1] for e in starts) == sorted(f"llmgw/{t}:local" for t in TARGETS)  # each once
    first_end = next(float(e[2]) for e in events if e[0] == "end" and e[1] == "llmgw/openai:local")
    assert starts[0][1] == "llmgw/openai:local"
    assert all(float(e[2]) >= first_end for e in starts[1:]), "the others wait for the first (shared layers)"
    assert _most_at_once(events) == jobs
    for target in TARGETS:
        assert f"build: llmgw/{target}:local in " in result.stdout
        assert f"llmgw/{target}:local" in result.stdout.split("images:")[1]


def test_a_failed_build_fails_the_script_with_its_log_and_starts_nothing_more(tmp_path: Path) -> None:
    result, events = _run(tmp_path, TARGETS, BUILD_JOBS="2", FAKE_FAIL="anthropic")
    assert result.returncode == 1
    assert "build: llmgw/anthropic:local FAILED" in result.stderr
    assert "no matching distribution" in result.stderr  # the failed build's own output
    assert "images:" not in result.stdout
    started = [e[1] for e in events if e[0] == "start"]
    # anthropic and cohere start together; once anthropic failed, nothing new starts (cohere finishes)
    assert started[0] == "llmgw/openai:local"
    assert sorted(started[1:]) == ["llmgw/anthropic:local", "llmgw/cohere:local"]
    assert ["end", "llmgw/cohere:local"] == [e[:2] for e in events if e[1] == "llmgw/cohere:local"][-1]


def test_a_failed_first_build_stops_at_once(tmp_path: Path) -> None:
    result, events = _run(tmp_path, TARGETS, BUILD_JOBS="4", FAKE_FAIL="openai")
    assert result.returncode == 1 and "build: llmgw/openai:local FAILED" in result.stderr
    assert [e[1] for e in events if e[0] == "start"] == ["llmgw/openai:local"]


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_a_bad_build_jobs_is_refused_before_any_build(tmp_path: Path, value: str) -> None:
    result, events = _run(tmp_path, TARGETS, BUILD_JOBS=value)
    assert result.returncode == 2
    assert f"BUILD_JOBS must be a positive integer, not '{value}'" in result.stderr
    assert events == []


def test_the_default_is_the_cpu_count_at_most_four(tmp_path: Path) -> None:
    result, events = _run(tmp_path, TARGETS, FAKE_BUILD_S="0.5")
    assert result.returncode == 0, result.stderr
    assert _most_at_once(events) == min(len(os.sched_getaffinity(0)), 4, len(TARGETS) - 1)
