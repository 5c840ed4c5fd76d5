"""Start the local stack for tests, or describe an external one, behind one interface."""

from __future__ import annotations

import contextlib
import os
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import catalogue
from devstack.config import PROVIDERS, StackConfig
from devstack.ports import free_ports
from devstack.stack import Stack

PROVIDER_MODELS = {p.name: p.models[0] for p in catalogue.providers()}  # each provider's default model


@dataclass
class RunningStack:
    """What tests need to reach a stack."""

    url: str
    ca: Path
    keys: dict[str, str]
    mock_url: str
    gateway_urls: dict[str, str] = field(default_factory=dict)
    vault_addr: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    stack: Stack | None = None  # None for an external stack

    @property
    def state_dir(self) -> Path:
        """The local stack's state directory (logs, audit, pids)."""
        assert self.stack is not None, "only a local stack has a state directory"
        return self.stack.state

    def model(self, provider: str) -> str:
        """A model every gateway allows by default."""
        return PROVIDER_MODELS[provider]


def parse_env_file(path: Path) -> dict[str, str]:
    """Read `export K='v'` lines as written by devstack."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        out[key] = shlex.split(value)[0] if value else ""
    return out


def external_stack(env_file: Path) -> RunningStack:
    """Describe an already running stack from its env file."""
    env = parse_env_file(env_file)
    return RunningStack(
        url=env["STACK_URL"], ca=Path(env["STACK_CA"]),
        keys={p.name: env[f"STACK_KEY_{p.upper}"] for p in catalogue.providers()},
        mock_url=env.get("STACK_MOCK_URL", ""),
        gateway_urls={p.name: env[f"STACK_GATEWAY_URL_{p.upper}"] for p in catalogue.providers()
                      if f"STACK_GATEWAY_URL_{p.upper}" in env},
        vault_addr=env.get("VAULT_ADDR"), env=env,
    )


def stack_config(state_dir: Path, **overrides: object) -> StackConfig:
    """A StackConfig on free loopback ports under `state_dir`."""
    ports = free_ports(5 + len(PROVIDERS))
    cfg = StackConfig(
        state_dir=state_dir, https_port=ports[0], http_port=ports[1], mock_port=ports[2],
        bao_port=ports[3], bao_cluster_port=ports[4],
        gateway_ports=dict(zip(PROVIDERS, ports[5:], strict=True)),
        secrets_backend=os.environ.get("STACK_SECRETS_BACKEND", "vault"),
    )
    for key, value in overrides.items():
        setattr(cfg, key, value)
    # Extra replicas default to the first port + 10, + 20 (the laptop's fixed ports): here every one gets a
    # free port too, or a replica could land on a port handed out to another service of the stack.
    missing = [p for p in PROVIDERS if p not in cfg.replica_ports]
    if cfg.replicas > 1 and missing:
        extra = iter(free_ports((cfg.replicas - 1) * len(missing)))
        cfg.replica_ports = {**cfg.replica_ports,
                             **{p: [next(extra) for _ in range(cfg.replicas - 1)] for p in missing}}
    return cfg


@contextlib.contextmanager
def local_stack(state_dir: Path, **overrides: object) -> Iterator[RunningStack]:
    """Run a fresh local stack for the duration of the block."""
    stack = Stack(stack_config(state_dir, **overrides), say=lambda _msg: None)
    info = stack.up()
    try:
        yield RunningStack(url=info.url, ca=info.ca, keys=info.client_keys, mock_url=info.mock_url,
                           gateway_urls=info.gateway_urls, vault_addr=info.vault_addr, env=info.env(), stack=stack)
        # At the end of the run: no generated key or token may appear in any log or audit file.
        leaked = stack.leaked_secrets()
        assert not leaked, f"generated secrets found in: {leaked}"
    finally:
        stack.down()
