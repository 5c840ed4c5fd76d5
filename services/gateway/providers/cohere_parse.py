"""The Cohere SDK's response parsing with its per-type work done once per type, not once per event.

cohere 5.x (the line langchain-cohere 0.6 accepts) parses every streamed event with `parse_obj_as`, which
builds a new pydantic `TypeAdapter` (a schema generation) and, to apply its alias metadata, re-evaluates
the type hints of every model in the event union (`typing.get_type_hints`, compiling each annotation
string) each time: ~1.2 ms of CPU per event, two thirds of a whole Cohere stream's CPU (measured for #18:
32.5 -> 11.5 ms per 17-event stream, in process). Both results depend on the type alone. `install()`
gives the SDK's two parsing modules views of `typing_extensions` and `pydantic` in which those two
functions are memoised per type; every other name, and the SDK's own code, are unchanged.

Before validating, `parse_obj_as` (and the models' `construct`; `.dict()` the other way) copy the document
while renaming the keys that a `FieldMetadata(alias=...)` annotation declares anywhere in its type
(`convert_and_respect_annotation_metadata`, a walk of the type hints in Python per key): ~0.3 ms per
streamed event, half of what was left of a stream's CPU. Only a handful of the SDK's types declare such an
alias (embeddings by type, datasets, response formats); for a type from which none is reachable the walk
returns an equal copy, so `install()` wraps the name those functions call to return the document itself
for such a type (checked once per type) and to walk as before for every other one.
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Callable
from typing import Any

import pydantic
import typing_extensions
from cohere.core import pydantic_utilities, serialization

from gateway.providers.wrap import wrap_once

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


def declares_alias(type_: Any, seen: set[type] | None = None) -> bool:
    """Whether a `FieldMetadata` alias is reachable from `type_` (through `Annotated`, unions, containers, the
    fields of models and TypedDicts): what the SDK's read conversion could rename. True where unsure."""
    seen = set() if seen is None else seen
    origin = typing_extensions.get_origin(type_)
    if origin is typing_extensions.Annotated:
        inner, *metadata = typing_extensions.get_args(type_)
        return any(isinstance(m, serialization.FieldMetadata) for m in metadata) or declares_alias(inner, seen)
    if origin is typing.Literal or origin is typing.ClassVar:  # a class variable is no field: never renamed
        return False
    if origin is not None:  # a union, a container, NotRequired[...], ...: any of its arguments
        return any(declares_alias(arg, seen) for arg in typing_extensions.get_args(type_))
    if isinstance(type_, type):
        if type_ in seen or not (issubclass(type_, pydantic.BaseModel) or typing_extensions.is_typeddict(type_)):
            return False
        seen.add(type_)  # a recursive model is walked once
        try:
            hints = type_hints(type_, include_extras=True)
        except Exception:  # noqa: BLE001 - hints that do not resolve: the SDK's own walk decides
            return True
        return any(declares_alias(hint, seen) for hint in hints.values())
    return isinstance(type_, str | typing.ForwardRef)  # an unresolved name may be anything; Any, None, TypeVars not


@functools.lru_cache(maxsize=CACHED_TYPES)
def _alias_free(type_: Any) -> bool:
    return not declares_alias(type_)


def alias_free(type_: Any) -> bool:
    """`not declares_alias(type_)`, once per hashable type."""
    try:
        return _alias_free(type_)
    except TypeError as exc:
        if "unhashable" not in str(exc):
            raise
    return not declares_alias(type_)


Convert = Callable[..., Any]


def as_is_when_alias_free(convert: Convert) -> Convert:
    """`convert` (the SDK's `convert_and_respect_annotation_metadata`), skipped for a document of a type that
    declares no alias: the walk, reading or writing, would return an equal copy."""

    @functools.wraps(convert)
    def convert_and_respect_annotation_metadata(*, object_: Any, annotation: Any, inner_type: Any = None,
                                                direction: str) -> Any:
        if alias_free(annotation if inner_type is None else inner_type):
            return object_
        return convert(object_=object_, annotation=annotation, inner_type=inner_type, direction=direction)

    return convert_and_respect_annotation_metadata


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
    wrap_once(pydantic_utilities, "convert_and_respect_annotation_metadata", as_is_when_alias_free)


def _view(module: types.ModuleType, name: str, **replaced: Any) -> None:
    current = getattr(module, name)  # the module `module` imported as `name`
    if not isinstance(current, ModuleView):
        setattr(module, name, ModuleView(current, **replaced))
