"""JSON in and out for the mock: orjson's speed, with integers beyond 64 bits kept exact, as providers keep them.

orjson reads such an integer as a float and refuses to write one; a real provider's JSON reader and writer
take them (a bound in a tool's schema, an id a model writes into a tool call). The standard library handles
the documents that hold one. The gateway has its own `gateway.jsonbytes`: the mock's image carries no
gateway package, so the mock cannot share it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

JSONDecodeError = json.JSONDecodeError  # orjson.JSONDecodeError subclasses it
_LONG_DIGITS = re.compile(rb"\d{20}")  # every integer beyond 64 bits has 20 digits or more


def loads(raw: bytes | str) -> Any:
    """Parse a JSON document, big integers exact."""
    data = raw.encode() if isinstance(raw, str) else raw
    return json.loads(data) if _LONG_DIGITS.search(data) else orjson.loads(data)


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes, big integers exact."""
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj, separators=(",", ":")).encode()
