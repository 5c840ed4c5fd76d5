"""Check results and their rendering: one line per check, a summary, an exit code."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Literal, TextIO

Status = Literal["PASS", "WARN", "FAIL", "SKIP"]

# Long enough that a random key contains one by chance with negligible probability.
_PLACEHOLDER_MARKERS = ("changeme", "change-me", "change_me", "replace-me", "replace_me", "replaceme",
                        "placeholder", "your-", "your_", "example")
_PLACEHOLDER_WORDS = frozenset({"todo", "tbd", "none", "null", "secret", "password", "key", "xxx"})


def looks_like_placeholder(value: str) -> bool:
    """Tell whether a secret value is empty or a documentation placeholder such as `<openai-key>`."""
    lowered = value.strip().lower()
    if not lowered or "<" in lowered or set(lowered) <= {"x", "*", "."} or lowered in _PLACEHOLDER_WORDS:
        return True
    return any(marker in lowered for marker in _PLACEHOLDER_MARKERS)


@dataclass(frozen=True, slots=True)
class Check:
    """The outcome of one check on one target."""

    target: str
    name: str
    status: Status
    detail: str


@dataclass
class Report:
    """Collects checks and renders them for people (text) or programs (JSON)."""

    checks: list[Check] = field(default_factory=list)

    def add(self, target: str, name: str, status: Status, detail: str) -> Check:
        """Record one check and return it."""
        check = Check(target, name, status, detail)
        self.checks.append(check)
        return check

    def extend(self, checks: Iterable[Check]) -> None:
        """Record several checks."""
        self.checks.extend(checks)

    def count(self, status: Status) -> int:
        """Number of checks with `status`."""
        return sum(1 for c in self.checks if c.status == status)

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return self.count("FAIL") == 0 and bool(self.checks)

    def summary(self) -> str:
        """One line: the verdict and the counts."""
        verdict = "PASS" if self.ok else "FAIL"
        warnings = self.count("WARN")
        return (f"validation {verdict}: {len(self.checks)} checks, {self.count('FAIL')} failed, "
                f"{warnings} warning{'' if warnings == 1 else 's'}, {self.count('SKIP')} skipped")

    def write_text(self, out: TextIO) -> None:
        """Print the checks grouped by target, then the summary."""
        width = max((len(c.name) for c in self.checks), default=10)
        current = None
        for check in self.checks:
            if check.target != current:
                current = check.target
                print(f"[{current}]", file=out)
            print(f"  {check.status:<4}  {check.name:<{width}}  {check.detail}", file=out)
        print(self.summary(), file=out)

    def write_json(self, out: TextIO) -> None:
        """Print the checks and the verdict as one JSON document."""
        doc = {"ok": self.ok, "summary": self.summary(), "checks": [asdict(c) for c in self.checks]}
        print(json.dumps(doc, indent=2), file=out)
