"""Upstream fault mix under load → only the mapped errors, never a 500, and no leaked fds or connections.

Each request carries one mock directive, so every fault meets every provider, plain and streamed:

    fault        plain                     stream
    none         200                       200, ends with [DONE]
    429          429 + Retry-After         429 + Retry-After (the first chunk is awaited before answering)
    500          502                       502
    timeout      504                       504            (GATEWAY_UPSTREAM_TIMEOUT_S=1, mock stalls 3 s)
    malformed    502                       502, or 200 + an in-stream error event, then [DONE]
    disconnect   502                       502, or 200 + an in-stream error event, then [DONE]

The load goes straight to the gateways so their fds count only their own connections (the edge
keeps a keepalive pool open). fds and sockets are compared after the same settle routine
before and after: idle > the SDK pools' keepalive expiry, then a few sequential clean requests.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

import catalogue
from tests.reliability.conftest import show
from tests.reliability.helpers import pid_of, usage
from tests.support.load import Load, Target, chat_targets
from tests.support.stack import RunningStack

pytestmark = [pytest.mark.integration, pytest.mark.local_stack]

PROVIDERS = catalogue.names()
CLIENTS = 40
DURATION_S = 20.0
FD_SLACK = 8
ALLOWED: dict[str, dict[str, set[str]]] = {
    "none": {"plain": {"200"}, "stream": {"200"}},
    "429": {"plain": {"429"}, "stream": {"429"}},
    "500": {"plain": {"502"}, "stream": {"502"}},
    "timeout": {"plain": {"504"}, "stream": {"504"}},
    "malformed": {"plain": {"502"}, "stream": {"502", "200+stream_error:upstream_bad_response",
                                                "200+stream_error:upstream_error"}},
    "disconnect": {"plain": {"502"}, "stream": {"502", "200+stream_error:upstream_error",
                                                 "200+stream_error:upstream_unreachable"}},
}


def _targets(stack: RunningStack, faults: list[str]) -> list[Target]:
    out = []
    for provider in PROVIDERS:
        for fault in faults:
            text = "fault mix" + ("" if fault == "none" else f" [[mock:fault={fault}]]")
            out += chat_targets(stack.gateway_urls[provider], provider, stack.keys[provider], stack.model(provider),
                                text=text, label=f"{provider}/{fault}")
    return out


def _settle(stack: RunningStack) -> dict[str, dict[str, float]]:
    """Idle past the keepalive expiry, touch each pool with a few clean calls, then measure."""
    time.sleep(6)
    with httpx.Client(timeout=10) as client:
        for provider in PROVIDERS:
            for _ in range(3):
                client.post(f"{stack.gateway_urls[provider]}/v1/chat/completions",
                            headers={"authorization": f"Bearer {stack.keys[provider]}"},
                            json={"model": stack.model(provider), "messages": [{"role": "user", "content": "hi"}]})
    time.sleep(1)
    return {p: usage(pid_of(stack, f"gateway-{p}")) for p in PROVIDERS}


def test_fault_mix_maps_errors_and_leaks_nothing(shared_stack: RunningStack, figures: dict[str, Any]) -> None:
    stack = shared_stack
    warm = Load(_targets(stack, ["none"]), clients=CLIENTS, duration_s=4, max_requests=2_000).run_sync()
    assert warm.failures() == [], warm.kinds()
    before = _settle(stack)
    result = Load(_targets(stack, list(ALLOWED)), clients=CLIENTS, duration_s=DURATION_S,
                  max_requests=20_000, request_timeout_s=15).run_sync()
    after = _settle(stack)
    by_label = {label: dict(result.kinds(lambda x, label=label: x == label))
                for label in sorted({o.label for o in result.outcomes})}
    show(figures, "fault_mix", {
        "clients": CLIENTS, "summary": result.summary(), "by_target": by_label,
        "gateway_before": before, "gateway_after": after,
        "fd_growth": {p: after[p]["fds"] - before[p]["fds"] for p in PROVIDERS},
        "socket_growth": {p: after[p]["sockets"] - before[p]["sockets"] for p in PROVIDERS},
    })
    unexpected = []
    for outcome in result.outcomes:
        _, fault, mode = outcome.label.split("/")
        if outcome.kind() not in ALLOWED[fault][mode]:
            unexpected.append((outcome.label, outcome.kind(), outcome.error_code))
        if outcome.status == 429:
            assert outcome.retry_after, outcome
        if outcome.status is not None and outcome.status >= 400:
            assert outcome.error_code not in (None, "not_json"), outcome
    assert not unexpected, sorted(set(unexpected))
    assert not [o for o in result.outcomes if o.status == 500]
    assert all(by_label.get(f"{p}/{f}/{m}") for p in PROVIDERS for f in ALLOWED for m in ("plain", "stream"))
    for provider in PROVIDERS:
        assert after[provider]["fds"] <= before[provider]["fds"] + FD_SLACK, (provider, before, after)
        assert after[provider]["sockets"] <= before[provider]["sockets"] + FD_SLACK, (provider, before, after)
