"""Prometheus metrics, one registry per app (no module-level globals)."""

from __future__ import annotations

import logging
import threading
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

_log = logging.getLogger("gateway.metrics")
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
                                     "Usage records dropped (sink buffer full, a row PostgreSQL refused, "
                                     "unflushed at shutdown, audit file not writable)",
                                     ["provider"], registry=r)
        # livesum: with several workers the gauge is the sum over the live ones (ignored in one process)
        self.in_flight = Gauge("llm_gateway_in_flight_requests", "Requests in progress", ["provider"], registry=r,
                               multiprocess_mode="livesum")
        self._shared: list[_SharedBackendState] = []
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
        """Export readiness and secrets-backend series, read from `state()` at each scrape.

        With several workers, each has its own backend (its own Vault login and failure count) and a scrape
        reaches one of them: every worker publishes its state through the shared directory instead, every
        few seconds and when it answers a scrape, and the series aggregate over the live workers (not ready,
        backend down, registry stale: if any worker is; Vault failures: the sum of every worker's)."""
        if multiproc.enabled():
            shared = _SharedBackendState(self.provider, state, self.registry)
            shared.start()
            multiproc.at_exit(shared.stop)
            self._shared.append(shared)
            return
        self.registry.register(_BackendCollector(self.provider, state))

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
        # A 500 internal_error is the gateway's own fault: counted by status in `requests`, not as the upstream's;
        # so is a 429 of the client's own limits (`llm_gateway_limited_total` counts those).
        if ctx.limited or not code or code == "internal_error":
            return
        if status >= 500 or status == 429 or code.startswith("upstream"):
            self.upstream_errors.labels(self.provider, model, code).inc()

    def render(self) -> bytes:
        """Return the text exposition format (with several workers: every worker's series, summed)."""
        if not multiproc.enabled():
            return generate_latest(self.registry)
        for shared in self._shared:  # this worker's backend state, current; the others' at most a period old
            shared.publish()
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
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
            age = GaugeMetricFamily("llm_gateway_provider_key_age_seconds",
                                    "Seconds since the provider key in use was written", labels=["provider"])
            age.add_metric([self.provider], _key_age(st.key_written_at))
            yield age


def _key_age(key_written_at: str) -> float:
    written = datetime.fromisoformat(key_written_at.replace("Z", "+00:00"))
    return max(0.0, (datetime.now(UTC) - written).total_seconds())


class _SharedBackendState:
    """The backend series of one worker (GATEWAY_WORKERS > 1), written to the multiprocess store.

    The gauges aggregate over the live workers (`livemin`: 0 when any worker is not ready or its backend is
    down; `livemax`: the oldest key, stale when any worker's registry is); the failures are a real counter,
    summed over the workers and monotonic, so `increase()` reads no false counter resets."""

    PERIOD_S = 1.0  # a worker's state reaches the scrape at most this late (a few mmap writes a second)
    OPERATIONS = ("login", "renew", "read")

    def __init__(self, provider: str, state: Callable[[], BackendState], registry: CollectorRegistry) -> None:
        self.provider, self.state = provider, state
        r = registry
        self.ready = Gauge("llm_gateway_ready", "1 when the gateway can serve (key present, model built)",
                           ["provider"], registry=r, multiprocess_mode="livemin")
        self.backend_up = Gauge("llm_gateway_secrets_backend_up", "1 when the secrets backend answered last",
                                ["provider", "backend"], registry=r, multiprocess_mode="livemin")
        self.failures = Counter("llm_gateway_vault_failures", "Vault login/renew/read failures",
                                ["provider", "operation"], registry=r)
        self.stale = Gauge("llm_gateway_client_registry_stale",
                           "1 while the cached client registry is too old: client keys are refused (503)",
                           ["provider"], registry=r, multiprocess_mode="livemax")
        self.key_age = Gauge("llm_gateway_provider_key_age_seconds",
                             "Seconds since the provider key in use was written", ["provider"], registry=r,
                             multiprocess_mode="livemax")
        self._published: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def publish(self) -> None:
        """Write this worker's current state (from the event loop or the publishing thread)."""
        st = self.state()
        with self._lock:
            self.ready.labels(self.provider).set(1.0 if st.ready else 0.0)
            self.backend_up.labels(self.provider, st.backend).set(1.0 if st.backend_up else 0.0)
            self.stale.labels(self.provider).set(1.0 if st.registry_stale else 0.0)
            for operation in self.OPERATIONS:  # each operation's series exists from the start, at 0
                count = st.failures.get(operation, 0)
                delta = count - self._published.get(operation, 0)
                self.failures.labels(self.provider, operation).inc(max(delta, 0))
                self._published[operation] = max(count, self._published.get(operation, 0))
            if st.key_written_at:
                self.key_age.labels(self.provider).set(_key_age(st.key_written_at))

    def start(self) -> None:
        """Publish now, then every PERIOD_S from a daemon thread (a worker no scrape reaches stays current)."""
        self.publish()
        self._thread = threading.Thread(target=self._run, name="metrics-backend-state", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop publishing (before the worker's live gauges are dropped)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.PERIOD_S)

    def _run(self) -> None:
        while not self._stop.wait(self.PERIOD_S):
            try:
                self.publish()
            except Exception:  # noqa: BLE001 — a snapshot taken mid-update; the next period retries
                _log.debug("backend state not published", exc_info=True)
