"""Fault selection (directive, ``x-mock-fault`` header, or seeded random mix)."""

from __future__ import annotations

import random

from mockllm.directives import norm_fault

# Faults answered with an HTTP error: fault -> (status, error kind).
ERROR_FAULTS: dict[str, tuple[int, str]] = {
    "429": (429, "rate_limit"),
    "500": (500, "server"),
    "503": (503, "overloaded"),
}
# Body of a non-stream ``malformed`` reply: truncated JSON.
MALFORMED_JSON = b'{"id": "mock-malformed", "object": "chat.completion", "choices": [{"index": 0, "mess'


class FaultPicker:
    """Chooses the fault for one request; the random mix is reproducible via ``seed``."""

    def __init__(self, faults: tuple[str, ...] = (), rate: float = 0.0, seed: int = 0) -> None:
        self.faults = faults
        self.rate = rate
        self._rng = random.Random(seed)  # noqa: S311 - deterministic fault mix, not crypto

    def reset(self, seed: int) -> None:
        """Restart the random sequence."""
        self._rng = random.Random(seed)  # noqa: S311

    def pick(self, directive: str | None, header: str | None) -> str | None:
        """Directive wins, then the header, then the configured random mix."""
        chosen = directive or norm_fault(header)
        if chosen:
            return chosen
        if self.faults and self.rate > 0 and self._rng.random() < self.rate:
            return self._rng.choice(self.faults)
        return None
