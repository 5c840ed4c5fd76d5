"""JSON out: orjson, and the standard library for the values orjson refuses.

orjson (fast, and on the hot path) refuses integers beyond 64 bits, which JSON allows and Python's `json`
reads exactly: a bound in a client's JSON schema, an id a model wrote into a tool call's arguments. Such
a document is written by `json` instead, as ASCII (escaped), so it is valid UTF-8 whatever it holds.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(obj: Any) -> bytes:
    """The document as compact JSON bytes, big integers included."""
    try:
        return orjson.dumps(obj)
    except TypeError:  # an integer beyond 64 bits (or a str orjson cannot encode): the stdlib writes both
        return json.dumps(obj, separators=(",", ":")).encode()
