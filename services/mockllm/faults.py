"""Fault selection (directive, ``x-mock-fault`` header, or seeded random mix)."""

from __future__ import annotations

import random
from typing import Protocol

from mockllm.directives import norm_fault

# Faults answered with an HTTP error: fault -> (status, error kind). `quota`: the account is out of credit
# (Anthropic, Cohere and Mistral answer 402; OpenAI a 429 `insufficient_quota`: each protocol's quota_status).
# `503`: the service is overloaded (Anthropic says so with a 529: each protocol's overloaded_status).
ERROR_FAULTS: dict[str, tuple[int, str]] = {
    "404": (404, "not_found"),
    "413": (413, "too_large"),
    "429": (429, "rate_limit"),
    "500": (500, "server"),
    "503": (503, "overloaded"),
    "quota": (402, "quota"),
}
MESSAGES = {
    "rate_limit": "Rate limit exceeded (mock fault 429). Please retry after 1 second.",
    "server": "The server had an error while processing your request (mock fault 500).",
    "overloaded": "The service is temporarily overloaded (mock fault 503).",
    "quota": "Your account has no credit left (mock fault quota): check your plan and billing details.",
    "not_found": "The model was not found (mock fault 404).",
    "too_large": "The request exceeds the maximum allowed size (mock fault 413).",
}
# Body of a non-stream ``malformed`` reply: truncated JSON.
MALFORMED_JSON = b'{"id": "mock-malformed", "object": "chat.completion", "choices": [{"index": 0, "mess'


class ErrorWire(Protocol):
    """What of a wire protocol an error fault needs."""

    quota_status: int
    overloaded_status: int

    def error(self, kind: str, message: str) -> bytes: ...


def error_reply(protocol: ErrorWire, fault: str) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """Status, body and extra headers of an error fault (one of ERROR_FAULTS) in `protocol`'s shape."""
    status, kind = ERROR_FAULTS[fault]
    if kind == "quota":
        status = protocol.quota_status
    elif kind == "overloaded":
        status = protocol.overloaded_status
    extra = [(b"retry-after", b"1")] if kind == "rate_limit" else []
    return status, protocol.error(kind, MESSAGES[kind]), extra


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
