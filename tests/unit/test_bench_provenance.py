"""bench/provenance.py without git: how the pages name the code they measured (real repositories: tests/integration)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COMMIT = "0123456789abcdef0123456789abcdef01234567"


pytestmark = pytest.mark.usefixtures("bench_on_path")


def test_without_git_the_commit_is_unknown(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from provenance import describe, source

    monkeypatch.setenv("PATH", str(tmp_path))  # no git to run: the run goes on, its page says so
    src = source(REPO)
    assert src == {"commit": None, "dirty": False}
    assert describe(src) == describe(None) == "an unknown commit (no git checkout, or no git)"


def test_a_commit_is_named_by_its_first_12_digits_and_a_changed_tree_is_said() -> None:
    from provenance import Source, describe

    assert describe(Source(commit=COMMIT, dirty=False)) == "commit `0123456789ab`"
    assert describe(Source(commit=COMMIT, dirty=True)) == "commit `0123456789ab` with uncommitted changes"


def test_both_pages_name_the_code_in_their_first_paragraph() -> None:
    from instructions_report import markdown
    from report import run_line

    changed = {"commit": COMMIT, "dirty": True}
    meta = {"when": "2026-12-06 16:00 UTC", "mode": "sustained", "reps": 3, "duration": 10.0, "warmup": 0.5,
            "cpus": 2, "python": "3.11.7", "litellm": "1.108.7", "source": changed}
    assert ("Run: 2026-12-06 16:00 UTC on commit `0123456789ab` with uncommitted changes, mode `sustained`, "
            in run_line(meta))
    doc = {"counts": {}, "settings": {"requests": 60, "streams": 15, "chunk_delay_ms": 60, "source": changed}}
    assert "Counted on commit `0123456789ab` with uncommitted changes." in markdown(doc)
