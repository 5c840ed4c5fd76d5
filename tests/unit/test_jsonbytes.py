"""`jsonbytes.dumps`: orjson's bytes, and exact JSON for the integers orjson refuses."""

from __future__ import annotations

import json

import orjson
import pytest

from gateway import jsonbytes


@pytest.mark.parametrize("doc", [{"a": [1, 2.5, "é", None, True]}, {"n": 2**63 - 1}, {"n": 2**64 - 1}])
def test_what_orjson_writes_is_written_by_orjson(doc: object) -> None:
    assert jsonbytes.dumps(doc) == orjson.dumps(doc)


@pytest.mark.parametrize("doc", [{"id": 123456789012345678901234567890, "name": "é"}, [-(2**64)], {"n": 2**64}])
def test_an_integer_beyond_64_bits_is_written_exactly(doc: object) -> None:
    with pytest.raises(TypeError):
        orjson.dumps(doc)
    out = jsonbytes.dumps(doc)
    assert json.loads(out) == doc and out.isascii()
