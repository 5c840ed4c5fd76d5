"""Request bodies read as JSON Schema reads them: 5 and 5.0 are one integer, `true`, "5" and 5.5 none (every route);
the image URL pattern the same in Python, JSON Schema and pydantic."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from gateway.api.anthropic_schemas import MessagesRequest
from gateway.api.chat_request import ChatCompletionRequest, ImageUrl
from gateway.api.embeddings_schemas import EmbeddingRequest
from gateway.api.schemas import AgentRequest

USER = [{"role": "user", "content": "x"}]
CASES = [  # (model, a valid body without the field, the field, a valid integer for it)
    (ChatCompletionRequest, {"messages": USER}, "max_tokens", 5),
    (ChatCompletionRequest, {"messages": USER}, "max_completion_tokens", 5),
    (ChatCompletionRequest, {"messages": USER}, "seed", 5),
    (ChatCompletionRequest, {"messages": USER}, "n", 1),
    (ChatCompletionRequest, {"messages": USER, "logprobs": True}, "top_logprobs", 5),
    (AgentRequest, {"input": "x"}, "max_steps", 5),
    (EmbeddingRequest, {"input": "x"}, "dimensions", 5),
    (MessagesRequest, {"model": "m", "max_tokens": 5, "messages": USER}, "top_k", 5),
]


@pytest.mark.parametrize(("model", "body", "field", "value"), CASES, ids=[f"{c[0].__name__}.{c[2]}" for c in CASES])
def test_an_integer_is_json_schemas(model: type[BaseModel], body: dict[str, Any], field: str, value: int) -> None:
    assert getattr(model.model_validate({**body, field: float(value)}), field) == value  # 5.0 is the integer 5
    for wrong in (True, str(value), value + 0.5):
        with pytest.raises(ValidationError) as info:
            model.model_validate({**body, field: wrong})
        assert info.value.errors()[0]["loc"][0] == field, wrong


def test_a_logit_bias_value_is_json_schemas_integer() -> None:
    bias = ChatCompletionRequest.model_validate({"messages": USER, "logit_bias": {"1": -100.0}}).logit_bias
    assert bias == {"1": -100}
    with pytest.raises(ValidationError):
        ChatCompletionRequest.model_validate({"messages": USER, "logit_bias": {"1": True}})


def test_numbers_take_integers_but_not_booleans_or_strings() -> None:
    assert ChatCompletionRequest.model_validate({"messages": USER, "temperature": 1}).temperature == 1.0
    for wrong in (True, "0.5"):
        with pytest.raises(ValidationError):
            ChatCompletionRequest.model_validate({"messages": USER, "temperature": wrong})


def test_a_switch_that_takes_only_false_takes_no_number() -> None:
    # pydantic matches `Literal[False]` by equality, and 0 == 0.0 == False in Python (schemathesis seed 777 sent
    # `"include_obfuscation": 0.0` and got a stream).
    body = {"messages": USER, "stream": True}
    options = ChatCompletionRequest.model_validate({**body, "stream_options": {"include_obfuscation": False}})
    assert options.stream_options is not None and options.stream_options.include_obfuscation is False
    for wrong in (0, 0.0, "false", True):
        with pytest.raises(ValidationError) as info:
            ChatCompletionRequest.model_validate({**body, "stream_options": {"include_obfuscation": wrong}})
        assert info.value.errors()[0]["loc"] == ("stream_options", "include_obfuscation"), wrong


@pytest.mark.parametrize("url", ["https://a.b/c.png", "https://\u0104\u0085\u00a5", "https://a b", "https://a\ufeffb",
                                 "https://\u4f8b\u3048.jp/x.png", "https://a\u3000b", "https://a\u2028b"])
def test_the_image_url_pattern_reads_alike_in_python_and_in_pydantic(url: str) -> None:
    # schemathesis (Python's re) and generated clients read the published pattern; pydantic-core (Rust) applies
    # it: `\s` differs between them (U+0085, U+FEFF), so the pattern names both.
    pattern = ImageUrl.model_json_schema()["properties"]["url"]["pattern"]
    try:
        ImageUrl(url=url)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted is bool(re.match(pattern, url)) is (not any(c.isspace() or c == "\ufeff" for c in url))
