"""Prometheus metrics, one registry per app (no module-level globals)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from gateway import multiproc
from gateway.context import RequestContext

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


def client_label(ctx: RequestContext) -> str:
    """Return the bounded `client` label: the client key's registry name, or the auth method for JWTs."""
    # A JWT `sub` is chosen by the identity provider, one per user or workload: unbounded cardinality.
    # Client key names come from the registry the operator curates.
    if ctx.auth_method == "api_key":
        return ctx.client_id or ""
    return ctx.auth_method or ""


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
        self.limited = Counter("llm_gateway_limited", "Requests refused by a client limit or budget",
                               ["provider", "limit"], registry=r)
        self.limiter_fallbacks = Counter("llm_gateway_limiter_fallbacks",
                                         "Limit decisions taken per replica because Redis was unreachable",
                                         ["provider"], registry=r)
        self.usage_dropped = Counter("llm_gateway_usage_dropped",
                                     "Usage records dropped (sink buffer full, audit file not writable)",
                                     ["provider"], registry=r)
        # livesum: with several workers the gauge is the sum over the live ones (ignored in one process)
        self.in_flight = Gauge("llm_gateway_in_flight_requests", "Requests in progress", ["provider"], registry=r,
                               multiprocess_mode="livesum")
        self._scrape_time: list[Collector] = []
        # Label children by label values: `labels()` re-validates and locks on every call, on every request.
        self._children: dict[tuple[Any, ...], Any] = {}
        self._in_flight = self.in_flight.labels(provider)

    def _child(self, metric: Any, *values: str) -> Any:
        key = (metric, *values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def started(self) -> None:
        """A request began (the in-flight gauge)."""
        self._in_flight.inc()

    def ended(self) -> None:
        """A request ended, however it ended."""
        self._in_flight.dec()

    def watch(self, state: Callable[[], BackendState]) -> None:
        """Export readiness and secrets-backend series, read from `state()` at each scrape."""
        collector = _BackendCollector(self.provider, state)
        self.registry.register(collector)
        self._scrape_time.append(collector)

    def observe(self, ctx: RequestContext, status: int, elapsed: float) -> None:
        """Record a finished request."""
        model = ctx.model or ""
        self._child(self.requests, self.provider, model, ctx.route, str(status), client_label(ctx)).inc()
        self._child(self.latency, self.provider, model, ctx.route).observe(elapsed)
        if ctx.prompt_tokens:
            self._child(self.tokens, self.provider, model, "prompt").inc(ctx.prompt_tokens)
        if ctx.completion_tokens:
            self._child(self.tokens, self.provider, model, "completion").inc(ctx.completion_tokens)
        code = ctx.error_code
        # A 500 internal_error is the gateway's own fault: counted by status in `requests`, not as the upstream's.
        if code and code != "internal_error" and (status >= 500 or status == 429 or code.startswith("upstream")):
            self.upstream_errors.labels(self.provider, model, code).inc()

    def render(self) -> bytes:
        """Return the text exposition format (with several workers: every worker's series, summed)."""
        if not multiproc.enabled():
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        for collector in self._scrape_time:  # readiness and backend state: this worker's view
            registry.register(collector)
        return generate_latest(registry)


@dataclass(frozen=True)
class BackendState:
    """What the scrape-time collector needs from the runtime."""

    backend: str
    ready: bool
    backend_up: bool
    failures: dict[str, int] = field(default_factory=dict)
    key_written_at: str | None = None
    registry_stale: bool = False


class _BackendCollector(Collector):
    """Readiness, backend health, Vault failures and key age — computed when scraped, so always current."""

    def __init__(self, provider: str, state: Callable[[], BackendState]) -> None:
        self.provider, self.state = provider, state

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        st = self.state()
        ready = GaugeMetricFamily("llm_gateway_ready", "1 when the gateway can serve (key present, model built)",
                                  labels=["provider"])
        ready.add_metric([self.provider], 1.0 if st.ready else 0.0)
        up = GaugeMetricFamily("llm_gateway_secrets_backend_up", "1 when the secrets backend answered last",
                               labels=["provider", "backend"])
        up.add_metric([self.provider, st.backend], 1.0 if st.backend_up else 0.0)
        failures = CounterMetricFamily("llm_gateway_vault_failures", "Vault login/renew/read failures",
                                       labels=["provider", "operation"])
        for operation in ("login", "renew", "read"):
            failures.add_metric([self.provider, operation], float(st.failures.get(operation, 0)))
        stale = GaugeMetricFamily("llm_gateway_client_registry_stale",
                                  "1 while the cached client registry is too old: client keys are refused (503)",
                                  labels=["provider"])
        stale.add_metric([self.provider], 1.0 if st.registry_stale else 0.0)
        yield from (ready, up, failures, stale)
        if st.key_written_at:
            written = datetime.fromisoformat(st.key_written_at.replace("Z", "+00:00"))
            age = GaugeMetricFamily("llm_gateway_provider_key_age_seconds",
                                    "Seconds since the provider key in use was written", labels=["provider"])
            age.add_metric([self.provider], max(0.0, (datetime.now(UTC) - written).total_seconds()))
            yield age
