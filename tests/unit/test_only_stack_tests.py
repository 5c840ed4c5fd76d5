"""`--only-stack-tests` (tests/conftest.py), which the container stage passes: it keeps exactly the tests that use
the stack under test, so the tests that start their own processes do not run a second time there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FILES = ["tests/integration/test_vault_isolation.py", "tests/integration/test_edge_routing.py"]


def collected(*extra: str) -> list[str]:
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                          "-p", "no:xdist", *extra, *FILES],
                         cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    return [line for line in out.stdout.splitlines() if "::" in line]


def test_only_the_tests_using_the_stack_are_kept() -> None:
    everything, kept = collected(), collected("--only-stack-tests")
    # test_vault_isolation starts its own OpenBao; test_edge_routing goes through the stack's edge
    assert any("test_vault_isolation" in t for t in everything)
    assert kept and all("test_edge_routing" in t for t in kept)
    assert kept == [t for t in everything if "test_edge_routing" in t]
