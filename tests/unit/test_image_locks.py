"""The image locks (services/constraints/<target>.txt) hold what pyproject.toml asks of each image.

An image installs its lock with --require-hashes, then the project with --no-deps: a dependency missing from the
lock is simply absent (`pip check` cannot see an extra's), and one locked at another version than pyproject's pin
is not what the tests ran. generate.sh writes the locks; this says when one is stale.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

import catalogue

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PIN = re.compile(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==([^\s;]+)")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(requirements: list[str]) -> dict[str, str]:
    pins = {}
    for line in requirements:
        found = PIN.match(line)
        assert found, f"pyproject.toml: {line!r} is not pinned with =="
        pins[_norm(found[1])] = found[2]
    return pins


def _lock(target: str) -> dict[str, str]:
    text = (ROOT / "services" / "constraints" / f"{target}.txt").read_text()
    entries = re.findall(r"^([a-z0-9._-]+)==(\S+) \\\n    --hash=sha256:([0-9a-f]{64})$", text, re.M)
    assert len(entries) == text.count("=="), f"{target}.txt: an entry without its sha256"
    return {_norm(name): version for name, version, _ in entries}


TARGETS = [*sorted({row.extra for row in catalogue.providers()}), "mock"]


@pytest.mark.parametrize("target", TARGETS)
def test_every_lock_pins_its_images_dependencies_at_pyprojects_versions(target: str) -> None:
    extras = PROJECT["optional-dependencies"]
    wanted = _pins(PROJECT["dependencies"])
    if target != "mock":  # the mock image runs the core only; a gateway adds its SDK extra and the shared engines
        wanted |= _pins(extras[target]) | _pins(extras["shared"])
    locked = _lock(target)
    assert {name: locked.get(name) for name in wanted} == wanted
