"""The `POST /v1/chat/completions` request body: every OpenAI chat parameter the gateway knows.

Unknown fields are refused (`extra="forbid"` → 400 naming the field). A known field that the
configured provider cannot honour is refused by the provider adapter's declared `refused` table.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

NonEmptyStr = Annotated[str, Field(min_length=1, max_length=256)]
StopWord = Annotated[str, Field(min_length=1, max_length=256)]
FunctionName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
# A data: URI of a 5 MiB image is ~7 MB of base64; the body limit of the edge applies too.
MAX_IMAGE_URL = 7_000_000
_IMAGE_URL = r"^(https://\S+|data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=]+)$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextPart(_Strict):
    """A text content part."""

    type: Literal["text"]
    text: str = Field(max_length=1_000_000)


class ImageUrl(_Strict):
    """An image reference: an https URL (fetched by the provider, never by the gateway) or a data: URI."""

    url: str = Field(max_length=MAX_IMAGE_URL, pattern=_IMAGE_URL)
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(_Strict):
    """An `image_url` content part."""

    type: Literal["image_url"]
    image_url: ImageUrl


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class FunctionCall(_Strict):
    """The function of a tool call: name and JSON-encoded arguments."""

    name: FunctionName
    arguments: str = Field(max_length=1_000_000)

    @field_validator("arguments")
    @classmethod
    def _json_object(cls, value: str) -> str:
        try:
            parsed = json.loads(value)
        except ValueError:
            raise ValueError("arguments must be a JSON object") from None
        if not isinstance(parsed, dict):
            raise ValueError("arguments must be a JSON object")
        return value


class ToolCall(_Strict):
    """A tool call made by the assistant in an earlier turn."""

    id: str = Field(min_length=1, max_length=256)
    type: Literal["function"]
    function: FunctionCall


class ChatMessage(_Strict):
    """One message of the conversation (system, developer, user, assistant or tool)."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = Field(None, max_length=1_000_000)
    name: str | None = Field(None, max_length=128)
    tool_calls: list[ToolCall] | None = Field(None, min_length=1, max_length=128)
    tool_call_id: str | None = Field(None, min_length=1, max_length=256)

    @model_validator(mode="after")
    def _role_fields(self) -> ChatMessage:
        if self.tool_calls is not None and self.role != "assistant":
            raise ValueError("tool_calls is only allowed on assistant messages")
        if (self.tool_call_id is None) != (self.role != "tool"):
            raise ValueError("tool messages need tool_call_id, and only they may carry it")
        if self.content is None and not self.tool_calls:
            raise ValueError("content is required unless the assistant message has tool_calls")
        if self.role not in ("user", "assistant") and isinstance(self.content, list) and any(
                isinstance(p, ImagePart) for p in self.content):
            raise ValueError("image_url parts are only allowed in user messages")
        return self

    @property
    def text(self) -> str:
        """The text of the message content, image parts left out."""
        if self.content is None or isinstance(self.content, str):
            return self.content or ""
        return "".join(p.text for p in self.content if isinstance(p, TextPart))


class FunctionDef(_Strict):
    """A function the model may call: name, description and JSON-schema parameters."""

    name: FunctionName
    description: str | None = Field(None, max_length=100_000)
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(_Strict):
    """A tool offered to the model (`type: function`)."""

    type: Literal["function"]
    function: FunctionDef


class NamedFunction(_Strict):
    """The function named by a `tool_choice` object."""

    name: FunctionName


class NamedToolChoice(_Strict):
    """`tool_choice: {"type": "function", "function": {"name": ...}}`."""

    type: Literal["function"]
    function: NamedFunction


class JsonSchemaFormat(_Strict):
    """The `json_schema` member of `response_format`."""

    name: FunctionName
    description: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None


class ResponseFormat(_Strict):
    """`response_format`: text, JSON mode or a JSON schema."""

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_with_type(self) -> ResponseFormat:
        if (self.type == "json_schema") != (self.json_schema is not None):
            raise ValueError("json_schema is required with type json_schema, and only then")
        return self


class StreamOptions(_Strict):
    """OpenAI `stream_options`."""

    include_usage: bool = True


class ChatCompletionRequest(_Strict):
    """`POST /v1/chat/completions`."""

    model: NonEmptyStr | None = None
    # `contains` states the one-user-turn rule in the schema too, so generated clients and fuzzers know it.
    messages: list[ChatMessage] = Field(min_length=1, max_length=1024, json_schema_extra={
        "contains": {"type": "object", "properties": {"role": {"const": "user"}}, "required": ["role"]}})
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: StopWord | Annotated[list[StopWord], Field(min_length=1, max_length=4)] | None = None
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    tools: list[Tool] | None = Field(None, min_length=1, max_length=128)
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: StrictBool | None = None
    response_format: ResponseFormat | None = None
    # One choice per request: LangChain chat models return a single generation.
    n: int | None = Field(None, ge=1, le=1, description="Only 1 is supported.")
    seed: int | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    logit_bias: dict[str, Annotated[int, Field(ge=-100, le=100)]] | None = Field(None, max_length=300)
    logprobs: StrictBool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    user: str | None = Field(None, max_length=256)
    metadata: dict[str, Annotated[str, Field(max_length=512)]] | None = Field(None, max_length=16)
    store: StrictBool | None = None
    service_tier: Literal["auto", "default", "flex", "scale", "priority"] | None = None
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = None

    @field_validator("stop")
    @classmethod
    def _stop_list(cls, value: str | list[str] | None) -> list[str] | None:
        if value is None:
            return None
        return [value] if isinstance(value, str) else value

    @field_validator("messages")
    @classmethod
    def _has_user_turn(cls, value: list[ChatMessage]) -> list[ChatMessage]:
        if not any(m.role == "user" for m in value):
            raise ValueError("messages must contain at least one user message")
        return value

    @model_validator(mode="after")
    def _tools_named(self) -> ChatCompletionRequest:
        if isinstance(self.tool_choice, NamedToolChoice):
            names = {t.function.name for t in self.tools or ()}
            if self.tool_choice.function.name not in names:
                raise ValueError("tool_choice names a function that is not in tools")
        if (self.tool_choice in ("auto", "required") or self.parallel_tool_calls is not None) and not self.tools:
            raise ValueError("tool_choice and parallel_tool_calls need tools")
        if self.top_logprobs is not None and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs: true")
        return self
