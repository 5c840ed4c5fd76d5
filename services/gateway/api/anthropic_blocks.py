"""The content blocks of Anthropic Messages API requests: what a turn, a system prompt or a tool result holds.

Inside a block, fields beyond the core ones are allowed and forwarded unchanged: the API grows block fields
often (citations, caller, ...) and clients send back the blocks they received, so Anthropic validates those.
A block type the gateway knows and does not serve (the blocks of server tools) is a 400 saying why, through
NOT_SERVED_TAGS; one it does not know is a 400 listing the types it takes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

# Text as long as a request: Anthropic bounds only the request (32 MB) and the context window, and the gateway's
# body limit (GATEWAY_MAX_BODY_BYTES) refuses a larger body before this does.
LongText = Annotated[str, Field(max_length=32_000_000)]
# Inline files (base64 images and PDFs): Anthropic takes requests of up to 32 MB; the gateway's body limit
# (GATEWAY_MAX_BODY_BYTES, 1 MiB by default) refuses a larger body before this does.
InlineData = Annotated[str, Field(min_length=1, max_length=32_000_000)]
Url = Annotated[str, Field(min_length=1, max_length=4096)]
Id = Annotated[str, Field(min_length=1, max_length=256)]
ToolName = Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]{1,128}$")]


# strict: no coercion (`true` is not the integer 1, "5" is not 5), as the schema says.
class Strict(BaseModel):
    """A part of a request with a fixed set of fields: an unknown one is a 400 naming it."""

    model_config = ConfigDict(extra="forbid", strict=True)


class _Block(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class CacheControl(Strict):
    """Prompt-caching breakpoint."""

    type: Literal["ephemeral"]
    ttl: Literal["5m", "1h"] | None = None


class Citations(Strict):
    """Whether the answer may cite this document or search result."""

    enabled: StrictBool | None = None


class TextBlock(_Block):
    """`{"type": "text", "text": ...}`."""

    type: Literal["text"]
    text: LongText
    cache_control: CacheControl | None = None


class Base64ImageSource(Strict):
    """An inline image, base64-encoded."""

    type: Literal["base64"]
    media_type: Literal["image/jpeg", "image/png", "image/gif", "image/webp"]
    data: InlineData


class UrlImageSource(Strict):
    """An image Anthropic fetches from a URL."""

    type: Literal["url"]
    url: Url


ImageSource = Annotated[Base64ImageSource | UrlImageSource, Field(discriminator="type")]


class ImageBlock(_Block):
    """`{"type": "image", "source": ...}`."""

    type: Literal["image"]
    source: ImageSource
    cache_control: CacheControl | None = None


class PdfSource(Strict):
    """A PDF, base64-encoded."""

    type: Literal["base64"]
    media_type: Literal["application/pdf"]
    data: InlineData


class PlainTextSource(Strict):
    """A plain-text document."""

    type: Literal["text"]
    media_type: Literal["text/plain"]
    data: LongText


class PdfUrlSource(Strict):
    """A PDF Anthropic fetches from a URL."""

    type: Literal["url"]
    url: Url


class ContentSource(Strict):
    """A document made of the client's own blocks (each one a citable unit)."""

    type: Literal["content"]
    content: LongText | Annotated[list[TextBlock | ImageBlock], Field(min_length=1, max_length=1024)]


DocumentSource = Annotated[PdfSource | PlainTextSource | PdfUrlSource | ContentSource, Field(discriminator="type")]


class DocumentBlock(_Block):
    """A document (PDF or text) the model reads and may cite."""

    type: Literal["document"]
    source: DocumentSource
    title: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    context: LongText | None = None
    citations: Citations | None = None
    cache_control: CacheControl | None = None


class SearchResultBlock(_Block):
    """A search result the client's own retrieval found, which the answer may cite."""

    type: Literal["search_result"]
    source: Annotated[str, Field(min_length=1, max_length=4096)]  # where it came from: a URL, a path, an id
    title: Annotated[str, Field(max_length=4096)]
    content: Annotated[list[TextBlock], Field(max_length=1024)]
    citations: Citations | None = None
    cache_control: CacheControl | None = None


class BrowserStateBlock(_Block):
    """The state of the client's browser, in the result of a browser toolset's tool."""

    type: Literal["browser_state"]
    tabs: Annotated[list[dict[str, Any]], Field(max_length=1024)]
    state_changes: Annotated[list[dict[str, Any]], Field(max_length=1024)] | None = None
    cache_control: CacheControl | None = None


ToolResultPart = Annotated[TextBlock | ImageBlock | DocumentBlock | SearchResultBlock | BrowserStateBlock,
                           Field(discriminator="type")]


class ToolUseBlock(_Block):
    """A tool call the assistant made (sent back in the history)."""

    type: Literal["tool_use"]
    id: Id
    name: ToolName
    input: dict[str, Any]
    cache_control: CacheControl | None = None


class ToolResultBlock(_Block):
    """The result of a tool call, in a user turn."""

    type: Literal["tool_result"]
    tool_use_id: Id
    content: LongText | Annotated[list[ToolResultPart], Field(max_length=256)] | None = None
    is_error: StrictBool | None = None
    cache_control: CacheControl | None = None


class ThinkingBlock(_Block):
    """Extended thinking of an earlier assistant turn."""

    type: Literal["thinking"]
    thinking: LongText
    signature: Annotated[str, Field(max_length=100_000)]


class RedactedThinkingBlock(_Block):
    """Encrypted thinking of an earlier assistant turn."""

    type: Literal["redacted_thinking"]
    data: Annotated[str, Field(max_length=1_000_000)]


Block = Annotated[TextBlock | ImageBlock | DocumentBlock | SearchResultBlock | ToolUseBlock | ToolResultBlock
                  | ThinkingBlock | RedactedThinkingBlock, Field(discriminator="type")]

SERVER_TOOLS_WHY = ("server tools are not served (they run at Anthropic and bill per use, outside the token budgets "
                    "this gateway enforces); only client tools")
# Block and source types of the API that the gateway refuses, and why.
NOT_SERVED_TAGS = {
    **dict.fromkeys(("server_tool_use", "web_search_tool_result", "web_fetch_tool_result",
                     "code_execution_tool_result", "bash_code_execution_tool_result",
                     "text_editor_code_execution_tool_result", "tool_search_tool_result", "tool_reference",
                     "container_upload"), SERVER_TOOLS_WHY),
    "file": "the Files API is not served: send the image or document inline, or by URL",
}
