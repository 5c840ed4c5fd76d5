"""The page of Anthropic's model list the gateway answers: limit, after_id and before_id as Anthropic pages."""

from __future__ import annotations

import pytest

from gateway.api.routes.messages import page
from gateway.errors import InvalidRequestError

MODELS = [{"id": f"m{i}", "type": "model"} for i in range(5)]


def ids(doc: dict) -> list[str]:
    return [m["id"] for m in doc["data"]]


def test_pages_forward_and_back() -> None:
    first = page(MODELS, 2, None, None)
    assert (ids(first), first["has_more"], first["first_id"], first["last_id"]) == (["m0", "m1"], True, "m0", "m1")
    after = page(MODELS, 2, "m1", None)
    assert (ids(after), after["has_more"]) == (["m2", "m3"], True)
    last = page(MODELS, 2, "m3", None)
    assert (ids(last), last["has_more"]) == (["m4"], False)
    before = page(MODELS, 2, None, "m3")
    assert (ids(before), before["has_more"]) == (["m1", "m2"], True)
    start = page(MODELS, 2, None, "m1")
    assert (ids(start), start["has_more"]) == (["m0"], False)
    assert page(MODELS, 20, None, None)["has_more"] is False


def test_the_end_and_an_empty_list() -> None:
    end = page(MODELS, 2, "m4", None)
    assert (ids(end), end["has_more"], end["first_id"], end["last_id"]) == ([], False, None, None)
    assert page([], 20, None, None) == {"data": [], "has_more": False, "first_id": None, "last_id": None}


@pytest.mark.parametrize(("after", "before", "param"), [("nope", None, "after_id"), (None, "nope", "before_id"),
                                                         ("m1", "m3", "before_id")])
def test_unknown_or_both_cursors_are_400s(after: str | None, before: str | None, param: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        page(MODELS, 2, after, before)
    assert info.value.status == 400 and info.value.param == param
