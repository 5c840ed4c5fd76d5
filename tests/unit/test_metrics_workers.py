"""GATEWAY_WORKERS > 1: the backend series (readiness, Vault failures) aggregate over the workers, whichever
worker answers the scrape; and the Vault AppRole login, which only one worker could make, is refused at start-up.

Each worker is a real Python process writing into one PROMETHEUS_MULTIPROC_DIR (prometheus_client picks its
storage when imported, so the mode cannot be switched inside this test process).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import ConfigError, load_settings

SERVICES = Path(__file__).resolve().parents[2] / "services"
WORKER = """
import sys
from gateway import multiproc
from gateway.metrics import BackendState, Metrics

ready, logins, then = sys.argv[1] == "ready", int(sys.argv[2]), sys.argv[3]
metrics = Metrics("openai")
metrics.watch(lambda: BackendState(backend="vault", ready=ready, backend_up=ready, failures={"login": logins},
                                   key_written_at="2026-01-01T00:00:00Z", registry_stale=not ready))
if then == "render":  # this worker answers the scrape, twice
    print(metrics.render().decode())
    print(metrics.render().decode())
elif then == "exit":  # a worker stopping (the app's lifespan end)
    multiproc.worker_exit()
"""


def _worker(store: Path, ready: bool, logins: int, then: str = "stay") -> str:
    env = {**os.environ, "PYTHONPATH": str(SERVICES), "PROMETHEUS_MULTIPROC_DIR": str(store)}
    out = subprocess.run([sys.executable, "-c", WORKER, "ready" if ready else "not-ready", str(logins), then],
                         env=env, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _value(text: str, series: str) -> list[float]:
    """The values of one series in each of the scrapes in `text`."""
    return [float(v) for v in re.findall(rf"^{re.escape(series)} (\S+)$", text, re.M)]


def test_a_worker_that_is_not_ready_shows_whichever_worker_is_scraped(tmp_path: Path) -> None:
    _worker(tmp_path, ready=False, logins=3)  # its login failed; still running
    scrape = _worker(tmp_path, ready=True, logins=1, then="render")
    assert _value(scrape, 'llm_gateway_ready{provider="openai"}') == [0.0, 0.0]
    assert _value(scrape, 'llm_gateway_secrets_backend_up{backend="vault",provider="openai"}') == [0.0, 0.0]
    assert _value(scrape, 'llm_gateway_client_registry_stale{provider="openai"}') == [1.0, 1.0]
    # A counter over the workers: the sum, the same on every scrape (no false counter reset for increase())
    assert _value(scrape, 'llm_gateway_vault_failures_total{operation="login",provider="openai"}') == [4.0, 4.0]
    assert _value(scrape, 'llm_gateway_vault_failures_total{operation="read",provider="openai"}') == [0.0, 0.0]
    assert _value(scrape, 'llm_gateway_provider_key_age_seconds{provider="openai"}')[0] > 86400


def test_a_stopped_workers_state_leaves_the_gauges_not_the_counter(tmp_path: Path) -> None:
    _worker(tmp_path, ready=False, logins=3, then="exit")
    scrape = _worker(tmp_path, ready=True, logins=0, then="render")
    assert _value(scrape, 'llm_gateway_ready{provider="openai"}') == [1.0, 1.0]
    assert _value(scrape, 'llm_gateway_vault_failures_total{operation="login",provider="openai"}') == [3.0, 3.0]


def test_several_workers_cannot_share_a_single_use_approle_login(tmp_path: Path) -> None:
    role, secret = tmp_path / "role_id", tmp_path / "secret_id"
    vault = {"limits_backend": "redis", "redis_url": "redis://127.0.0.1:6379/0", "secrets_backend": "vault",
             "vault_addr": "https://vault:8200", "vault_role_id_file": role, "vault_secret_id_file": secret}
    with pytest.raises(ConfigError, match="GATEWAY_WORKERS > 1 cannot use GATEWAY_VAULT_AUTH=approle"):
        load_settings(provider="openai", workers=2, **vault)
    assert load_settings(provider="openai", workers=1, **vault).vault_auth == "approle"
    assert load_settings(provider="openai", workers=2, **vault, vault_auth="kubernetes").workers == 2
