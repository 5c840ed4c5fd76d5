"""Bodies of the Anthropic Messages API (`POST /v1/messages`, `/v1/messages/count_tokens`).

Strict at the top: an unknown parameter, content-block type or tool type is a 400 naming it (never silently
dropped); what the API has and the gateway does not serve (server tools) is a 400 saying so. The content
blocks are in anthropic_blocks.py (inside a block, extra fields are forwarded unchanged), the tools in
anthropic_tools.py. Everything that passes is forwarded as sent.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

from gateway.api.anthropic_blocks import Block, CacheControl, LongText, TextBlock
from gateway.api.anthropic_blocks import Strict as _Strict
from gateway.api.anthropic_tools import ToolChoice, Tools
from gateway.api.json_types import PositiveInt, json_integer
from gateway.errors import InvalidRequestError

# The published API versions: 2023-06-01 is what most tools send; 2026-10-21 is what anthropic SDK 2.x
# (and so ChatAnthropic) sends. The client's version is forwarded upstream, so answers keep its format.
AnthropicVersion = Literal["2023-01-01", "2023-06-01", "2026-10-21"]
# Beta features the client opts into (`anthropic-beta: a-2025-01-01,b-2025-02-02`), forwarded upstream as
# sent: Anthropic itself refuses names it does not know, and that refusal reaches the client.
AnthropicBeta = Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]+( *, *[A-Za-z0-9._-]+){0,31}$", max_length=1024)]


class InputMessage(_Strict):
    """One turn: a string or a list of content blocks (gateway/api/anthropic_blocks.py)."""

    role: Literal["user", "assistant"]
    # Empty only as the final assistant turn (Messages' rule, checked with the whole list: non_empty_turns).
    content: LongText | Annotated[list[Block], Field(max_length=1024)]


ThinkingDisplay = Literal["summarized", "omitted"]


class ThinkingEnabled(_Strict):
    """Extended thinking with a token budget."""

    type: Literal["enabled"]
    budget_tokens: Annotated[int, Field(strict=False, ge=1024), BeforeValidator(json_integer)]
    display: ThinkingDisplay | None = None


class ThinkingAdaptive(_Strict):
    """The model decides when and how much to think."""

    type: Literal["adaptive"]
    display: ThinkingDisplay | None = None


class ThinkingBetweenTools(_Strict):
    """Thinking between tool calls only."""

    type: Literal["between_tools"]


class ThinkingDisabled(_Strict):
    """No extended thinking."""

    type: Literal["disabled"]


ThinkingConfig = Annotated[ThinkingEnabled | ThinkingAdaptive | ThinkingBetweenTools | ThinkingDisabled,
                           Field(discriminator="type")]


class Diagnostics(_Strict):
    """Request diagnostics: `previous_message_id` (null on a first turn) asks why a prompt cache missed."""

    previous_message_id: Annotated[str, Field(min_length=1, max_length=256)] | None = None


class OutputFormat(_Strict):
    """Structured output: a JSON schema the answer must follow."""

    type: Literal["json_schema"]
    schema_: dict[str, Any] = Field(alias="schema")


class OutputConfig(_Strict):
    """Effort level and output format."""

    effort: Literal["low", "medium", "high", "xhigh", "max"] | None = None
    format: OutputFormat | None = None


class Metadata(_Strict):
    """Request metadata (an opaque end-user id)."""

    user_id: Annotated[str, Field(max_length=256)] | None = None


System = LongText | Annotated[list[TextBlock], Field(min_length=1, max_length=64)]
Messages = Annotated[list[InputMessage], Field(min_length=1, max_length=1024)]


class MessagesRequest(_Strict):
    """`POST /v1/messages`."""

    model: Annotated[str, Field(min_length=1, max_length=256)]
    messages: Messages
    # 0: fill the prompt cache without generating (the API's "pre-warming"); the bound is GATEWAY_MAX_TOKENS_LIMIT.
    max_tokens: Annotated[int, Field(strict=False, ge=0), BeforeValidator(json_integer)]
    system: System | None = None
    stop_sequences: Annotated[list[Annotated[str, Field(min_length=1, max_length=256)]],
                              Field(max_length=16)] | None = None
    stream: StrictBool = False
    temperature: Annotated[float, Field(ge=0, le=1)] | None = None
    top_p: Annotated[float, Field(gt=0, le=1)] | None = None
    top_k: PositiveInt | None = None
    tools: Tools | None = None
    tool_choice: ToolChoice | None = None
    thinking: ThinkingConfig | None = None
    output_config: OutputConfig | None = None
    metadata: Metadata | None = None
    service_tier: Literal["auto", "standard_only"] | None = None
    cache_control: CacheControl | None = None  # a breakpoint on the last cacheable block
    speed: Literal["standard", "fast"] | None = None
    inference_geo: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    diagnostics: Diagnostics | None = None


class CountTokensRequest(_Strict):
    """`POST /v1/messages/count_tokens`."""

    model: Annotated[str, Field(min_length=1, max_length=256)]
    messages: Messages
    system: System | None = None
    tools: Tools | None = None
    tool_choice: ToolChoice | None = None
    thinking: ThinkingConfig | None = None
    output_config: OutputConfig | None = None
    cache_control: CacheControl | None = None
    speed: Literal["standard", "fast"] | None = None


# Messages API parameters the gateway knows and does not serve: a 400 names the parameter and says why.
NOT_SERVED = {
    "container": "server tools (code execution) are not served; only client tools",
    "mcp_servers": "Anthropic would connect to remote MCP servers itself: server tools are not served",
    "fallbacks": "substitute models would run outside the gateway's model allowlist",
    "thread": "state held at Anthropic under the gateway's provider key would be shared by all its clients",
    "billing_policy": "the gateway's provider key decides who is billed",
    "fallback_credit_token": "credits are redeemed by the organisation of the gateway's provider key",
    "compaction": "compaction blocks are not among the content blocks the gateway takes",
    "context_management": "Anthropic would edit the conversation after the gateway counted and audited it",
}


def non_empty_turns(messages: list[InputMessage]) -> None:
    """Messages' rule: every turn has content but the final one, when it is the assistant's (a prefill left open)."""
    for i, message in enumerate(messages):
        if not message.content and not (i == len(messages) - 1 and message.role == "assistant"):
            raise InvalidRequestError(f"messages.{i}: all messages must have non-empty content except for the "
                                      "optional final assistant message", code="invalid_field", param=f"messages.{i}")


class CountTokensResponse(BaseModel):
    """`{"input_tokens": n}`."""

    input_tokens: int


class AnthropicErrorDetail(BaseModel):
    """Anthropic's error object."""

    type: str
    message: str


class AnthropicErrorBody(BaseModel):
    """`{"type": "error", "error": {...}}` — every non-2xx answer of the Messages routes."""

    type: Literal["error"] = "error"
    error: AnthropicErrorDetail
    request_id: str | None = None  # the gateway's id of the request (also its `request-id` header)


class Usage(BaseModel):
    """Token counts of a message."""

    model_config = ConfigDict(extra="allow")

    input_tokens: int
    output_tokens: int


class MessageResponse(BaseModel):
    """A complete assistant message (Anthropic's `Message`)."""

    model_config = ConfigDict(extra="allow")

    id: str
    type: Literal["message"]
    role: Literal["assistant"]
    model: str
    content: list[dict[str, Any]]
    stop_reason: str | None
    stop_sequence: str | None = None
    usage: Usage
