"""Reliability suite: each test breaks something on a local stack under load and measures what users see.

Every stack here is a fresh local one (OpenBao, mock, three gateways, nginx) on free loopback
ports, with the edge's abuse limits lifted (one IP and one key generate all the load) and a
short Vault refresh interval. Tests that kill or restart services get their own stack; the
non-destructive ones (fault mix, schemathesis, soak) share one. Each test records its figures in
`figures`; the session writes them to reports/reliability.json and prints them.

Bounds: RELIABILITY_SOAK_S (default 120) sets the soak length; every load run is bounded by
time and by request count.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.helpers import EDGE_UNLIMITED
from tests.support.stack import RunningStack, local_stack

REPO = Path(__file__).resolve().parents[2]
REPORT = Path(os.environ.get("RELIABILITY_REPORT", str(REPO / "reports" / "reliability.json")))
REFRESH_S = 2.0

def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the tests that share a stack last, so it never runs beside a destructive test's own stack."""
    here = Path(__file__).parent
    mine = [i for i in items if Path(str(i.path)).is_relative_to(here)]
    if not mine:
        return
    first = items.index(mine[0])
    shared = [i for i in mine if "shared_stack" in getattr(i, "fixturenames", ())]
    rest = [i for i in mine if i not in shared]
    others = [i for i in items if i not in mine]
    items[:] = others[:first] + rest + shared + others[first:]


def stack_overrides(**extra: dict[str, str]) -> dict[str, Any]:
    """StackConfig overrides for a reliability stack; `extra` merges into gateway_env/mock_env/nginx_env."""
    out: dict[str, Any] = {
        "gateway_env": {"GATEWAY_VAULT_REFRESH_S": str(REFRESH_S)},
        "mock_env": {},
        "nginx_env": dict(EDGE_UNLIMITED),
        "secrets_backend": "vault",
    }
    for key, values in extra.items():
        out[key] = {**out[key], **values}
    return out


@pytest.fixture(scope="session")
def figures() -> Iterator[dict[str, Any]]:
    """What each test measured; written to reports/reliability.json at the end of the session."""
    data: dict[str, Any] = {}
    started = time.monotonic()
    yield data
    data["_suite"] = {"wall_s": round(time.monotonic() - started, 1)}
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    REPORT.write_text(json.dumps({**previous, **data}, indent=2, sort_keys=True) + "\n")
    print(f"\nreliability figures → {REPORT}")


def show(figures: dict[str, Any], name: str, values: dict[str, Any]) -> None:
    """Record and print one test's figures."""
    figures[name] = values
    print(f"\n[{name}] " + json.dumps(values, indent=1, sort_keys=True))


@pytest.fixture(scope="session")
def shared_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """One stack for the tests that break nothing: the fault mix needs short upstream timeouts, no retries."""
    overrides = stack_overrides(
        gateway_env={"GATEWAY_UPSTREAM_TIMEOUT_S": "1", "GATEWAY_MAX_RETRIES": "0"},
        mock_env={"MOCK_TIMEOUT_S": "3"},
    )
    with local_stack(tmp_path_factory.mktemp("rel-shared"), **overrides) as running:
        yield running
