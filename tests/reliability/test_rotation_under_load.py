"""Provider-key rotation while 50 clients call and stream through nginx → 0 failed requests.

The mock accepts only the keys listed in MOCK_API_KEYS (the old and the new key: a provider keeps
the old key valid until it is revoked), so a gateway sending any other key fails a request, and
the mock counts it as unauthorized. The new key must reach the upstream within the refresh interval.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import catalogue
from tests.reliability.conftest import REFRESH_S, show, stack_overrides
from tests.reliability.helpers import mock_stats, readyz, vaultctl, wait_for
from tests.support.load import Load, chat_targets
from tests.support.stack import RunningStack, local_stack

pytestmark = [pytest.mark.integration, pytest.mark.local_stack]

# Every catalogue provider gets a key the mock accepts; openai's is rotated under load.
KEYS = {**{p: (f"sk-rel-{p}-3b7d", None) for p in catalogue.names()},
        "openai": ("sk-rel-openai-old-1f3a", "sk-rel-openai-new-9c2e")}
CLIENTS = 50
BEFORE_S, AFTER_S = 4.0, 6.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    accepted = ",".join(k for pair in KEYS.values() for k in pair if k)
    with local_stack(tmp_path_factory.mktemp("rel-rotation"), **stack_overrides(mock_env={"MOCK_API_KEYS": accepted})
                     ) as running:
        # devstack seeds random provider keys; switch every provider to a key the mock accepts.
        for provider, (old, _) in KEYS.items():
            _rotate(running, provider, old, running.state_dir / f"{provider}.key")
        for provider, url in running.gateway_urls.items():
            wait_for(lambda url=url: _key_version(url) == 2, within=REFRESH_S * 3, what=f"{provider} key v2")
        yield running


def _rotate(stack: RunningStack, provider: str, key: str, key_file: Path) -> None:
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    vaultctl(stack, "rotate-provider-key", "--provider", provider, "--key-file", str(key_file),
             "--rotated-by", "reliability-suite")


def _key_version(url: str) -> int | None:
    status, body = readyz(url)
    return (body.get("checks") or {}).get("secrets", {}).get("key_version") if status == 200 else None


def test_rotation_under_50_clients_fails_nothing(stack: RunningStack, figures: dict[str, Any]) -> None:
    old, new = KEYS["openai"]
    targets = chat_targets(f"{stack.url}/openai", "openai", stack.keys["openai"], stack.model("openai"))
    load = Load(targets, clients=CLIENTS, duration_s=BEFORE_S + AFTER_S + 10, max_requests=20_000, ca=stack.ca)
    with load:
        wait_for(lambda: len(load.snapshot()) >= CLIENTS, within=15, what="first requests")
        time.sleep(BEFORE_S)
        assert mock_stats(stack)["openai"]["last_key"] == old
        issued = time.monotonic()
        _rotate(stack, "openai", new, stack.state_dir / "openai-new.key")
        written = time.monotonic()
        # last_key is the key of the latest request the mock saw: it flips once the gateway switches.
        took = wait_for(lambda: mock_stats(stack)["openai"]["last_key"] == new, within=REFRESH_S + 5,
                        every=0.02, what="new key at the upstream")
        effective = written + took
        samples = []
        for _ in range(10):  # the old key is no longer used once the new one took effect
            time.sleep(AFTER_S / 10)
            samples.append(mock_stats(stack)["openai"]["last_key"])
        result = load.stop()
    stats = mock_stats(stack)["openai"]
    before = result.between(result.started, written)
    after = result.between(effective, result.ended)
    figures_row = {
        "clients": CLIENTS, "summary": result.summary(),
        "requests_before_rotation": len(before), "requests_after_effect": len(after),
        "failed": len(result.failures()),
        "seconds_until_new_key_at_upstream": round(took, 2),
        "seconds_including_vaultctl": round(effective - issued, 2),
        "refresh_interval_s": REFRESH_S,
        "mock_unauthorized": stats["unauthorized"],
        "streamed": sum(1 for o in result.outcomes if o.label.endswith("/stream")),
    }
    show(figures, "rotation_under_load", figures_row)
    assert result.failures() == [], result.kinds()
    assert stats["unauthorized"] == 0
    assert len(before) > CLIENTS and len(after) > CLIENTS
    assert took <= REFRESH_S + 1.5, f"new key took {took:.2f} s (refresh interval {REFRESH_S} s)"
    assert set(samples) == {new}
    assert _key_version(stack.gateway_urls["openai"]) == 3
