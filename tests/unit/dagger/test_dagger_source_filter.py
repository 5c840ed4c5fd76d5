"""The source filter (llm_stack.source); tests/containers checks it against Docker's own matcher."""


import pytest

from tests.unit.dagger.chain import (
    filter_paths,
    is_ignored,
)


@pytest.mark.parametrize(
    "path",
    ["dagger.json", "ci/.gitignore", "ci/pyproject.toml", ".dockerignore", "ci/steps/run.sh",
     "services/gateway/app.py", "tests/unit/dagger/chain.py", "deploy/.env.production.example",
     "tools/actionlint/run.mjs", ".github/workflows/ci.yml", "bench/report.py"],
)  # fmt: skip
def test_filter_uploads_what_tests_and_builds_read(path: str) -> None:
    assert not is_ignored(path)


@pytest.mark.parametrize(
    "path",
    ["services/x.pem", "nginx/tls/server.key", ".env", "deploy/.env.prod", "services/gateway/.env",
     ".venv/lib/python3.11/site-packages/x.py", "ci/sdk/pyproject.toml", "ci/.venv/bin/python",
     "services/gateway/__pycache__/app.cpython-311.pyc", "tools/actionlint/node_modules/a/index.js",
     ".stack/env", ".bench/state/x.json", "scratch/notes.py", ".git/config"],
)  # fmt: skip
def test_filter_drops_secrets_state_and_droppings(path: str) -> None:
    assert is_ignored(path)


def test_filter_rules_are_dockerignore_rules() -> None:
    """Last match wins, `*` stays in a segment, a matched directory covers its tree, `**/` spans zero or more."""
    rules = ["*", "!keep/**", "keep/drop", "!keep/drop/back.txt", "**/x?.tmp"]
    paths = ["top.txt", "keep/a/b.txt", "keep/drop/c.txt", "keep/drop/back.txt", "keep/x1.tmp", "keep/a/x22.tmp"]
    assert filter_paths(paths, rules) == ["keep/a/b.txt", "keep/drop/back.txt", "keep/a/x22.tmp"]
