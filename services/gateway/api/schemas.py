"""Request and response bodies of the public API (OpenAI-compatible where it exists)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from gateway.api.chat_request import ChatCompletionRequest, ChatMessage, StreamOptions, TextPart
from gateway.api.json_types import json_integer

NonEmptyStr = Annotated[str, Field(min_length=1, max_length=256)]
ToolName = Literal["chat", "calculator", "current_time"]


class AgentRequest(BaseModel):
    """`POST /v1/agent`."""

    model_config = ConfigDict(extra="forbid", strict=True)  # strict: `true` is not the integer 1

    input: str = Field(min_length=1, max_length=100_000)
    model: NonEmptyStr | None = None
    tools: list[ToolName] | None = Field(None, max_length=16)
    max_steps: Annotated[int, Field(strict=False, ge=1, le=50), BeforeValidator(json_integer)] | None = None


class AgentStep(BaseModel):
    """One tool call the agent made."""

    tool: str | None  # None: the tool message named no tool and matched no call (never invented)
    input: dict
    output: str


class AgentResponse(BaseModel):
    """`POST /v1/agent` answer."""

    id: str
    model: str
    output: str
    truncated: bool = Field(False, description="The answer ended because it reached the token cap "
                                               "(GATEWAY_MAX_TOKENS_LIMIT): the model's last reply ended for length.")
    finish_reason: str | None = Field(None, description="The last reply's stop reason in OpenAI's words, as the "
                                                        "chat route reports it (`stop`, `length`, `content_filter` "
                                                        "for a filtered or refused reply); null if none was given.")
    refusal: str | None = Field(None, description="The model refused (OpenAI-protocol providers): its refusal text; "
                                                  "`output` is then empty.")
    steps: list[AgentStep]
    usage: dict | None = Field(None, description="Tokens of every model call of the run, the chat tool's included.")


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
    param: str | None


class ErrorBody(BaseModel):
    """`{"error": {...}}` — every non-2xx answer."""

    error: ErrorDetail


__all__ = ["AgentRequest", "AgentResponse", "AgentStep", "ChatCompletionRequest", "ChatMessage", "ErrorBody",
           "ErrorDetail", "ModelCard", "ModelList", "StreamOptions", "TextPart"]
