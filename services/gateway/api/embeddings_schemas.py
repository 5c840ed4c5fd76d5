"""Bodies of `POST /v1/embeddings` (OpenAI wire format)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.api.json_types import PositiveInt

# OpenAI's own limits: 2,048 inputs per request; the body limit (GATEWAY_MAX_BODY_BYTES, 413) bounds the rest.
MAX_INPUTS = 2048
MAX_INPUT_CHARS = 100_000
Text = Annotated[str, Field(min_length=1, max_length=MAX_INPUT_CHARS)]


class EmbeddingRequest(BaseModel):
    """`POST /v1/embeddings`: `input` is one text or a list of texts (token-id arrays are not supported)."""

    model_config = ConfigDict(extra="forbid", strict=True)  # strict: `true` is not the integer 1

    input: Text | Annotated[list[Text], Field(min_length=1, max_length=MAX_INPUTS)]
    model: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: PositiveInt | None = None
    user: str | None = Field(None, max_length=256)

    @property
    def texts(self) -> list[str]:
        """The inputs as a list."""
        return [self.input] if isinstance(self.input, str) else self.input


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
