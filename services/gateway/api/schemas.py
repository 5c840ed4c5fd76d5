"""Request and response bodies of the public API (OpenAI-compatible where it exists)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

NonEmptyStr = Annotated[str, Field(min_length=1, max_length=256)]
StopWord = Annotated[str, Field(min_length=1, max_length=256)]
ToolName = Literal["chat", "calculator", "current_time"]


class TextPart(BaseModel):
    """A text content part (`{"type": "text", "text": ...}`); other part types are not supported."""

    type: Literal["text"]
    text: str = Field(max_length=1_000_000)


class ChatMessage(BaseModel):
    """One message of the conversation; content is a string or a list of text parts."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] = Field(max_length=1_000_000)
    name: str | None = Field(None, max_length=128)

    @property
    def text(self) -> str:
        """The message content as one string."""
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)


class StreamOptions(BaseModel):
    """OpenAI `stream_options`."""

    include_usage: bool = True


class ChatCompletionRequest(BaseModel):
    """`POST /v1/chat/completions`."""

    model_config = ConfigDict(extra="ignore")

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
    user: str | None = Field(None, max_length=256)

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


class AgentRequest(BaseModel):
    """`POST /v1/agent`."""

    model_config = ConfigDict(extra="forbid")

    input: str = Field(min_length=1, max_length=100_000)
    model: NonEmptyStr | None = None
    tools: list[ToolName] | None = Field(None, max_length=16)
    max_steps: int | None = Field(None, ge=1, le=50)


class AgentStep(BaseModel):
    """One tool call the agent made."""

    tool: str
    input: dict
    output: str


class AgentResponse(BaseModel):
    """`POST /v1/agent` answer."""

    id: str
    model: str
    output: str
    steps: list[AgentStep]
    usage: dict | None = None


class ModelCard(BaseModel):
    """An entry of `GET /v1/models`."""

    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str


class ModelList(BaseModel):
    """`GET /v1/models`."""

    object: Literal["list"] = "list"
    data: list[ModelCard]


class ErrorDetail(BaseModel):
    """The OpenAI error body."""

    message: str
    type: str
    code: str
    param: str | None = None


class ErrorBody(BaseModel):
    """`{"error": {...}}` — every non-2xx answer."""

    error: ErrorDetail
