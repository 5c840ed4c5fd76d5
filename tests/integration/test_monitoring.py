"""Monitoring: promtool checks, and a real Prometheus scraping the stack's gateways.

The Prometheus process runs unprivileged on a free loopback port with its TSDB in a temp
directory, scrapes every gateway's /metrics each second, and loads deploy/monitoring/alerts.yml;
the tests then query its HTTP API for the series the alerts and the dashboard rely on.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import string
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

import catalogue
from tests.support.process import running
from tests.support.stack import RunningStack

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "deploy" / "monitoring"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "llm-gateway.json"
TROUBLESHOOTING = REPO / "docs" / "troubleshooting.md"
PROVIDERS = catalogue.names()
ALERTS = {
    "LLMGatewayHighErrorRate", "LLMGatewayHighLatencyP99", "LLMGatewayRateLimited", "LLMGatewayUpstreamTimeouts",
    "LLMGatewayVaultFailures", "LLMGatewaySecretsBackendDown", "LLMGatewayNotReady", "LLMGatewayDown",
    "LLMGatewayProviderKeyOld", "LLMGatewayAuthFailureSpike", "LLMGatewayUpstreamRefusesAccount",
    "LLMGatewayUsageDropped", "LLMGatewayProviderAbsent",
}
RULES = len(ALERTS) - 1 + len(PROVIDERS)  # LLMGatewayProviderAbsent: one rule per catalogue provider
WAIT_S = 45.0


def _binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/local/bin")
    if found is None:
        pytest.fail(f"{name} not found: install the Debian package (`apt-get install prometheus`, see mk/ops.mk)")
    return found


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_binary("promtool"), *args], capture_output=True, text=True, timeout=60, check=False)


# -- static checks -----------------------------------------------------------------------------

def test_promtool_check_config() -> None:
    result = _promtool("check", "config", str(MONITORING / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_check_rules() -> None:
    result = _promtool("check", "rules", str(MONITORING / "alerts.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {RULES} rules found" in result.stdout


def test_promtool_rule_unit_tests() -> None:
    """Each alert fires on its scenario and stays silent on the look-alikes (alerts.test.yml)."""
    result = _promtool("test", "rules", str(MONITORING / "alerts.test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    tested = set(re.findall(r"alertname: (\w+)", (MONITORING / "alerts.test.yml").read_text()))
    assert tested == ALERTS


def test_alert_runbooks_exist_in_troubleshooting_guide() -> None:
    anchors = {_slug(h) for h in re.findall(r"^#{2,3} (.+)$", TROUBLESHOOTING.read_text(), re.M)}
    runbooks = re.findall(r"runbook: docs/troubleshooting\.md#([\w-]+)", (MONITORING / "alerts.yml").read_text())
    assert runbooks and set(runbooks) <= anchors, set(runbooks) - anchors


def _slug(heading: str) -> str:
    """GitHub's heading anchor."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_dashboard_and_alerts_use_only_exported_metrics() -> None:
    from gateway.metrics import BackendState, Metrics

    metrics = Metrics("openai")
    metrics.watch(lambda: BackendState(backend="vault", ready=True, backend_up=True, failures={"read": 1},
                                       key_written_at="2026-01-01T00:00:00Z"))
    exported = _family_names(metrics.render().decode())
    used = set(re.findall(r"llm_gateway_[a-z_]+", (MONITORING / "alerts.yml").read_text() + DASHBOARD.read_text()))
    assert used and used <= exported, used - exported


def _family_names(exposition: str) -> set[str]:
    names: set[str] = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", exposition, re.M):
        suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created")}
        names.update({name, *(name + s for s in suffixes.get(kind, ()))})
    return names


# -- live Prometheus -----------------------------------------------------------------------------

@contextlib.contextmanager
def run_prometheus(tmp: Path, targets: list[str]) -> Iterator[str]:
    """Run Prometheus on a free loopback port scraping `targets`; yield its base URL."""
    from devstack.ports import free_ports

    template = string.Template((MONITORING / "prometheus.local.yml.tmpl").read_text())
    shutil.copy(MONITORING / "alerts.yml", tmp / "alerts.yml")
    entries = "\n".join(f'      - targets: ["{t}"]' for t in targets)
    config = tmp / "prometheus.yml"
    config.write_text(template.substitute(scrape_interval="1s", rule_file="alerts.yml", targets=entries))
    check = _promtool("check", "config", str(config))
    assert check.returncode == 0, check.stdout + check.stderr
    port = free_ports(1)[0]
    url = f"http://127.0.0.1:{port}"
    argv = [_binary("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1h", "--log.level=warn"]
    with running(argv, f"{url}/-/ready", tmp / "prometheus.log", name="prometheus"):
        yield url


def _query(prom: str, expr: str) -> list[dict[str, Any]]:
    resp = httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=5)
    body = resp.json()
    assert body["status"] == "success", f"{expr}: {body}"
    return body["data"]["result"]


def _eventually(what: str, probe: Callable[[], Any], timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; last answer: {last!r}")


@pytest.fixture(scope="module")
def prometheus(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if set(stack.gateway_urls) != set(PROVIDERS):
        pytest.skip("this stack does not expose the gateways' direct URLs (STACK_GATEWAY_URL_*)")
    targets = [urlsplit(stack.gateway_urls[p]).netloc for p in PROVIDERS]
    with run_prometheus(tmp_path_factory.mktemp("prometheus"), targets) as url:
        yield url


@pytest.fixture(scope="module")
def traffic(stack: RunningStack, prometheus: str) -> dict[str, int]:
    """Send a few requests through nginx: a success per provider, a 429 and an unknown model."""
    statuses: dict[str, int] = {}
    with httpx.Client(base_url=stack.url, verify=str(stack.ca), timeout=30) as client:
        for provider in PROVIDERS:
            statuses[provider] = _chat(client, stack, provider, "Hello from the monitoring test").status_code
        statuses["openai-429"] = _chat(client, stack, "openai", "[[mock:fault=429]] please").status_code
        statuses["openai-404"] = _chat(client, stack, "openai", "hi", model="no-such-model").status_code
    return statuses


def _chat(client: httpx.Client, stack: RunningStack, provider: str, text: str,
          model: str | None = None) -> httpx.Response:
    return client.post(f"/{provider}/v1/chat/completions",
                       headers={"Authorization": f"Bearer {stack.keys[provider]}"},
                       json={"model": model or stack.model(provider), "messages": [{"role": "user", "content": text}]})


def test_prometheus_scrapes_every_gateway(prometheus: str) -> None:
    def all_up() -> list[dict[str, Any]] | None:
        up = _query(prometheus, 'up{job="llm-gateway"} == 1')
        return up if len(up) == len(PROVIDERS) else None

    _eventually(f"{len(PROVIDERS)} healthy llm-gateway targets", all_up)


def test_request_series_carry_provider_model_route_status(
        stack: RunningStack, prometheus: str, traffic: dict[str, int]) -> None:
    assert traffic == {**dict.fromkeys(PROVIDERS, 200), "openai-429": 429, "openai-404": 404}
    for provider in PROVIDERS:
        expr = (f'llm_gateway_requests_total{{provider="{provider}",model="{stack.model(provider)}",'
                f'route="chat",status="200"}}')
        series = _eventually(f"{provider} chat series", lambda e=expr: _query(prometheus, e))
        labels = series[0]["metric"]
        assert {"provider", "model", "route", "status", "client", "instance", "job"} <= set(labels)
        assert labels["client"], "the client label names the authenticated key id"
        assert float(series[0]["value"][1]) >= 1
    limited = _eventually("the 429 series", lambda: _query(
        prometheus, 'llm_gateway_requests_total{provider="openai",route="chat",status="429"}'))
    assert limited[0]["metric"]["model"] == stack.model("openai")
    _eventually("the 429 upstream error", lambda: _query(
        prometheus, 'llm_gateway_upstream_errors_total{provider="openai",code="rate_limit_exceeded"}'))
    _eventually("the 404 series", lambda: _query(
        prometheus, 'llm_gateway_requests_total{provider="openai",status="404"}'))
    latency = _eventually("latency buckets", lambda: _query(
        prometheus, 'llm_gateway_request_duration_seconds_bucket{route="chat",le="+Inf"}'))
    assert {s["metric"]["provider"] for s in latency} == set(PROVIDERS)
    tokens = _eventually("token counters", lambda: _query(prometheus, "llm_gateway_tokens_total"))
    assert {s["metric"]["type"] for s in tokens} >= {"prompt", "completion"}
    ready = _eventually("readiness gauges", lambda: _query(prometheus, "llm_gateway_ready == 1"))
    assert {s["metric"]["provider"] for s in ready} == set(PROVIDERS)


def test_alert_rules_evaluate_against_live_series(prometheus: str, traffic: dict[str, int]) -> None:
    def evaluated() -> list[dict[str, Any]] | None:
        groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=5).json()["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        return rules if rules and all(r.get("lastEvaluation", "").startswith("20") and r["health"] == "ok"
                                      for r in rules) else None

    rules = _eventually("every alert rule evaluated with health ok", evaluated)
    assert {r["name"] for r in rules} == ALERTS
    firing = _query(prometheus, 'ALERTS{alertstate="firing"}')
    assert not [a for a in firing if a["metric"]["alertname"] in ("LLMGatewayDown", "LLMGatewayNotReady")]


def test_dashboard_queries_are_valid_promql(prometheus: str, traffic: dict[str, int]) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 12
    for expr in exprs:
        _query(prometheus, expr.replace("$__rate_interval", "1m").replace("$provider", ".*"))
    def every_provider() -> list[dict[str, Any]] | None:
        # A rate needs two scrapes of a series: each provider's gets them at its own time.
        answered = _query(prometheus, exprs[4].replace("$__rate_interval", "1m").replace("$provider", ".*"))
        return answered if {s["metric"]["provider"] for s in answered} == set(PROVIDERS) else None

    _eventually("the request-rate panel, every provider", every_provider)
