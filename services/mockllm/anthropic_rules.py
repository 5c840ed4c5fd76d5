"""What the Anthropic Messages API refuses in a request body, refused here in its own words.

Each rule is one the real API enforces (the SDK's docstrings, Anthropic's docs, or its error messages as seen in
the wild), so a request the mock accepts is one production accepts too.
"""

from __future__ import annotations

from typing import Any

from mockllm.engine import BadRequest

_DOCS = "Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
# With interleaved thinking the budget spans every thinking block of the turn, so it may exceed max_tokens.
INTERLEAVED_THINKING = "interleaved-thinking-2025-05-14"
MAX_CACHE_BREAKPOINTS = 4


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _blocks(content: Any) -> list[dict[str, Any]]:
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def check_max_tokens(max_tokens: int) -> None:
    """0 fills the prompt cache without a reply (the SDK's docstring); below it the API refuses."""
    if max_tokens < 0:
        raise BadRequest("max_tokens: Input should be greater than or equal to 0")


def check_thinking(body: dict[str, Any], max_tokens: int, betas: frozenset[str]) -> None:
    """Thinking (manual `enabled` or `adaptive`) takes no sampling change but a top_p of 0.95 to 1, no forced
    tool call, and a manual budget of at least 1,024 below max_tokens (interleaved thinking lifts the latter)."""
    thinking = body.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if not isinstance(thinking, dict) or kind not in ("enabled", "adaptive"):
        return
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or isinstance(budget, bool):
            raise BadRequest("thinking.enabled.budget_tokens: Field required")
        if budget < 1024:
            raise BadRequest("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
        # max_tokens 0 generates nothing (a cache pre-warm), so there is no budget for it to bound.
        if budget >= max_tokens and max_tokens != 0 and INTERLEAVED_THINKING not in betas:
            raise BadRequest(f"`max_tokens` must be greater than `thinking.budget_tokens`. {_DOCS}"
                             "#max-tokens-and-context-window-size")
    temperature, top_p = body.get("temperature"), body.get("top_p")
    if _number(temperature) and temperature != 1:
        raise BadRequest("temperature may only be set to 1 when thinking is enabled or in adaptive mode")
    if body.get("top_k") is not None:
        raise BadRequest(f"`top_k` must be unset when thinking is enabled. {_DOCS}"
                         "#important-considerations-when-using-extended-thinking")
    if isinstance(top_p, int | float) and not isinstance(top_p, bool) and top_p < 0.95:
        raise BadRequest("`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled")
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
        raise BadRequest("Thinking may not be enabled when tool_choice forces tool use.")


def check_tool_pairs(messages: list[dict[str, Any]]) -> None:
    """Each `tool_result` answers a `tool_use` of the assistant message just before it, and each `tool_use` (but
    in the final message) is answered by `tool_result` blocks opening the next message."""
    for i, m in enumerate(messages):
        content = m.get("content")
        if m.get("role") == "user" and isinstance(content, list):
            before = messages[i - 1] if i else {}
            asked = {b.get("id") for b in _blocks(before.get("content")) if b.get("type") == "tool_use"} if (
                before.get("role") == "assistant") else set()
            for j, b in enumerate(content):
                if isinstance(b, dict) and b.get("type") == "tool_result" and b.get("tool_use_id") not in asked:
                    raise BadRequest(f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` "
                                     f"blocks: {b.get('tool_use_id')}. Each `tool_result` block must have a "
                                     "corresponding `tool_use` block in the previous message.")
        elif m.get("role") == "assistant" and i < len(messages) - 1:
            ids = [str(b.get("id")) for b in _blocks(content) if b.get("type") == "tool_use"]
            after = messages[i + 1]
            opening = after.get("content") if after.get("role") == "user" else None
            answered: set[Any] = set()
            for b in opening if isinstance(opening, list) else []:  # the tool_result blocks the next message opens
                if not isinstance(b, dict) or b.get("type") != "tool_result":
                    break
                answered.add(b.get("tool_use_id"))
            missing = [x for x in ids if x not in answered]
            if missing:
                raise BadRequest(f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately "
                                 f"after: {', '.join(missing)}. Each `tool_use` block must have a corresponding "
                                 "`tool_result` block in the next message.")


def check_cache_control(body: dict[str, Any]) -> None:
    """At most 4 cache breakpoints: blocks of the system prompt, tools, message content (and tool results'
    content) carrying `cache_control`, and the request's own top-level one (automatic caching)."""

    def marked(items: Any) -> int:
        return sum(b.get("cache_control") is not None for b in _blocks(items))

    found = int(body.get("cache_control") is not None) + marked(body.get("system")) + marked(body.get("tools"))
    for m in body.get("messages") or []:
        blocks = _blocks(m.get("content")) if isinstance(m, dict) else []
        found += marked(blocks) + sum(marked(b.get("content")) for b in blocks if b.get("type") == "tool_result")
    if found > MAX_CACHE_BREAKPOINTS:
        raise BadRequest(f"A maximum of {MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. "
                         f"Found {found}.")


def check_tools(tools: list[Any]) -> None:
    """A custom tool (no server-tool `type`) needs an object schema, as Anthropic says."""
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type", "custom") != "custom":
            continue
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            raise BadRequest(f"tools.{i}.custom.input_schema: Field required")
        if "type" not in schema:
            raise BadRequest(f"tools.{i}.custom.input_schema.type: Field required")
        if schema["type"] != "object":
            raise BadRequest(f"tools.{i}.custom.input_schema.type: Input should be 'object'")
