"""The schema walk behind the 400 that names an open object (chat/schema_walk.py)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.chat.schema_walk import first_open_object, subschemas

ROOT = "response_format.json_schema.schema"


@pytest.mark.parametrize(("schema", "where"), [
    ({"type": "object", "properties": {"a": {"type": "string"}}}, None),  # left unsaid: the provider's default
    ({"type": "object", "additionalProperties": False}, None),
    ({"type": "object", "additionalProperties": True}, ""),
    ({"type": "object", "properties": {"tags": {"type": "object", "additionalProperties": {"type": "string"}}}},
     ".properties.tags"),
    ({"type": "array", "items": {"type": "object", "additionalProperties": {}}}, ".items"),
    ({"anyOf": [{"type": "null"}, {"$ref": "#/$defs/M"}], "$defs": {"M": {"type": "object",
                                                                      "additionalProperties": True}}}, ".$defs.M"),
    ({"type": "object", "properties": {"x": {"oneOf": [{"type": "string"}, {"type": "object",
                                                                           "additionalProperties": True}]}}},
     ".properties.x.oneOf.1"),
])
def test_the_first_open_object_is_named_by_its_path(schema: dict[str, Any], where: str | None) -> None:
    found = first_open_object(schema, ROOT)
    assert found == (None if where is None else f"{ROOT}{where}.additionalProperties")


def test_names_are_names_not_keywords() -> None:
    # A property called `items` or `additionalProperties` is data, not a keyword to walk or to judge.
    schema = {"type": "object", "properties": {"items": {"type": "string"},
                                               "additionalProperties": {"type": "boolean"}}}
    assert first_open_object(schema, ROOT) is None
    assert [path for _, path in subschemas(schema, "s")] == ["s", "s.properties.items",
                                                              "s.properties.additionalProperties"]


def test_what_is_not_a_schema_object_is_passed_over() -> None:
    assert list(subschemas(True, "s")) == []
    assert first_open_object({"type": "array", "items": True, "anyOf": "x"}, ROOT) is None
