"""Vault stopped (SIGTERM) and restarted under load → no failed request, readiness degraded with the
reason while it is down, ready again on its own once Vault is back.

The stack's OpenBao keeps its data in raft storage, so this is a real outage and recovery: devstack's
`restart_service("openbao")` starts the same server again and unseals it; the gateways keep their
tokens and recover by themselves (no restart, no new secret_id).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

import catalogue
from tests.reliability.conftest import REFRESH_S, show, stack_overrides
from tests.reliability.helpers import pid_of, readyz, signal_and_reap, wait_for
from tests.support.load import Load, chat_targets
from tests.support.stack import RunningStack, local_stack

pytestmark = [pytest.mark.integration, pytest.mark.local_stack]

PROVIDERS = catalogue.names()
CLIENTS = 30
DOWN_S = 8.0  # Vault stays down this long under load once every gateway reports degraded


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with local_stack(tmp_path_factory.mktemp("rel-vault"), **stack_overrides()) as running:
        yield running


def _status(url: str) -> tuple[int, str, str | None]:
    code, body = readyz(url)
    secrets = (body.get("checks") or {}).get("secrets") or {}
    return code, str(body.get("status")), secrets.get("reason")


def _secrets(stack: RunningStack) -> dict[str, dict]:
    return {p: readyz(u)[1]["checks"]["secrets"] for p, u in stack.gateway_urls.items()}


def test_vault_outage_under_load(stack: RunningStack, figures: dict[str, Any]) -> None:
    assert stack.stack is not None
    logins_before = {p: s["logins"] for p, s in _secrets(stack).items()}
    targets = [t for p in PROVIDERS for t in chat_targets(f"{stack.url}/{p}", p, stack.keys[p], stack.model(p))]
    timeline: dict[str, float] = {}
    load = Load(targets, clients=CLIENTS, duration_s=90, max_requests=50_000, ca=stack.ca)
    with load:
        wait_for(lambda: len(load.snapshot()) >= CLIENTS, within=15, what="first requests")
        time.sleep(2)
        t0 = time.monotonic()
        signal_and_reap(pid_of(stack, "openbao"), signal.SIGTERM)
        timeline["vault_stopped"] = round(time.monotonic() - t0, 2)
        wait_for(lambda: all(_status(u)[1] == "degraded" for u in stack.gateway_urls.values()),
                 within=REFRESH_S + 8, every=0.1, what="degraded readiness")
        timeline["all_degraded"] = round(time.monotonic() - t0, 2)
        down = {p: _status(u) for p, u in stack.gateway_urls.items()}
        time.sleep(DOWN_S)
        still = {p: _status(u) for p, u in stack.gateway_urls.items()}
        stack.stack.restart_service("openbao")
        restarted = time.monotonic()
        timeline["vault_back"] = round(restarted - t0, 2)
        wait_for(lambda: all(_status(u)[:2] == (200, "ready") for u in stack.gateway_urls.values()),
                 within=REFRESH_S + 10, every=0.1, what="ready again")
        timeline["all_ready"] = round(time.monotonic() - t0, 2)
        time.sleep(3)  # and keep serving after recovery
        result = load.stop()
    after = _secrets(stack)
    show(figures, "vault_outage_under_load", {
        "clients": CLIENTS, "summary": result.summary(), "failed": len(result.failures()),
        "timeline_s": timeline, "vault_down_s": timeline["vault_back"],
        "recovery_after_vault_back_s": round(timeline["all_ready"] - timeline["vault_back"], 2),
        "requests_while_vault_down": len(result.between(t0, restarted)),
        "readyz_while_down": {p: {"code": c, "status": s, "reason": r} for p, (c, s, r) in down.items()},
        "logins": {p: {"before": logins_before[p], "after": s["logins"]} for p, s in after.items()},
    })
    assert result.failures() == [], result.kinds()
    for provider, (code, status, reason) in [*down.items(), *still.items()]:
        assert (code, status) == (200, "degraded"), provider
        assert reason and "unreachable" in reason, (provider, reason)
    assert len(result.between(t0, restarted)) > CLIENTS
    assert all(not s["degraded"] and s["reason"] is None for s in after.values()), after
