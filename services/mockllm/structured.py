"""Deterministic JSON instances of JSON schemas: forced tool arguments and structured output."""

from __future__ import annotations

from typing import Any

_SCALARS: dict[str, Any] = {"string": "mock", "integer": 1, "number": 1, "boolean": True, "null": None}


def instance(schema: Any, root: Any = None, depth: int = 0) -> Any:
    """A small value valid for ``schema`` (every property filled, first enum/anyOf option taken)."""
    root = schema if root is None else root
    if not isinstance(schema, dict) or depth > 16:
        return {}
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return instance(target, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return instance(schema[key][0], root, depth + 1)
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties")
        props = props if isinstance(props, dict) else {}
        return {name: instance(sub, root, depth + 1) for name, sub in props.items()}
    if kind == "array":
        count = schema.get("minItems", 1)
        return [instance(schema.get("items", {}), root, depth + 1)] * (count if isinstance(count, int) else 1)
    return _SCALARS.get(str(kind), None)


def mapping(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (lenient parsing of optional fields)."""
    return value if isinstance(value, dict) else {}
