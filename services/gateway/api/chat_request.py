"""The `POST /v1/chat/completions` request body: every OpenAI chat parameter the gateway knows.

Unknown fields are refused (`extra="forbid"` → 400 naming the field). A known field that the
configured provider cannot honour is refused by the provider adapter's declared `refused` table.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from gateway.api.json_types import JsonFalse, JsonInt, PositiveInt, json_integer
from gateway.errors import not_served

NonEmptyStr = Annotated[str, Field(min_length=1, max_length=256)]
StopWord = Annotated[str, Field(min_length=1, max_length=256)]
FunctionName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
# A data: URI of a 5 MiB image is ~7 MB of base64; the body limit of the edge applies too.
MAX_IMAGE_URL = 7_000_000
# No whitespace after https://, by both readings of `\s`: JSON Schema's (ECMA-262, which the fuzzer and
# generated clients use: no U+0085) and pydantic-core's (Rust, Unicode White_Space: no U+FEFF).
_IMAGE_URL = r"^(https://[^\s\x85\uFEFF]+|data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=]+)$"


class _Strict(BaseModel):
    # strict: the JSON types as sent (`true` is not the integer 1, "1" not a number), as OpenAI checks them
    model_config = ConfigDict(extra="forbid", strict=True)


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


class RefusalPart(_Strict):
    """A `refusal` content part of an earlier assistant turn (its text is what the assistant said)."""

    type: Literal["refusal"]
    refusal: str = Field(max_length=1_000_000)


AssistantPart = Annotated[TextPart | RefusalPart, Field(discriminator="type")]
# tool_choice forms of OpenAI's API that no route here serves, and what to send instead.
NOT_SERVED_CHOICES = {"allowed_tools": "send the allowed tools as `tools`, with tool_choice auto or required",
                     "custom": "custom tools are not served: name a function tool"}
# Content part types of OpenAI's API that no route here serves: a 400 names the type and says why.
NOT_SERVED_PARTS = {"file": "file inputs are not served: send the text, or images as image_url parts",
                    "input_audio": "audio input is not served"}


class FunctionCall(_Strict):
    """The function of a tool call: name and JSON-encoded arguments (kept as sent, even if not JSON)."""

    name: FunctionName
    arguments: str = Field(max_length=1_000_000)


class ToolCall(_Strict):
    """A tool call made by the assistant in an earlier turn."""

    id: str = Field(min_length=1, max_length=256)
    type: Literal["function"]
    function: FunctionCall


# A list of parts has at least one, as OpenAI's schema says (`minItems: 1`); a string may be empty.
TextContent = Annotated[str | Annotated[list[TextPart], Field(min_length=1)], Field(max_length=1_000_000)]
AssistantContent = Annotated[str | Annotated[list[AssistantPart], Field(min_length=1)], Field(max_length=1_000_000)]
UserContent = Annotated[str | Annotated[list[ContentPart], Field(min_length=1)], Field(max_length=1_000_000)]


class _Message(_Strict):
    name: str | None = Field(None, max_length=128)

    @property
    def text(self) -> str:
        """The text of the message content, image parts left out."""
        content = getattr(self, "content", None)
        if content is None or isinstance(content, str):
            return content or ""
        return "".join(p.text if isinstance(p, TextPart) else p.refusal for p in content
                       if isinstance(p, TextPart | RefusalPart))


class SystemMessage(_Message):
    """A system or developer instruction."""

    role: Literal["system", "developer"]
    content: TextContent


class UserMessage(_Message):
    """A user turn: text, and `image_url` parts."""

    role: Literal["user"]
    content: UserContent


class AssistantMessage(_Message):
    """An earlier assistant turn: text, tool calls, or both; or a refusal.

    The fields of OpenAI's assistant message that a reply carries are taken back as the SDKs send them
    (`messages.append(completion.choices[0].message)`): `refusal` (its text is what the assistant said),
    and `audio` and `function_call`, which a reply of this gateway never sets, only as null.
    """

    role: Literal["assistant"]
    content: AssistantContent | None = None
    tool_calls: list[ToolCall] | None = Field(None, min_length=1, max_length=128)
    refusal: str | None = Field(None, max_length=1_000_000)
    audio: None = Field(None, description="Only null: this gateway serves no audio.")
    function_call: None = Field(None, description="Only null: send `tool_calls`.")


class ToolResultMessage(_Message):
    """The result of one tool call, answering `tool_call_id`."""

    role: Literal["tool"]
    content: TextContent
    tool_call_id: str = Field(min_length=1, max_length=256)


ChatMessage = Annotated[SystemMessage | UserMessage | AssistantMessage | ToolResultMessage,
                        Field(discriminator="role")]


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


class TextFormat(_Strict):
    """`response_format: {"type": "text"}` (the default)."""

    type: Literal["text"]


class JsonObjectFormat(_Strict):
    """`response_format: {"type": "json_object"}` (JSON mode)."""

    type: Literal["json_object"]


class JsonSchemaResponseFormat(_Strict):
    """`response_format: {"type": "json_schema", "json_schema": {...}}` (structured outputs)."""

    type: Literal["json_schema"]
    json_schema: JsonSchemaFormat


ResponseFormat = Annotated[TextFormat | JsonObjectFormat | JsonSchemaResponseFormat, Field(discriminator="type")]


class StreamOptions(_Strict):
    """OpenAI `stream_options`."""

    include_usage: StrictBool = False  # OpenAI's default: `stream_options: {}` adds no usage chunk
    # OpenAI pads stream deltas with an `obfuscation` field unless this is false; this gateway's deltas never
    # carry one, so only false (what it does) is accepted.
    include_obfuscation: JsonFalse | None = None


class PromptCacheOptions(_Strict):
    """OpenAI `prompt_cache_options`."""

    mode: Literal["implicit", "explicit"] | None = None
    ttl: Literal["30m"] | None = None


Bias = Annotated[int, Field(strict=False, ge=-100, le=100), BeforeValidator(json_integer)]

# OpenAI chat parameters the gateway knows and does not serve: a 400 names the parameter and says why
# (a parameter it does not know at all is "unrecognized"). The route's reply would need a shape LangChain's
# chat models do not produce (audio, moderation results) or a feature beyond the chat model.
NOT_SERVED = {
    "audio": "audio output is not served", "modalities": "only text output is served",
    "functions": "deprecated by OpenAI: send `tools`", "function_call": "deprecated by OpenAI: send `tool_choice`",
    "prediction": "predicted outputs are not served", "web_search_options": "web search is not served",
    "moderation": "moderated completions are not served",
}

# A parameter -> the one it needs set, and to what (a JSON schema; the first: the name the error gives it):
# without it the parameter would be silently unused, and OpenAI refuses it too.
_DEPENDENT: dict[str, tuple[str, str, dict[str, Any]]] = {
    "tool_choice": ("tools", "tools", {"type": "array"}),
    "parallel_tool_calls": ("tools", "tools", {"type": "array"}),
    "top_logprobs": ("logprobs", "logprobs: true", {"const": True}),
}


class ChatCompletionRequest(_Strict):
    """`POST /v1/chat/completions`."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"allOf": [
        # stream_options only with stream: true (OpenAI refuses it otherwise); the _DEPENDENT pairs alike.
        {"if": {"properties": {"stream_options": {"type": "object"}}, "required": ["stream_options"]},
         "then": {"properties": {"stream": {"const": True}}, "required": ["stream"]}},
        *({"if": {"properties": {name: {"not": {"type": "null"}}}, "required": [name]},
           "then": {"properties": {needed: value}, "required": [needed]}}
          for name, (needed, _, value) in _DEPENDENT.items())]})

    model: NonEmptyStr | None = None
    # Whether one must be a user turn is the provider's rule (ProviderAdapter.needs_user_turn; the schema says it).
    messages: list[ChatMessage] = Field(min_length=1, max_length=1024)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: PositiveInt | None = None
    max_completion_tokens: PositiveInt | None = None
    stop: StopWord | Annotated[list[StopWord], Field(min_length=1, max_length=4)] | None = None
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    tools: list[Tool] | None = Field(None, min_length=1, max_length=128)
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: StrictBool | None = None
    response_format: ResponseFormat | None = None
    # One choice per request: LangChain chat models return a single generation (the schema says maximum 1).
    n: Annotated[int, Field(strict=False, ge=1, json_schema_extra={"maximum": 1}),
                 BeforeValidator(json_integer)] | None = Field(
        None, description="Only 1 is supported.")
    seed: JsonInt | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    logit_bias: dict[str, Bias] | None = Field(None, max_length=300)
    logprobs: StrictBool | None = None
    top_logprobs: Annotated[int, Field(strict=False, ge=0, le=20), BeforeValidator(json_integer)] | None = None
    user: str | None = Field(None, max_length=256)
    metadata: dict[str, Annotated[str, Field(max_length=512)]] | None = Field(None, max_length=16)
    store: StrictBool | None = None
    service_tier: Literal["auto", "default", "flex", "scale", "priority", "fast"] | None = None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = None
    verbosity: Literal["low", "medium", "high"] | None = None
    safety_identifier: str | None = Field(None, min_length=1, max_length=128)
    prompt_cache_key: str | None = Field(None, min_length=1, max_length=1024)
    prompt_cache_retention: Literal["in_memory", "24h"] | None = None
    prompt_cache_options: PromptCacheOptions | None = None
    # OpenAI's parameters this gateway does not serve (NOT_SERVED): `null`, as a client may send for "not set", is
    # taken as not set; any value is a 400 naming the parameter and why.
    audio: None = None
    modalities: None = None
    functions: None = None
    function_call: None = None
    prediction: None = None
    web_search_options: None = None
    moderation: None = None

    @field_validator(*NOT_SERVED, mode="before")
    @classmethod
    def _not_served(cls, value: Any, info: ValidationInfo) -> None:
        if value is not None:
            assert info.field_name is not None
            raise not_served(info.field_name, NOT_SERVED[info.field_name])

    @field_validator("stop")
    @classmethod
    def _stop_list(cls, value: str | list[str] | None) -> list[str] | None:
        if value is None:
            return None
        return [value] if isinstance(value, str) else value

    @field_validator("tools", mode="before")
    @classmethod
    def _function_tools_only(cls, value: Any) -> Any:
        for i, tool in enumerate(value if isinstance(value, list) else ()):
            if isinstance(tool, dict) and tool.get("type") == "custom":
                raise not_served(f"tools.{i}.type", "'custom' tools, with free-form input, are not served: "
                                                    "send function tools")
        return value

    @field_validator("tool_choice", mode="before")
    @classmethod
    def _served_choice_forms(cls, value: Any) -> Any:
        form = value.get("type") if isinstance(value, dict) else None
        if isinstance(form, str) and form in NOT_SERVED_CHOICES:  # any other `type` is the model's to refuse
            raise not_served("tool_choice.type", f"the '{form}' form: {NOT_SERVED_CHOICES[form]}")
        return value

    @field_validator("tool_choice")
    @classmethod
    def _names_an_offered_tool(cls, value: Any, info: ValidationInfo) -> Any:
        # OpenAI refuses a named function that is not among `tools`; sent on, some providers would take the
        # name for a mode. (A JSON schema cannot state it: the fuzzer is told in tests/reliability.)
        tools = info.data.get("tools")
        if isinstance(value, NamedToolChoice) and tools and value.function.name not in {
                t.function.name for t in tools}:
            raise ValueError(f"names function '{value.function.name}', which is not in tools")
        return value

    @field_validator("n")
    @classmethod
    def _one_choice(cls, value: int | None) -> int | None:
        if value is not None and value > 1:  # a value OpenAI serves and this gateway does not: 400, as any such
            raise not_served("n", f"one choice per request: send {value} requests for {value} choices")
        return value

    @model_validator(mode="after")
    def _needs_tools(self) -> ChatCompletionRequest:
        # Stated in the schema too (its `allOf`), so generated clients and fuzzers know it.
        for name, (needed, said, _) in _DEPENDENT.items():
            if getattr(self, name) is not None and not getattr(self, needed):  # absent, null, [] or false
                # A model-level error's location is the body: `param` names the field (errors.error_field).
                raise PydanticCustomError("dependent_required", "sent without {needed}",
                                          {"param": name, "needed": said})
        if self.stream_options is not None and not self.stream:  # as OpenAI refuses it: never silently unused
            raise PydanticCustomError("stream_only", "only allowed when stream is true", {"param": "stream_options"})
        return self

    @model_validator(mode="after")
    def _tool_results_answer_calls(self) -> ChatCompletionRequest:
        # OpenAI's rules, in its words, which Anthropic's API has too: a tool message answers a call of the assistant
        # message before it (other answers between), and every call is answered before any other message. A
        # last assistant message's calls are the client's to run. (A JSON schema cannot say it: the fuzzer is told.)
        waiting: dict[str, int] = {}  # the open calls' ids, and the assistant message that made them
        for i, message in enumerate(self.messages):
            if isinstance(message, ToolResultMessage):
                if waiting.pop(message.tool_call_id, None) is None:
                    raise PydanticCustomError(
                        "tool_result_unanswered", "messages with role 'tool' must be a response to a preceding "
                        "message with 'tool_calls' (no open call has id '{id}')",
                        {"param": f"messages.{i}.tool_call_id", "id": message.tool_call_id})
                continue
            if waiting:
                raise PydanticCustomError(
                    "tool_calls_unanswered", "an assistant message with 'tool_calls' must be followed by tool "
                    "messages responding to each 'tool_call_id'; the following tool_call_ids did not have "
                    "response messages: {ids}", {"param": f"messages.{min(waiting.values())}.tool_calls",
                                                 "ids": ", ".join(waiting)})
            if isinstance(message, AssistantMessage):
                waiting = {call.id: i for call in message.tool_calls or ()}
        return self
