"""`strict_json.loads`: JSON as `json.loads` decodes it, minus strings that cannot be passed on (lone surrogates)."""

from __future__ import annotations

import json

import pytest

from gateway.api.strict_json import loads


@pytest.mark.parametrize("body", [
    b'{"content": "\\ud83d\\ude00 a pair is one character"}',
    b'{"content": "\\uD83D\\uDE00 upper-case escapes"}',
    b'{"content": "\\\\ud800 is a backslash and text, not an escape"}',
    b'{"seed": 123456789012345678901234567890}',  # exact, as FastAPI decodes it (no float)
    '{"content": "caf\u00e9 \U0001f600 raw UTF-8"}'.encode(),
])
def test_what_json_loads_decodes_is_kept_as_it_decodes_it(body: bytes) -> None:
    assert loads(body) == json.loads(body)


@pytest.mark.parametrize(("body", "pos"), [
    (b'{"content": "a\\ud97fb"}', 14),  # a high half alone
    (b'{"content": "\\ude00"}', 13),  # a low half alone
    (b'{"content": "\\ude00\\ud83d"}', 13),  # both halves, in the wrong order
    (b'{"\\udaf9": 1}', 2),  # in a key
    ('{"c": "\u00e9\u00e9", "d": "\\udc00"}'.encode(), 18),  # the position counts characters, not bytes
])
def test_a_lone_surrogate_is_a_decode_error_at_its_position(body: bytes, pos: int) -> None:
    with pytest.raises(json.JSONDecodeError) as info:
        loads(body)
    assert info.value.msg == "lone UTF-16 surrogate escape in a string (not Unicode text)"
    assert info.value.pos == pos


@pytest.mark.parametrize(("body", "name", "pos"), [
    (b'{"temperature": NaN}', "NaN", 16),
    (b'{"a": [1, Infinity]}', "Infinity", 10),
    (b'{"a": {"b": -Infinity}}', "-Infinity", 12),
    (b'{"s": "NaN and \\"Infinity\\" in a string", "x": NaN}', "NaN", 47),  # text in strings is text
    ('{"é": "\\\\", "x": Infinity}'.encode(), "Infinity", 17),  # characters, not bytes; an escaped backslash
    (b'{"maximum": 2e308, "minimum": -1E400}', "2e308", 12),  # beyond a double: orjson refuses them too
    (b'{"a": 0.' + b"0" * 99 + b'1e400, "b": 1e400}', "1e400", 119),  # a = 1e300 ends with the same text
    (b'\xef\xbb\xbf{"x": NaN}', "NaN", 6),  # after a UTF-8 BOM, which json.loads drops
])
def test_nan_and_infinities_are_decode_errors_at_their_position(body: bytes, name: str, pos: int) -> None:
    with pytest.raises(json.JSONDecodeError) as info:
        loads(body)
    reason = "is not a JSON value" if name in ("NaN", "Infinity", "-Infinity") else (
        "is too large for a double-precision number")
    assert info.value.msg == f"{name} {reason}"
    assert info.value.pos == pos


def test_strings_naming_the_constants_and_numbers_within_a_double_are_json() -> None:
    body = b'{"NaN": "Infinity", "max": 1.7976931348623157e308, "tiny": -1e-400, "big": 1' + b"0" * 400 + b"}"
    assert loads(body) == json.loads(body)
    assert loads(body)["big"] == 10 ** 400  # an integer stays exact, as FastAPI decodes it
