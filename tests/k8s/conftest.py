"""Render the Helm chart with real `helm` for each value set; tests read the manifests as a cluster would.

`HELM` names the binary (`make test-k8s` passes build/tools/k8s/helm). A missing binary is a failure,
not a skip: the Makefile installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "llm-gateway"
# "defaults" renders values.yaml alone; the others add a file from the chart's ci/ directory.
VALUE_SETS: dict[str, Path | None] = {
    "defaults": None, **{p.name.removesuffix("-values.yaml"): p for p in sorted((CHART / "ci").glob("*-values.yaml"))}}
RELEASE, NAMESPACE = "llm", "llm"


def helm() -> str:
    """Return the helm binary; fail when it is missing."""
    found = os.environ.get("HELM") or shutil.which("helm") or str(ROOT / "build/tools/k8s/helm")
    if not Path(found).exists():
        pytest.fail("helm is missing: run `make k8s-tools`")
    return found


@dataclass(frozen=True)
class Rendered:
    """One value set's manifests."""

    name: str
    text: str
    docs: tuple[dict, ...]

    def of_kind(self, kind: str) -> list[dict]:
        """Return every object of this kind."""
        return [d for d in self.docs if d["kind"] == kind]

    def get(self, kind: str, name: str) -> dict | None:
        """Return the object of this kind and name, or None."""
        return next((d for d in self.of_kind(kind) if d["metadata"]["name"] == name), None)

    def one(self, kind: str, name: str) -> dict:
        """Return the object of this kind and name; fail when the value set does not render it."""
        found = self.get(kind, name)
        assert found is not None, f"{self.name}: no {kind} {name}"
        return found

    def enabled_providers(self) -> list[str]:
        """Return the providers this value set enables (values.yaml overlaid with the set's file)."""
        providers = {k: bool(v.get("enabled")) for k, v in chart_values()["providers"].items()}
        extra = VALUE_SETS[self.name]
        for name, entry in ((yaml.safe_load(extra.read_text()) if extra else {}) or {}).get("providers", {}).items():
            if "enabled" in entry:
                providers[name] = bool(entry["enabled"])
        return sorted(p for p, on in providers.items() if on)


def chart_values() -> dict:
    """Return the chart's values.yaml."""
    return yaml.safe_load((CHART / "values.yaml").read_text())


def _args(name: str) -> list[str]:
    extra = VALUE_SETS[name]
    return ["-f", str(extra)] if extra else []


@cache
def render(name: str) -> Rendered:
    """Run `helm template` for a value set."""
    out = subprocess.run([helm(), "template", RELEASE, str(CHART), "--namespace", NAMESPACE, *_args(name)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    docs = tuple(d for d in yaml.safe_load_all(out.stdout) if d)
    return Rendered(name, out.stdout, docs)


@pytest.fixture(params=sorted(VALUE_SETS))
def rendered(request: pytest.FixtureRequest) -> Iterator[Rendered]:
    """Each value set's manifests in turn."""
    yield render(request.param)


def template(*sets: str, set_string: tuple[str, ...] = (), value_set: str | None = None) -> tuple[int, list[dict], str]:
    """`helm template` with these --set (and --set-string) values over a value set: exit code, objects, stderr."""
    args = [a for s in sets for a in ("--set", s)] + [a for s in set_string for a in ("--set-string", s)]
    out = subprocess.run([helm(), "template", RELEASE, str(CHART), "--namespace", NAMESPACE,
                          *(_args(value_set) if value_set else []), *args], capture_output=True, text=True, timeout=120)
    docs = [d for d in yaml.safe_load_all(out.stdout) if d] if out.returncode == 0 else []
    return out.returncode, docs, out.stderr


def find(docs: list[dict], kind: str, name: str) -> dict | None:
    """The object of this kind and name among `docs`, or None."""
    return next((d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name), None)
