"""Finding a part of a client's JSON schema, named by its path (for the 400 that names it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# Keywords whose value is a map of names to subschemas, one subschema, or a list of them (JSON Schema 2020-12).
_NAMED = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_ONE = ("items", "additionalItems", "unevaluatedItems", "contains", "not", "if", "then", "else", "propertyNames")
_MANY = ("anyOf", "oneOf", "allOf", "prefixItems")


def subschemas(schema: Any, path: str) -> Iterator[tuple[dict[str, Any], str]]:
    """Every schema object in `schema` (itself first) with its dotted path: keywords are walked, not names,
    so a property called `items` is one name among the others."""
    if not isinstance(schema, dict):
        return
    yield schema, path
    for key in _NAMED:
        named = schema.get(key)
        if isinstance(named, dict):
            for name, sub in named.items():
                yield from subschemas(sub, f"{path}.{key}.{name}")
    for key in _ONE:
        yield from subschemas(schema.get(key), f"{path}.{key}")
    for key in _MANY:
        many = schema.get(key)
        if isinstance(many, list):
            for n, sub in enumerate(many):
                yield from subschemas(sub, f"{path}.{key}.{n}")


def first_open_object(schema: Any, path: str) -> str | None:
    """The path of the first `additionalProperties` that leaves an object open (true, or a schema), else None."""
    for sub, where in subschemas(schema, path):
        extra = sub.get("additionalProperties")
        if extra is not None and extra is not False:
            return f"{where}.additionalProperties"
    return None
