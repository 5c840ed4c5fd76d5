"""The tools of Anthropic Messages API requests: the client's own, and the ones Anthropic defines for clients to run.

Served: custom tools (a name and a JSON schema), Anthropic's client-executed tools (bash, the text editor,
memory) and toolsets (computer, browser), all run by the client that sent them. Not served: server tools
(web search, web fetch, code execution, tool search), which run at Anthropic; a request naming one is a 400
saying so. A tool's `type` picks its model (none, or "custom": a custom tool).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, StrictBool, Tag

from gateway.api.anthropic_blocks import SERVER_TOOLS_WHY, CacheControl, Strict, ToolName
from gateway.api.json_types import PositiveInt

# Who may call a tool: the model directly. The other callers Anthropic names are its code execution tools.
Callers = Annotated[list[Literal["direct"]], Field(min_length=1, max_length=4)]
Examples = Annotated[list[dict[str, Any]], Field(max_length=64)]


class _ClientTool(Strict):
    """What every tool the client runs may carry besides its definition."""

    cache_control: CacheControl | None = None
    allowed_callers: Callers | None = None
    input_examples: Examples | None = None
    strict: StrictBool | None = None  # the model's calls follow the schema exactly


class CustomTool(_ClientTool):
    """A client tool (name, description, JSON schema of its input)."""

    type: Literal["custom"] | None = None
    name: ToolName
    description: Annotated[str, Field(max_length=100_000)] | None = None
    input_schema: dict[str, Any]
    eager_input_streaming: StrictBool | None = None


class BashTool(_ClientTool):
    """Anthropic's bash tool; the client runs the commands."""

    type: Literal["bash_20250124"]
    name: Literal["bash"]


class TextEditorTool(_ClientTool):
    """Anthropic's first text editor tool; the client edits the files."""

    type: Literal["text_editor_20250124"]
    name: Literal["str_replace_editor"]


class TextEditorTool2(_ClientTool):
    """Anthropic's text editor tool of 2025-04-29; the client edits the files."""

    type: Literal["text_editor_20250429"]
    name: Literal["str_replace_based_edit_tool"]


class TextEditorTool3(_ClientTool):
    """Anthropic's text editor tool of 2025-07-28, with a bound on the characters of a file view."""

    type: Literal["text_editor_20250728"]
    name: Literal["str_replace_based_edit_tool"]
    max_characters: PositiveInt | None = None


class MemoryTool(_ClientTool):
    """Anthropic's memory tool; the client stores the memory."""

    type: Literal["memory_20250818"]
    name: Literal["memory"]


class _Toolset(Strict):
    """A family of tools the client runs; `configs` (per-member overrides) is forwarded for Anthropic to check."""

    configs: dict[str, Any] | None = None
    cache_control: CacheControl | None = None


class ComputerToolset(_Toolset):
    """Anthropic's computer toolset; the client acts on its own screen."""

    type: Literal["computer_toolset_20260801"]


class BrowserToolset(_Toolset):
    """Anthropic's browser toolset; the client acts in its own browser."""

    type: Literal["browser_toolset_20260801"]


_SERVER_TOOLS = ("web_search_", "web_fetch_", "code_execution_", "tool_search_tool_")


def kind(tool: Any) -> str:
    """A tool's union tag: its `type` if a string, else "custom" (whose model then says what is wrong)."""
    value = tool.get("type") if isinstance(tool, dict) else getattr(tool, "type", None)
    return value if isinstance(value, str) else "custom"


def not_served(tool_type: str) -> str | None:
    """Why a tool type of the API is not served here; None if it is not one the gateway refuses."""
    return SERVER_TOOLS_WHY if tool_type.startswith(_SERVER_TOOLS) else None


AnyTool = Annotated[
    Annotated[CustomTool, Tag("custom")] | Annotated[BashTool, Tag("bash_20250124")]
    | Annotated[TextEditorTool, Tag("text_editor_20250124")] | Annotated[TextEditorTool2, Tag("text_editor_20250429")]
    | Annotated[TextEditorTool3, Tag("text_editor_20250728")] | Annotated[MemoryTool, Tag("memory_20250818")]
    | Annotated[ComputerToolset, Tag("computer_toolset_20260801")]
    | Annotated[BrowserToolset, Tag("browser_toolset_20260801")],
    Discriminator(kind)]
Tools = Annotated[list[AnyTool], Field(max_length=128)]
# Tool fields of the API that the gateway refuses, and why.
NOT_SERVED_FIELDS = {"defer_loading": "deferred tools are found by a tool search tool, a server tool this gateway "
                                      "does not serve"}


class ToolChoiceAuto(Strict):
    """The model decides whether to use a tool."""

    type: Literal["auto"]
    disable_parallel_tool_use: StrictBool | None = None


class ToolChoiceAny(Strict):
    """The model uses one of the tools."""

    type: Literal["any"]
    disable_parallel_tool_use: StrictBool | None = None


class ToolChoiceTool(Strict):
    """The model uses the tool named (a name is required: without one the forced call is lost)."""

    type: Literal["tool"]
    name: ToolName
    disable_parallel_tool_use: StrictBool | None = None


class ToolChoiceNone(Strict):
    """The model uses no tool."""

    type: Literal["none"]


# One model per type, as the SDK's ToolChoiceParam: a field another type has is a 400 naming it.
ToolChoice = Annotated[ToolChoiceAuto | ToolChoiceAny | ToolChoiceTool | ToolChoiceNone, Field(discriminator="type")]
