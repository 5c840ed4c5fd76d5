"""LangChain's per-call signature inspection on the chat path, memoised.

Every `ainvoke` (and `invoke`) of a LangChain chat model asks `inspect.signature(self._agenerate)`
whether the provider's `_agenerate` takes a `run_manager` (langchain_core `_agenerate_with_cache`):
~12 µs CPU per request (#18) for an answer fixed by the method's code. The parameters of a bound
method depend only on its function, and `inspect.Signature.parameters` is a read-only mapping, so it
is computed once per function and shared. Only the chat-model module's reference is replaced; any
other callable (a plain function, a partial, a class) is inspected as before.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import langchain_core.language_models.chat_models as _chat_models

from gateway.providers.wrap import wrap_once

_MAX_ENTRIES = 1024  # methods are code, so this is never reached; a process that does starts over

Parameters = Callable[[Callable[..., Any]], Mapping[str, inspect.Parameter]]


def memoised(parameters: Parameters) -> Parameters:
    """`parameters(obj)`, remembered per function for bound methods."""
    memo: dict[object, Mapping[str, inspect.Parameter]] = {}

    @functools.wraps(parameters)
    def signature_parameters(obj: Callable[..., Any]) -> Mapping[str, inspect.Parameter]:
        if not inspect.ismethod(obj):
            return parameters(obj)
        found = memo.get(obj.__func__)
        if found is None:
            found = parameters(obj)
            if len(memo) >= _MAX_ENTRIES:
                memo.clear()
            memo[obj.__func__] = found
        return found

    return signature_parameters


def install() -> None:
    """Memoise the `_signature_parameters` langchain_core's chat models call (idempotent)."""
    wrap_once(_chat_models, "_signature_parameters", memoised)
