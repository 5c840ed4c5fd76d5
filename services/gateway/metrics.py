"""Prometheus metrics, one registry per app (no module-level globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from gateway.context import RequestContext

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    """The gateway's series; labels: provider, model, route, status, client."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("llm_gateway_requests", "Requests handled",
                                ["provider", "model", "route", "status", "client"], registry=r)
        self.latency = Histogram("llm_gateway_request_duration_seconds", "Request latency",
                                 ["provider", "model", "route"], buckets=_BUCKETS, registry=r)
        self.tokens = Counter("llm_gateway_tokens", "Tokens reported by the provider",
                              ["provider", "model", "type"], registry=r)
        self.upstream_errors = Counter("llm_gateway_upstream_errors", "Upstream failures by kind",
                                       ["provider", "model", "code"], registry=r)
        self.auth_failures = Counter("llm_gateway_auth_failures", "Rejected credentials",
                                     ["provider", "reason"], registry=r)
        self.ready = Gauge("llm_gateway_ready", "1 when /readyz is green", ["provider"], registry=r)
        self.secrets_ok = Gauge("llm_gateway_secrets_backend_up", "1 when the secrets backend answered last",
                                ["provider", "backend"], registry=r)
        self.vault_failures = Counter("llm_gateway_vault_failures", "Vault login/renew/read failures",
                                      ["provider", "operation"], registry=r)
        self.key_age = Gauge("llm_gateway_provider_key_age_seconds", "Age of the provider key in use",
                             ["provider"], registry=r)
        self.in_flight = Gauge("llm_gateway_in_flight_requests", "Requests in progress", ["provider"], registry=r)

    def observe(self, ctx: RequestContext, status: int, elapsed: float) -> None:
        """Record a finished request."""
        model = ctx.model or ""
        self.requests.labels(self.provider, model, ctx.route, str(status), ctx.client_id or "").inc()
        self.latency.labels(self.provider, model, ctx.route).observe(elapsed)
        if ctx.prompt_tokens:
            self.tokens.labels(self.provider, model, "prompt").inc(ctx.prompt_tokens)
        if ctx.completion_tokens:
            self.tokens.labels(self.provider, model, "completion").inc(ctx.completion_tokens)
        if ctx.error_code and (status >= 500 or status == 429 or ctx.error_code.startswith("upstream")):
            self.upstream_errors.labels(self.provider, model, ctx.error_code).inc()

    def render(self) -> bytes:
        """Return the text exposition format."""
        return generate_latest(self.registry)
