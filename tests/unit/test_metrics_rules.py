"""The alert rules read what the metrics mean: every model route, the provider's 429s only, one absence rule per
catalogue provider (promtool runs the scenarios: alerts.test.yml, tests/integration/test_monitoring.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

import catalogue

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
RULES = [r for g in yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"] for r in g["rules"]]
DASHBOARD = json.loads((MONITORING / "grafana" / "dashboards" / "llm-gateway.json").read_text())


def _rule(name: str) -> dict:
    return next(r for r in RULES if r["alert"] == name)


def _routes(expr: str) -> set[frozenset[str]]:
    return {frozenset(m.split("|")) for m in re.findall(r'route=~"([^"]+)"', expr)}


def test_traffic_alerts_and_panels_cover_every_model_route() -> None:
    model = frozenset({"chat", "agent", "messages", "embeddings", "count_tokens"})
    assert _routes(_rule("LLMGatewayHighErrorRate")["expr"]) == {model}
    assert _routes(_rule("LLMGatewayRateLimited")["expr"]) == {model}
    assert _routes(_rule("LLMGatewayHighLatencyP99")["expr"]) == {model - {"count_tokens"}}
    panels = [t["expr"] for p in DASHBOARD["panels"] for t in p["targets"] if "route=~" in t["expr"]]
    assert panels and all(_routes(e) <= {model, model - {"count_tokens"}} for e in panels), panels


def test_the_rate_limit_alert_reads_the_providers_429s_not_the_clients_own_limits() -> None:
    expr = _rule("LLMGatewayRateLimited")["expr"]
    assert 'llm_gateway_upstream_errors_total{code="rate_limit_exceeded"}' in expr and 'status="429"' not in expr


def test_each_catalogue_provider_has_an_absence_rule_and_its_scenario() -> None:
    absent = {r["labels"]["provider"]: r["expr"] for r in RULES if r["alert"] == "LLMGatewayProviderAbsent"}
    assert absent == {p: f'absent(llm_gateway_ready{{provider="{p}"}})' for p in catalogue.names()}
    assert {r["for"] for r in RULES if r["alert"] == "LLMGatewayProviderAbsent"} == {"5m"}
    tested = (MONITORING / "alerts.test.yml").read_text()
    assert "alertname: LLMGatewayProviderAbsent" in tested and "alertname: LLMGatewayUsageDropped" in tested
