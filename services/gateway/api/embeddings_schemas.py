"""Bodies of `POST /v1/embeddings` (OpenAI wire format)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from gateway.api.json_types import PositiveInt, json_integer

# OpenAI's own limits: 2,048 inputs per request, 8,192 tokens per input; the body limit (GATEWAY_MAX_BODY_BYTES,
# 413) bounds the rest.
MAX_INPUTS = 2048
MAX_INPUT_CHARS = 100_000
MAX_INPUT_TOKENS = 8192
Text = Annotated[str, Field(min_length=1, max_length=MAX_INPUT_CHARS)]
TokenId = Annotated[int, Field(strict=False, ge=0), BeforeValidator(json_integer)]
TokenIds = Annotated[list[TokenId], Field(min_length=1, max_length=MAX_INPUT_TOKENS)]
# The input forms that are token ids, as named in the request's JSON schema (app.py leaves them out of the
# schema of a provider that takes text only).
TOKEN_FORMS = ("token ids", "lists of token ids")


class EmbeddingRequest(BaseModel):
    """`POST /v1/embeddings`: `input` is one text, a list of texts, or OpenAI's token ids (one array of them, or
    a list of such arrays: what LangChain's OpenAIEmbeddings sends by default), which only a provider whose
    tokenizer they come from takes (the adapter's `embeds_token_ids`)."""

    model_config = ConfigDict(extra="forbid", strict=True)  # strict: `true` is not the integer 1

    input: (Annotated[Text, Field(title="text")]
            | Annotated[list[Text], Field(min_length=1, max_length=MAX_INPUTS, title="texts")]
            | Annotated[TokenIds, Field(title=TOKEN_FORMS[0])]
            | Annotated[list[TokenIds], Field(min_length=1, max_length=MAX_INPUTS, title=TOKEN_FORMS[1])])
    model: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: PositiveInt | None = None
    user: str | None = Field(None, max_length=256)
    # Cohere's: what the texts are for (its embeddings differ for documents and for the queries that search them);
    # not OpenAI's, so a 400 naming it on the other providers (app.py leaves it out of their schema).
    input_type: Literal["search_document", "search_query", "classification", "clustering"] | None = None

    @field_validator("input", mode="before")
    @classmethod
    def _within_bounds(cls, value: Any) -> Any:
        """Name the bound a long list breaks: the union's own error would be one member's, about one item (2,049
        texts read as "input.0: should be a valid integer", from the token-ids form)."""
        if not isinstance(value, list):
            return value
        if value and all(type(item) is int for item in value):  # one input of token ids
            if len(value) > MAX_INPUT_TOKENS:
                raise PydanticCustomError("too_long", "one input of token ids has at most {most} ids, got {got}",
                                          {"most": MAX_INPUT_TOKENS, "got": len(value)})
        elif len(value) > MAX_INPUTS:
            raise PydanticCustomError("too_long", "at most {most} inputs per request, got {got}",
                                      {"most": MAX_INPUTS, "got": len(value)})
        return value

    @property
    def texts(self) -> list[str]:
        """The text inputs as a list (none when the input is token ids)."""
        value = self.input
        if isinstance(value, str):
            return [value]
        # Each form of the union is a non-empty list of one kind: its first item tells which.
        return cast(list[str], value) if isinstance(value[0], str) else []

    @property
    def token_ids(self) -> list[list[int]] | None:
        """The token-id inputs, one array per input; None when the input is text."""
        value = self.input
        if isinstance(value, str) or isinstance(value[0], str):
            return None
        return [cast(list[int], value)] if isinstance(value[0], int) else cast(list[list[int]], value)


class Embedding(BaseModel):
    """One vector: floats, or base64 of little-endian float32 when `encoding_format` is base64."""

    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class EmbeddingUsage(BaseModel):
    """Input tokens as the provider reported them."""

    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(BaseModel):
    """`POST /v1/embeddings` answer."""

    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage | None = None
