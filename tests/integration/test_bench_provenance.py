"""bench/provenance.py against real git repositories: the commit a bench run measured, and whether the tree differed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("bench_on_path")


@pytest.fixture(autouse=True)
def outside_any_repository(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # a folder outside any repository stays outside


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=bench", "-c", "user.email=bench@example.invalid",
                           *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "docs").mkdir(parents=True)
    (root / "gateway.py").write_text("x = 1\n")
    (root / "docs" / "benchmarks.md").write_text("old figures\n")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "first")
    return root


def test_a_clean_checkout_gives_its_commit(repo: Path) -> None:
    from provenance import describe, source

    head = _git(repo, "rev-parse", "HEAD")
    src = source(repo)
    assert src == {"commit": head, "dirty": False}
    assert describe(src) == f"commit `{head[:12]}`"


def test_the_bench_pages_it_rewrites_are_not_changes(repo: Path) -> None:
    from provenance import source

    (repo / "docs" / "benchmarks.md").write_text("new figures\n")
    (repo / "docs" / "instructions.md").write_text("counted\n")  # untracked, but the bench's own
    assert source(repo)["dirty"] is False


@pytest.mark.parametrize("change", ["edit", "new file"])
def test_any_other_change_marks_the_run(repo: Path, change: str) -> None:
    from provenance import describe, source

    if change == "edit":
        (repo / "gateway.py").write_text("x = 2\n")
    else:
        (repo / "limits.py").write_text("y = 1\n")
    src = source(repo)
    assert src["dirty"] is True
    assert describe(src).endswith(" with uncommitted changes")


def test_outside_a_checkout_the_commit_is_unknown(tmp_path: Path) -> None:
    from provenance import source

    assert source(tmp_path) == {"commit": None, "dirty": False}
