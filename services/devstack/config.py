"""Settings of the local stack: ports, state directory, binaries; all overridable by STACK_* variables."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import catalogue

PROVIDERS = catalogue.names()
KEY_ENV = {p.name: p.key_env for p in catalogue.providers()}
REPO = Path(__file__).resolve().parents[2]
# The origin a web app's dev server usually has: `make up` lets it call the stack from a browser.
DEV_ORIGINS = "http://localhost:3000"


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(f"{name} must be a port number, got {raw!r}")
    return int(raw)


def _replicas(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= 9:
        raise ValueError(f"STACK_REPLICAS must be a number from 1 to 9, got {raw!r}")
    return int(raw)


def _choice(name: str, raw: str, allowed: tuple[str, ...]) -> str:
    if raw not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


@dataclass
class StackConfig:
    """Where and how the local stack runs."""

    state_dir: Path = REPO / ".stack"
    host: str = "127.0.0.1"
    https_port: int = 8443
    http_port: int = 8080
    mock_port: int = 8199
    bao_port: int = 8200
    bao_cluster_port: int = 8201
    gateway_ports: dict[str, int] = field(default_factory=lambda: {p.name: p.port for p in catalogue.providers()})
    secrets_backend: str = "vault"
    replicas: int = 1  # gateways per provider; extra replicas listen on the first port + 10, + 20, ...
    replica_ports: dict[str, list[int]] = field(default_factory=dict)  # explicit ports of the extra replicas
    shared: str = "embedded"  # "redis": limits shared by every replica through a local redis-server
    redis_port: int = 8379
    redis_bin: str = "redis-server"
    usage: str = "jsonl"  # "postgres": usage records into a local PostgreSQL cluster
    postgres_port: int = 8432
    # Gateways re-login with a fresh secret_id after this; the dev stack issues one secret_id per
    # gateway, so it runs a day before a gateway must be restarted (production uses a refresher).
    vault_token_max_ttl: str = "24h"  # noqa: S105 — a duration, not a secret
    python: str = sys.executable
    nginx_bin: str = "nginx"
    bao_bin: str = "bao"
    gateway_env: dict[str, str] = field(default_factory=dict)
    mock_env: dict[str, str] = field(default_factory=dict)
    real_keys: dict[str, str] = field(default_factory=dict)
    nginx_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> StackConfig:
        """Read STACK_* overrides; real provider keys in the environment replace the mock."""
        env = os.environ
        return cls(
            state_dir=Path(env.get("STACK_STATE_DIR", str(REPO / ".stack"))).resolve(),
            https_port=_port("STACK_HTTPS_PORT", 8443),
            http_port=_port("STACK_HTTP_PORT", 8080),
            mock_port=_port("STACK_MOCK_PORT", 8199),
            bao_port=_port("STACK_BAO_PORT", 8200),
            bao_cluster_port=_port("STACK_BAO_CLUSTER_PORT", 8201),
            gateway_ports={p.name: _port(f"STACK_GATEWAY_PORT_{p.upper}", p.port) for p in catalogue.providers()},
            secrets_backend=env.get("STACK_SECRETS_BACKEND", "vault"),
            replicas=_replicas(env.get("STACK_REPLICAS", "1")),
            shared=_choice("STACK_SHARED", env.get("STACK_SHARED", "embedded"), ("embedded", "redis")),
            redis_port=_port("STACK_REDIS_PORT", 8379),
            redis_bin=env.get("STACK_REDIS_BIN", "redis-server"),
            usage=_choice("STACK_USAGE", env.get("STACK_USAGE", "jsonl"), ("jsonl", "postgres")),
            postgres_port=_port("STACK_POSTGRES_PORT", 8432),
            nginx_bin=env.get("STACK_NGINX_BIN", "nginx"),
            bao_bin=env.get("STACK_BAO_BIN", "bao"),
            real_keys={p: env[k] for p, k in KEY_ENV.items() if env.get(k)},
            # Empty: no cross-origin access (nginx's renderer checks each origin, naming NGINX_CORS_ORIGINS).
            nginx_env={"NGINX_CORS_ORIGINS": env.get("STACK_CORS_ORIGINS", DEV_ORIGINS)},
        )

    def which(self, binary: str) -> str | None:
        """Locate a binary on PATH, in /usr/sbin, or next to the running Python."""
        search = os.pathsep.join([str(Path(self.python).parent), os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
        return shutil.which(binary, path=search)

    def gateways(self, provider: str) -> list[tuple[str, int]]:
        """(service name, port) of each replica of a provider's gateway; the first keeps the plain name."""
        base = self.gateway_ports[provider]
        extra = self.replica_ports.get(provider) or [base + 10 * i for i in range(1, self.replicas)]
        return [(f"gateway-{provider}", base),
                *((f"gateway-{provider}-{i}", port) for i, port in enumerate(extra[:self.replicas - 1], 2))]

    def ports(self) -> dict[str, int]:
        """Every port the stack will bind, by service name."""
        ports = {"nginx-https": self.https_port, "nginx-http": self.http_port, "mock": self.mock_port}
        if self.secrets_backend == "vault":
            ports["openbao"] = self.bao_port
            ports["openbao-cluster"] = self.bao_cluster_port
        if self.shared == "redis":
            ports["redis"] = self.redis_port
        if self.usage == "postgres":
            ports["postgres"] = self.postgres_port
        ports.update({name: port for p in self.gateway_ports for name, port in self.gateways(p)})
        return ports
