"""Which code a benchmark measured: the checkout's commit, and whether the tree differed from it.

A page of figures that does not name its code cannot be compared with the code that follows it. The bench's
own outputs (the pages it writes) do not count as changes: regenerating them is what a run does.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TypedDict

WRITTEN = ("docs/benchmarks.md", "docs/benchmarks.png", "docs/instructions.md")  # the bench's own pages


class Source(TypedDict):
    commit: str | None  # None: not a git checkout (or git is missing)
    dirty: bool  # tracked files changed, or files git does not ignore added, other than WRITTEN


def source(repo: Path) -> Source:
    """The commit checked out in `repo` and whether its tree has changes; taken when a run starts."""
    try:
        commit = _git(repo, "rev-parse", "--verify", "HEAD")
        changes = _git(repo, "status", "--porcelain", "--", ".", *(f":(exclude){path}" for path in WRITTEN))
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": False}
    return {"commit": commit, "dirty": bool(changes)}


def describe(src: Source | None) -> str:
    """The code, for a page's header: "commit `0123456789ab`" (+ " with uncommitted changes")."""
    if src is None or src["commit"] is None:
        return "an unknown commit (no git checkout, or no git)"
    return f"commit `{src['commit'][:12]}`" + (" with uncommitted changes" if src["dirty"] else "")


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=30, check=True)
    return done.stdout.strip()
