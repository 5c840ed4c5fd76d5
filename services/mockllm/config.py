"""Mock configuration, read from ``MOCK_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import catalogue
from mockllm.directives import FAULTS

# What `GET /v1/models` lists per provider: the catalogue's models.
DEFAULT_MODELS: dict[str, tuple[str, ...]] = {p.name: p.models for p in catalogue.providers()}


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (value or "").split(",") if p.strip())


@dataclass(frozen=True, slots=True)
class MockConfig:
    """Runtime settings of the mock (all optional)."""

    host: str = "127.0.0.1"
    port: int = 8199
    api_keys: frozenset[str] = frozenset()  # empty: any non-empty key is accepted
    faults: tuple[str, ...] = ()  # fault mix drawn at random with probability fault_rate
    fault_rate: float = 0.0
    seed: int = 0
    timeout_s: float = 30.0  # how long the ``timeout`` fault stalls
    chunk_delay_ms: float = 0.0  # pause between stream chunks
    models: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_MODELS))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MockConfig:
        """Build a config from ``MOCK_*`` variables; raise ValueError on bad values."""
        e = os.environ if env is None else env
        faults = tuple(f.lower() for f in _csv(e.get("MOCK_FAULTS")))
        unknown = [f for f in faults if f not in FAULTS]
        if unknown:
            raise ValueError(f"MOCK_FAULTS: unknown fault(s) {unknown}; known: {sorted(FAULTS)}")
        rate = float(e.get("MOCK_FAULT_RATE", "0") or 0)
        if not 0.0 <= rate <= 1.0:
            raise ValueError("MOCK_FAULT_RATE must be within 0..1")
        return cls(
            host=e.get("MOCK_HOST", "127.0.0.1"),
            port=int(e.get("MOCK_PORT", "8199")),
            api_keys=frozenset(_csv(e.get("MOCK_API_KEYS"))),
            faults=faults,
            fault_rate=rate,
            seed=int(e.get("MOCK_SEED", "0") or 0),
            timeout_s=float(e.get("MOCK_TIMEOUT_S", "30") or 30),
            chunk_delay_ms=float(e.get("MOCK_CHUNK_DELAY_MS", "0") or 0),
        )
