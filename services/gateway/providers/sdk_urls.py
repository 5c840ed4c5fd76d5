"""The SDKs' URL merging, memoised: openai and anthropic parse the same URLs again for every request.

Building one request, the openai and anthropic SDKs parse the route's URL three times: `_prepare_url`
joins it to the client's base URL (a parse and a copy), and httpx2's `build_request` parses the
joined URL again and joins it to the HTTP client's base URL (`_merge_url`). The inputs are a handful
of route strings and a base URL that never changes, and httpx2's `URL` is immutable, so the result
of each join is kept and handed out again: ~45 µs CPU per request (#18). Only string arguments are
memoised; each entry holds the base URL it was joined to and is used only while the client still
has that very object, so a client given a new `base_url` joins afresh.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from typing import Any

from gateway.providers.wrap import wrap_once

_MAX_ENTRIES = 256  # routes x base URLs; a process that sees more starts over rather than grow

Join = Callable[[Any, Any], Any]


def memoised(join: Join) -> Join:
    """`join(self, url)` remembered per (base URL object, url string)."""
    memo: dict[tuple[int, str], tuple[object, object]] = {}

    @functools.wraps(join)
    def remembered(self: Any, url: Any) -> Any:
        if type(url) is not str:
            return join(self, url)
        base = self.base_url
        key = (id(base), url)
        found = memo.get(key)
        if found is not None and found[0] is base:  # the entry holds `base`: its id cannot be reused meanwhile
            return found[1]
        joined = join(self, url)
        if len(memo) >= _MAX_ENTRIES:
            memo.clear()
        memo[key] = (base, joined)
        return joined

    return remembered


def memoise(cls: type, name: str) -> None:
    """Replace the join `name` where `cls` (or the first of its bases that has it) defines it; idempotent."""
    wrap_once(next(c for c in cls.__mro__ if name in c.__dict__), name, memoised)


def install(base_client: types.ModuleType) -> None:
    """Memoise the joins of an SDK's `_base_client` module: its `_prepare_url` and its httpx2's `_merge_url`."""
    memoise(base_client.BaseClient, "_prepare_url")
    memoise(base_client.httpx2.AsyncClient, "_merge_url")  # the SDK's own httpx2, sync clients included
