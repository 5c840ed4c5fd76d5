"""The JSON types of the request bodies, as JSON Schema (and the OpenAPI documents) define them.

The request models validate strictly (`true` is not the integer 1, "0.5" not a number), except where strict
mode refuses what JSON Schema accepts: an integer is 5 or 5.0, not 5.5, `true` or "5" (strict mode would
refuse 5.0, lax mode alone would take `true` and "5").
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError


def json_integer(value: object) -> object:
    """Refuse what JSON Schema does not call an integer before pydantic's lax int (`true`, "5")."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


def json_boolean(value: object) -> object:
    """Refuse what JSON Schema does not call a boolean before a `Literal[False]`, which pydantic matches by
    equality: 0 and 0.0 equal False."""
    if not isinstance(value, bool):
        raise PydanticCustomError("bool_type", "Input should be a valid boolean")
    return value


# A bound goes in the same Field, before the validator: behind a BeforeValidator pydantic can no longer
# render it as JSON Schema's minimum/maximum (it would write a bare `ge`).
JsonInt = Annotated[int, Field(strict=False), BeforeValidator(json_integer)]
PositiveInt = Annotated[int, Field(strict=False, ge=1), BeforeValidator(json_integer)]
# Only `false` (a switch whose other value is not served).
JsonFalse = Annotated[Literal[False], BeforeValidator(json_boolean)]
