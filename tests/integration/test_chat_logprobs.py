"""`logprobs` through nginx with the official `openai` SDK, where the provider has them: a reply's tokens, and a
refusal's (OpenAI files those under `logprobs.refusal`), plain and streamed, each chunk with its own."""

from __future__ import annotations

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

import catalogue
from gateway.providers import adapter_class
from tests.support.stack import RunningStack

pytestmark = pytest.mark.integration
WITH_LOGPROBS = [p for p in catalogue.names() if "logprobs" not in adapter_class(p).refused]
SAYS = "I can't help with that request."


def _ask(refusing: bool) -> list[ChatCompletionMessageParam]:
    return [{"role": "user", "content": f"who is it [[mock:refusal={SAYS}]]" if refusing else "who is it"}]


@pytest.mark.parametrize("provider", WITH_LOGPROBS)
@pytest.mark.parametrize("refusing", [False, True], ids=["text", "refusal"])
def test_each_token_comes_with_its_logprob(stack: RunningStack, provider: str, sdk: openai.OpenAI,
                                           refusing: bool) -> None:
    reply = sdk.chat.completions.create(model=stack.model(provider), messages=_ask(refusing), logprobs=True)
    message, logprobs = reply.choices[0].message, reply.choices[0].logprobs
    said = message.refusal if refusing else message.content
    assert logprobs is not None and said
    tokens = logprobs.refusal if refusing else logprobs.content
    assert tokens is not None and "".join(t.token for t in tokens) == said
    chunks = [c for c in sdk.chat.completions.create(model=stack.model(provider), messages=_ask(refusing),
                                                     logprobs=True, stream=True) if c.choices]
    pieces = [(c.choices[0].delta.refusal if refusing else c.choices[0].delta.content, c.choices[0].logprobs)
              for c in chunks]
    pieces = [(piece, lp) for piece, lp in pieces if piece]
    assert "".join(piece for piece, _ in pieces) == said
    for piece, lp in pieces:  # every piece with the logprobs of its own tokens
        assert lp is not None
        assert "".join(t.token for t in (lp.refusal if refusing else lp.content) or []) == piece
