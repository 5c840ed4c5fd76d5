"""Shared fixtures: a clean environment and the stack under test.

Integration tests run against `stack`: by default a fresh local process stack
(OpenBao, mock, three gateways, nginx) started on free loopback ports for the whole
session; with STACK_ENV_FILE set, an already running stack described by that file
(the compose stack, or the Dagger services) — then tests marked `local_stack`, which
need to stop or inspect local processes, are deselected with `-m "not local_stack"`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import catalogue
from devstack.ports import PORT_SHARE_ENV
from tests.support.stack import RunningStack, external_stack, local_stack

_SCRUB = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
          "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
          *(p.key_env for p in catalogue.providers()), "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL",
          "CO_API_KEY", "CO_API_URL", "MISTRAL_BASE_URL")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's proxies, CA bundles and real provider keys out of every test."""
    for name in _SCRUB:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def bench_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """bench/ importable (its modules import each other by name, as `python bench/run.py` runs them)."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The stack under test (see the module docstring)."""
    env_file = os.environ.get("STACK_ENV_FILE")
    if env_file:
        yield external_stack(Path(env_file))
        return
    with local_stack(tmp_path_factory.mktemp("stack")) as running:
        yield running


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--only-stack-tests", action="store_true",
        help="keep only the tests that use the `stack` fixture: against a stack named by STACK_ENV_FILE, the "
             "others start their own processes and test nothing of that stack (they run in the local suites)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """--only-stack-tests: deselect the tests that do not use the stack under test."""
    if not config.getoption("--only-stack-tests"):
        return
    keep = [item for item in items if "stack" in getattr(item, "fixturenames", ())]
    dropped = [item for item in items if "stack" not in getattr(item, "fixturenames", ())]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def pytest_configure(config: pytest.Config) -> None:
    """On a pytest-xdist worker, pick loopback ports only from this worker's share of the range."""
    worker, count = os.environ.get("PYTEST_XDIST_WORKER"), os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if worker and count:
        os.environ[PORT_SHARE_ENV] = f"{int(worker.removeprefix('gw'))}/{count}"
