"""Replacing a name in a third-party module or class by a wrapper of what it holds, once.

The adapters speed up a few SDK and LangChain functions (and correct one: cohere.py) by wrapping them where
their callers look them up. Every wrapper is built with `functools.wraps`, so it carries `__wrapped__`: a name
that already holds one is left as it is, and building a second adapter in a process wraps nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def wrap_once(owner: object, name: str, wrap: Callable[[Any], Any]) -> None:
    """Set `owner.<name>` to `wrap(owner.<name>)` unless it is already a wrapper."""
    current = getattr(owner, name)
    if not hasattr(current, "__wrapped__"):
        setattr(owner, name, wrap(current))
