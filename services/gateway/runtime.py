"""The objects one gateway process runs with, built by `create_app` and shared by routes."""

from __future__ import annotations

import os
from dataclasses import dataclass

from gateway.audit import AuditSink, JsonLinesSink
from gateway.auth.authenticator import Authenticator
from gateway.auth.jwt import JwtVerifier
from gateway.config import Settings
from gateway.errors import ServiceUnavailableError
from gateway.limits import Limiter, build_limiter
from gateway.metrics import BackendState, Metrics
from gateway.providers import ProviderAdapter, create_adapter
from gateway.secrets.base import SecretsBackend


@dataclass
class Runtime:
    """Settings plus the long-lived collaborators of one provider service."""

    settings: Settings
    adapter: ProviderAdapter
    backend: SecretsBackend
    authenticator: Authenticator
    jwt: JwtVerifier | None
    metrics: Metrics
    audit: AuditSink
    limiter: Limiter
    draining: bool = False

    def is_ready(self) -> bool:
        """A provider key is cached and the process is not draining (what /readyz also requires)."""
        return bool(self.backend.provider_key()) and self.backend.serving() and not self.draining

    def backend_state(self) -> BackendState:
        """Snapshot for the scrape-time metrics collector."""
        st = self.backend.status()
        return BackendState(backend=st.backend, ready=self.is_ready(), backend_up=st.ok and not st.degraded,
                            failures=st.details.get("failures") or {},
                            key_written_at=st.details.get("key_written_at"),
                            registry_stale=not self.backend.serving())

    def provider_key(self) -> str:
        """Return the current provider key or raise 503 when none is available."""
        key = self.backend.provider_key()
        if not key:
            raise ServiceUnavailableError("the provider API key is not available", code="provider_key_missing")
        return key


def build_backend(settings: Settings) -> SecretsBackend:
    """Create the configured secrets backend."""
    if settings.secrets_backend == "vault":
        from gateway.secrets.vault import VaultSecretsBackend
        from gateway.secrets.vault_login import KubernetesLogin

        assert settings.vault_addr
        auth = None
        if settings.vault_auth == "kubernetes":
            role = settings.vault_kubernetes_role or f"llm-gateway-{settings.provider}"
            auth = KubernetesLogin(role, settings.vault_kubernetes_token_file, settings.vault_kubernetes_mount)
        return VaultSecretsBackend(
            provider=settings.provider, addr=settings.vault_addr,
            role_id_file=settings.vault_role_id_file, secret_id_file=settings.vault_secret_id_file,
            mount=settings.vault_mount, refresh_s=settings.vault_refresh_s, cacert=settings.vault_cacert,
            auth=auth,
            registry_max_stale_s=settings.vault_registry_max_stale_s,
        )
    from gateway.secrets.env import EnvSecretsBackend

    return EnvSecretsBackend(settings.provider, settings.client_keys, settings.client_keys_file)


def build_audit(settings: Settings, metrics: Metrics) -> AuditSink:
    """Create the configured usage sink (psycopg is imported only when used)."""
    if settings.usage_backend == "postgres":
        from gateway.audit_postgres import PostgresSink

        assert settings.postgres_dsn
        return PostgresSink(settings.provider, settings.postgres_dsn, batch=settings.usage_batch,
                            buffer_max=settings.usage_buffer_max, flush_s=settings.usage_flush_s,
                            on_drop=metrics.usage_dropped.labels(settings.provider).inc)
    path = settings.audit_log
    if path is not None and settings.workers > 1:  # one file per worker: rotation is not safe across processes
        path = path.with_name(f"{path.stem}.pid{os.getpid()}{path.suffix or '.log'}")
    return JsonLinesSink(settings.provider, path, settings.audit_max_bytes, settings.audit_backups,
                         on_drop=metrics.usage_dropped.labels(settings.provider).inc)


def build_runtime(settings: Settings, backend: SecretsBackend | None = None) -> Runtime:
    """Assemble the runtime for `settings` (nothing here does network I/O)."""
    backend = backend or build_backend(settings)
    verifier = None
    if settings.jwt_jwks_url or settings.jwt_public_key_file:
        assert settings.jwt_issuer and settings.jwt_audience
        verifier = JwtVerifier(issuer=settings.jwt_issuer, audience=settings.jwt_audience,
                               scope_claim=settings.jwt_scope_claim, leeway_s=settings.jwt_leeway_s,
                               jwks_url=settings.jwt_jwks_url, public_key_file=settings.jwt_public_key_file)
    metrics = Metrics(settings.provider)
    fallback = metrics.limiter_fallbacks.labels(settings.provider)
    runtime = Runtime(
        settings=settings,
        adapter=create_adapter(settings),
        backend=backend,
        authenticator=Authenticator(settings.provider, backend, verifier),
        jwt=verifier,
        metrics=metrics,
        audit=build_audit(settings, metrics),
        # While Redis is down each worker process decides alone: its share is the limit over every process.
        limiter=build_limiter(settings.limits_backend, settings.redis_url,
                              replicas=settings.limits_replicas * settings.workers,
                              budgets_fail_open=settings.limits_budgets_on_outage == "open",
                              on_fallback=fallback.inc),
    )
    runtime.metrics.watch(runtime.backend_state)
    return runtime
