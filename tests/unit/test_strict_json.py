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
