"""Gateway configuration: one `Settings` object read from `GATEWAY_*` environment variables."""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

import catalogue

_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


class ConfigError(Exception):
    """A setting is missing or invalid; the message names the variable."""


class Settings(BaseSettings):
    """Everything a gateway process needs; built once by `load_settings`, never at import."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", frozen=True)

    provider: str  # a catalogue name (services/catalogue/providers.toml)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # uvicorn worker processes; >1 shares metrics through PROMETHEUS_MULTIPROC_DIR and needs Redis limits.
    workers: int = Field(default=1, ge=1, le=32)
    upstream_base_url: str | None = None
    models: Annotated[tuple[str, ...], NoDecode] = ()
    upstream_timeout_s: float = Field(default=60.0, gt=0, le=900)
    # Longest silence between two streamed chunks (keep-alive bytes do not count): the stream then ends with
    # an `upstream_timeout` error event. Checked by the gateway for every provider (gateway/stream_idle.py).
    stream_idle_timeout_s: float = Field(default=120.0, gt=0, le=3600)
    max_retries: int = Field(default=2, ge=0, le=10)
    # The OpenAI SDK's HTTP transport: aiohttp keeps idle upstream connections in O(1), where the default
    # httpx pool probes every idle connection's socket on each request (CPU grows with the pool's size).
    upstream_http: Literal["aiohttp", "httpx"] = "aiohttp"

    secrets_backend: Literal["env", "vault"] = "env"
    client_keys: str = ""
    client_keys_file: Path | None = None
    vault_addr: str | None = None
    vault_auth: Literal["approle", "kubernetes"] = "approle"
    vault_role_id_file: Path | None = None
    vault_secret_id_file: Path | None = None
    vault_mount: str = "secret"
    vault_refresh_s: float = Field(default=15.0, gt=0, le=30)
    vault_cacert: str | None = None
    # Kubernetes auth: the role defaults to llm-gateway-<provider> (what `vaultctl bootstrap` writes).
    vault_kubernetes_role: str | None = None
    vault_kubernetes_token_file: Path = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
    vault_kubernetes_mount: str = "kubernetes"
    # How long a cached client registry is trusted while Vault cannot be read; then keys get 503.
    vault_registry_max_stale_s: float = Field(default=300.0, gt=0)

    jwt_jwks_url: str | None = None
    jwt_public_key_file: Path | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_scope_claim: str = "scope"
    jwt_leeway_s: int = Field(default=30, ge=0, le=300)

    audit_log: Path | None = None
    audit_max_bytes: int = Field(default=10 * 1024 * 1024, ge=4096)
    audit_backups: int = Field(default=5, ge=1, le=100)

    # Per-client limits: in-process (one replica) or Redis/Valkey (shared by every replica).
    limits_backend: Literal["memory", "redis"] = "memory"
    redis_url: str | None = None
    limits_replicas: int = Field(default=1, ge=1, le=1000)  # replicas per provider: the fallback's share divisor
    limits_budgets_on_outage: Literal["closed", "open"] = "closed"
    limits_default_completion_tokens: int = Field(default=1024, ge=1)  # reserved when a request sets no max_tokens

    # Usage records: JSON lines on the local volume, or PostgreSQL (shared, durable).
    usage_backend: Literal["jsonl", "postgres"] = "jsonl"
    postgres_dsn: str | None = None
    usage_batch: int = Field(default=500, ge=1, le=10_000)
    usage_buffer_max: int = Field(default=50_000, ge=100)
    usage_flush_s: float = Field(default=1.0, gt=0, le=300)

    # Young-generation GC threshold, with the start-up objects frozen (gateway/gc_tuning.py); 0: Python's defaults.
    gc_gen0_threshold: int = Field(default=20_000, ge=0, le=10_000_000)
    # Well-formed chat completions served past FastAPI's routing (gateway/api/direct.py); off: FastAPI serves all.
    direct_routes: bool = True

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_tokens_limit: int = Field(default=32768, ge=1)
    agent_max_steps: int = Field(default=6, ge=1, le=50)
    agent_timeout_s: float = Field(default=60.0, gt=0, le=600)
    shutdown_grace_s: float = Field(default=20.0, ge=0, le=300)

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        if value not in catalogue.names():
            raise ValueError(f"unknown provider {value!r}; known: {', '.join(catalogue.names())}")
        return value

    @field_validator("models", mode="before")
    @classmethod
    def _split_models(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(m.strip() for m in value.split(",") if m.strip())
        return value

    @field_validator("upstream_base_url", "vault_addr", "jwt_jwks_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value else value

    @field_validator("jwt_jwks_url")
    @classmethod
    def _https_jwks(cls, value: str | None) -> str | None:
        # Keys fetched over plain HTTP could be swapped in transit, and then any token verifies.
        if value and value.startswith("http://") and urlsplit(value).hostname not in _LOOPBACK:
            raise ValueError("must be an https:// URL (http:// only for a loopback issuer)")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Settings:
        if self.usage_backend == "postgres" and not self.postgres_dsn:
            raise ValueError("GATEWAY_POSTGRES_DSN is required when GATEWAY_USAGE_BACKEND=postgres")
        if self.workers > 1 and self.limits_backend != "redis":
            raise ValueError("GATEWAY_WORKERS > 1 needs GATEWAY_LIMITS_BACKEND=redis "
                             "(in-process counters would multiply every client's limits by the worker count)")
        if self.limits_backend == "redis" and not self.redis_url:
            raise ValueError("GATEWAY_REDIS_URL is required when GATEWAY_LIMITS_BACKEND=redis")
        if self.secrets_backend == "vault":
            needed = ("vault_addr",) if self.vault_auth == "kubernetes" else (
                "vault_addr", "vault_role_id_file", "vault_secret_id_file")
            for name in needed:
                if getattr(self, name) is None:
                    raise ValueError(f"GATEWAY_{name.upper()} is required when GATEWAY_SECRETS_BACKEND=vault "
                                     f"and GATEWAY_VAULT_AUTH={self.vault_auth}")
        if self.workers > 1 and self.secrets_backend == "vault" and self.vault_auth == "approle":
            raise ValueError("GATEWAY_WORKERS > 1 cannot use GATEWAY_VAULT_AUTH=approle: each worker logs in on its "
                             "own and the AppRole secret_id is single-use, so every worker after the first fails; "
                             "run one worker per container (add replicas) or use GATEWAY_VAULT_AUTH=kubernetes")
        if (self.jwt_jwks_url or self.jwt_public_key_file) and not (self.jwt_issuer and self.jwt_audience):
            raise ValueError("GATEWAY_JWT_ISSUER and GATEWAY_JWT_AUDIENCE are required when JWT auth is on")
        return self


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment; raise ConfigError with one line per bad variable."""
    _refuse_unknown(os.environ)
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    upstream = settings.upstream_base_url or catalogue.provider(settings.provider).base_url
    parts = urlsplit(upstream)
    if parts.hostname in _LOOPBACK and (parts.port or {"http": 80, "https": 443}.get(parts.scheme)) == settings.port:
        # A self-hosted row's default (127.0.0.1:8000) inside a container on port 8000: every call would come
        # back to this gateway, refused with its own provider key. (Checked where a process starts: tests build
        # Settings for adapters that never serve.)
        raise ConfigError(f"the upstream {upstream} is this gateway itself (GATEWAY_PORT={settings.port}): set "
                          f"GATEWAY_UPSTREAM_BASE_URL to the {catalogue.provider(settings.provider).title}'s URL")
    return settings


def _refuse_unknown(environ: Mapping[str, str]) -> None:
    """A GATEWAY_* variable that names no setting (a typo, a setting of another version) would be ignored while
    the operator believes it applies: refused, naming the closest setting."""
    known = [name.upper() for name in Settings.model_fields]  # compared without the prefix every name shares
    unknown = sorted(name for name in environ if name.upper().startswith("GATEWAY_") and name.upper()[8:] not in known)
    if not unknown:
        return
    said = []
    for name in unknown:
        close = difflib.get_close_matches(name.upper()[8:], known, n=1)
        said.append(f"{name}: not a setting" + (f" (did you mean GATEWAY_{close[0]}?)" if close else ""))
    raise ConfigError("; ".join(said) + " (README.md, Configuration, lists the settings)")


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        var = f"GATEWAY_{loc[0].upper()}" if loc else "configuration"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(msg if not loc else f"{var}: {msg}")
    return "; ".join(lines)


def exit_on_config_error(exc: ConfigError) -> None:
    """Print the configuration problem as one line and stop the process."""
    print(f"llm-gateway: configuration error: {exc}", file=sys.stderr)
    raise SystemExit(2)
