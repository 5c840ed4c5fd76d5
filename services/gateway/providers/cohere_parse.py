"""The Cohere SDK's response parsing with its per-type work done once per type, not once per event.

cohere 5.x (the line langchain-cohere 0.6 accepts) parses every streamed event with `parse_obj_as`, which
builds a new pydantic `TypeAdapter` (a schema generation) and, to apply its alias metadata, re-evaluates
the type hints of every model in the event union (`typing.get_type_hints`, compiling each annotation
string) each time: ~1.2 ms of CPU per event, two thirds of a whole Cohere stream's CPU (measured for #18:
32.5 -> 11.5 ms per 17-event stream, in process). Both results depend on the type alone. `install()`
gives the SDK's two parsing modules views of `typing_extensions` and `pydantic` in which those two
functions are memoised per type; every other name, and the SDK's own code, are unchanged.
"""

from __future__ import annotations

import functools
import types
from typing import Any

import pydantic
import typing_extensions
from cohere.core import pydantic_utilities, serialization

CACHED_TYPES = 1024  # the SDK's types number in the hundreds; a bound all the same


@functools.lru_cache(maxsize=CACHED_TYPES)
def _type_hints(obj: Any, include_extras: bool) -> dict[str, Any]:
    return typing_extensions.get_type_hints(obj, include_extras=include_extras)


def type_hints(obj: Any, globalns: Any = None, localns: Any = None, include_extras: bool = False) -> dict[str, Any]:
    """`typing_extensions.get_type_hints`, memoised for a hashable `obj` resolved in its own namespaces.

    The result is shared: the SDK only reads it. A failure (a NameError the SDK handles) is not memoised."""
    if globalns is None and localns is None:
        try:
            return _type_hints(obj, include_extras)
        except TypeError as exc:
            if "unhashable" not in str(exc):
                raise
    return typing_extensions.get_type_hints(obj, globalns, localns, include_extras)


@functools.lru_cache(maxsize=CACHED_TYPES)
def _type_adapter(type_: Any) -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(type_)


def type_adapter(type_: Any) -> pydantic.TypeAdapter[Any]:
    """`pydantic.TypeAdapter(type_)`, one per hashable type (an adapter is immutable once built)."""
    try:
        return _type_adapter(type_)
    except TypeError as exc:
        if "unhashable" not in str(exc):
            raise
    return pydantic.TypeAdapter(type_)


class ModuleView(types.ModuleType):
    """`module`'s names, some replaced; names the module defines lazily (pydantic's) are looked up in it."""

    def __init__(self, module: types.ModuleType, **replaced: Any) -> None:
        super().__init__(module.__name__, module.__doc__)
        self.__dict__.update({k: v for k, v in vars(module).items() if k != "__getattr__"})
        self.__dict__.update(replaced)
        self.__wrapped__ = module

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__wrapped__, name)


def install() -> None:
    """Point the SDK's parsing modules at the memoised views (idempotent)."""
    _view(serialization, "typing_extensions", get_type_hints=type_hints)
    _view(pydantic_utilities, "pydantic", TypeAdapter=type_adapter)


def _view(module: types.ModuleType, name: str, **replaced: Any) -> None:
    current = getattr(module, name)  # the module `module` imported as `name`
    if not isinstance(current, ModuleView):
        setattr(module, name, ModuleView(current, **replaced))
