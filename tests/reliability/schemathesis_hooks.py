"""schemathesis hooks for test_schema_fuzz.py (loaded through SCHEMATHESIS_HOOKS): what a JSON schema cannot state.

- A named `tool_choice` must name one of the request's `tools` (OpenAI refuses any other, and so does the
  gateway, with a 422 naming `tool_choice`). A JSON schema cannot relate two fields of a body, so before each
  chat request is sent, a named function that is not offered is renamed to the first offered one (the
  gateway's own refusal: tests/integration/test_chat_tools.py).
- The JSON schemas a client sends (`response_format.json_schema.schema`, a tool's `parameters`) are data to
  the request's schema, but each provider's LangChain integration converts them, and refuses what it cannot
  convert (400 unsupported_schema; Anthropic also takes no top-level oneOf/anyOf in a tool). The fuzzer's
  free-form objects stand in for such schemas: they are replaced by a well-formed one (the refusals:
  tests/unit/test_gateway_chat.py).
- Cohere applies strict schema adherence to every tool of a request or to none (its `strict_tools`), so the
  gateway refuses a mix of strict and non-strict function tools there (400 naming the tool). The hook cannot
  tell which provider it fuzzes: every tool takes the first tool's `strict` (the refusal:
  tests/integration/test_chat_tools.py).
- What LangChain's integrations take of a conversation, which the hook cannot tell apart by provider, so every
  chat request is made to fit all of them (the refusals: tests/unit/test_chat_real_models.py):
  - an earlier tool call's `arguments` are a string to the schema; Anthropic's and Cohere's integrations need
    the JSON object in it (a 400 naming the arguments otherwise): arguments that are not one become `{}`;
  - langchain-mistralai sends an assistant turn's tool calls without its text (a 400 naming the content
    there): a turn with tool calls carries no text (content and refusal null);
  - langchain-anthropic sends one run of system messages (system or developer): a later one becomes a user
    message;
  - langchain-cohere sends a conversation that ends with a user message or a tool result: one that ends
    otherwise gets a user message more.
- Anthropic refuses text that is empty or only whitespace in a user or assistant message (and an empty
  message, and trailing whitespace in a final assistant one), which the gateway answers with Anthropic's own
  400 on every route (tests/integration/test_anthropic_messages.py, test_chat_params.py): such a text becomes
  "x", a final assistant text loses its trailing whitespace; so does the agent's `input` (its user message,
  schemathesis seeds 21 and 34 sent "\x1c", which Python's `str.strip`, the mock's test, takes for whitespace).
- `max_tokens` and `max_completion_tokens` together are OpenAI's 400 `invalid_parameter_combination` (the
  gateway's too): when a request sets both, `max_tokens` goes (schemathesis seed 165580141 sent 40000 beside a
  valid `max_completion_tokens`, which only the newer one's bound checked then; the refusal:
  tests/integration/test_security_caps.py).
- Effort levels differ by model (the gateway refuses a `reasoning_effort` the model's LangChain profile does not
  list, 400 naming it), which a provider's schema cannot relate to `model`: `xhigh`, which claude-opus-4-7 and
  later have but the anthropic gateway's default claude-sonnet-4-6 has not, becomes `high` (schemathesis seed
  32951280099; the refusal: tests/integration/test_chat_params.py).
- Anthropic's 4.5 and later models take `temperature` or `top_p`, not both (Anthropic's own 400 on both routes,
  as the mock answers it; `top_p: 1` asks for nothing and is not sent by the chat route): a request that sets
  both loses `top_p`, on every provider (schemathesis seed 2783324348).

- Tool calls and their answers pair up (OpenAI's rules, which the gateway checks, 422 naming the message; and
  Anthropic's, which its API and the mock check on /v1/messages): a call not answered right after goes (but the
  last message's), an answer to no open call becomes a user's message or a text block (schemathesis seed
  112535150, once the mock refused what Anthropic refuses; the refusal: tests/unit/test_chat_tool_pairing.py).
  The same for count_tokens, whose turns may be empty only as the final assistant one.

schemathesis re-validates a case a hook edits, so a request that still breaks the schema elsewhere is still
judged as such.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis

CHAT = "/v1/chat/completions"
MESSAGES = ("/v1/messages", "/v1/messages/count_tokens")


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: schemathesis.Case, kwargs: dict[str, Any]) -> None:
    body: Any = case.body  # generated JSON
    if case.operation.path == "/v1/agent" and isinstance(body, dict):
        text = body.get("input")
        if isinstance(text, str) and text and not text.strip():  # "" breaks the schema: a negative case, left so
            body["input"] = "x"  # the agent's input is its user message
        return
    if case.operation.path not in (CHAT, *MESSAGES) or not isinstance(body, dict):
        return
    messages = body.get("messages")
    if isinstance(messages, list):
        # The generator may put one message object at several places: each place gets its own, to edit alone.
        body["messages"] = messages = json.loads(json.dumps(messages))
        if case.operation.path == CHAT:
            _a_conversation_every_integration_takes(messages)  # first: a late system message becomes a user's
            _every_call_answered(messages)
        else:
            _every_tool_use_answered(messages)
        _no_blank_text(messages)
    if case.operation.path in MESSAGES:
        _anthropic_rules(body)
    if isinstance(body.get("temperature"), int | float) and isinstance(body.get("top_p"), int | float) \
            and body["top_p"] != 1:
        del body["top_p"]  # Anthropic's 4.5 and later models take one of them
    if case.operation.path != CHAT:
        return
    _well_formed_schemas(body)
    _one_strictness(body)
    if body.get("max_tokens") is not None and body.get("max_completion_tokens") is not None:
        del body["max_tokens"]
    if body.get("reasoning_effort") == "xhigh":
        body["reasoning_effort"] = "high"
    choice, tools = body.get("tool_choice"), body.get("tools")
    if not (isinstance(choice, dict) and isinstance(choice.get("function"), dict) and isinstance(tools, list)):
        return
    offered = [tool["function"]["name"] for tool in tools if isinstance(tool, dict)
               and isinstance(tool.get("function"), dict) and isinstance(tool["function"].get("name"), str)]
    if offered and choice["function"].get("name") not in offered:
        choice["function"]["name"] = offered[0]


SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}


def _well_formed_schemas(body: dict[str, Any]) -> None:
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and isinstance(fmt.get("json_schema"), dict) and "schema" in fmt["json_schema"]:
        fmt["json_schema"]["schema"] = dict(SCHEMA)
    for tool in _list(body.get("tools")):
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("parameters"), dict):
            function["parameters"] = dict(SCHEMA)


def _one_strictness(body: dict[str, Any]) -> None:
    functions = [tool["function"] for tool in _list(body.get("tools"))
                 if isinstance(tool, dict) and isinstance(tool.get("function"), dict)]
    if not functions:
        return
    strict = bool(functions[0].get("strict"))
    for function in functions:
        if bool(function.get("strict")) != strict:
            function["strict"] = strict


def _a_conversation_every_integration_takes(messages: list[Any]) -> None:
    systems = "none"  # the first run of system messages: "none" seen yet, "in" it, or "over"
    for message in messages:
        if not isinstance(message, dict):
            continue
        calls = _list(message.get("tool_calls")) if message.get("role") == "assistant" else []
        if calls:
            message.update(content=None, refusal=None)
        for call in calls:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str) \
                    and not _json_object(function["arguments"]):
                function["arguments"] = "{}"
        if message.get("role") in ("system", "developer"):
            if systems == "over":
                message["role"] = "user"
            else:
                systems = "in"
        elif systems == "in":
            systems = "over"
    last = messages[-1] if messages else None
    if isinstance(last, dict) and last.get("role") not in ("user", "tool"):
        messages.append({"role": "user", "content": "go on"})


def _every_call_answered(messages: list[Any]) -> None:
    """OpenAI's pairing: an assistant message's calls not answered by the tool messages right after it go (but the
    last message's, the client's to run); a tool message answering no open call becomes a user's."""
    for i, message in enumerate(messages[:-1]):
        if not (isinstance(message, dict) and message.get("role") == "assistant"
                and isinstance(message.get("tool_calls"), list)):
            continue
        following: list[Any] = []
        for after in messages[i + 1:]:
            if not (isinstance(after, dict) and after.get("role") == "tool"):
                break
            following.append(_id(after.get("tool_call_id")))
        kept, seen = [], set()
        for call in message["tool_calls"]:
            call_id = _id(call.get("id")) if isinstance(call, dict) else None
            if call_id is not None and call_id in following and call_id not in seen:
                kept.append(call)
                seen.add(call_id)
        message["tool_calls"] = kept or None
        if not kept:
            message["content"] = "x"
    open_calls: set[Any] = set()
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            continue
        if message.get("role") != "tool":
            calls = message.get("tool_calls") if message.get("role") == "assistant" else None
            open_calls = {_id(c.get("id")) for c in calls if isinstance(c, dict)} if isinstance(calls, list) else set()
        elif _id(message.get("tool_call_id")) in open_calls - {None}:
            open_calls.discard(message["tool_call_id"])
        else:
            messages[i] = {"role": "user", "content": message.get("content")}


def _every_tool_use_answered(messages: list[Any]) -> None:
    """Anthropic's pairing: a tool_result block answers a tool_use of the assistant message just before; one
    that does not becomes text, and a tool_use left unanswered (but in a final assistant message) becomes text."""
    for i, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        before = messages[i - 1] if i and isinstance(messages[i - 1], dict) else {}
        before_content = before.get("content") if before.get("role") == "assistant" else None
        uses = {_id(b.get("id")) for b in before_content if isinstance(b, dict) and b.get("type") == "tool_use"} \
            if isinstance(before_content, list) else set()
        for j, block in enumerate(content):
            if isinstance(block, dict) and block.get("type") == "tool_result" \
                    and _id(block.get("tool_use_id")) not in uses - {None}:
                content[j] = {"type": "text", "text": "x"}
    for i, message in enumerate(messages[:-1]):
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list) or message.get("role") != "assistant":
            continue
        after = messages[i + 1].get("content") if isinstance(messages[i + 1], dict) else None
        results = [_id(b.get("tool_use_id")) for b in after if isinstance(b, dict) and b.get("type") == "tool_result"] \
            if isinstance(after, list) else []
        for j, block in enumerate(content):
            if isinstance(block, dict) and block.get("type") == "tool_use" and _id(block.get("id")) not in results:
                content[j] = {"type": "text", "text": "x"}


def _no_blank_text(messages: list[Any]) -> None:
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            continue
        if message.get("content") == [] and not (i == len(messages) - 1 and message["role"] == "assistant"):
            message["content"] = "x"  # empty only as the final assistant turn (Anthropic's rule)
        for key in ("content", "refusal"):
            if isinstance(message.get(key), str) and not message[key].strip():
                message[key] = "x"
        content = message.get("content")
        for part in content if isinstance(content, list) else ():
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str) \
                    and not part["text"].strip():
                part["text"] = "x"
    last = messages[-1] if messages else None
    if isinstance(last, dict) and last.get("role") == "assistant":
        content = last.get("content")
        texts = [p for p in content if isinstance(p, dict) and p.get("type") == "text"] \
            if isinstance(content, list) else []
        if isinstance(content, str):
            last["content"] = content.rstrip() or "x"
        elif texts and isinstance(texts[-1].get("text"), str):
            texts[-1]["text"] = texts[-1]["text"].rstrip() or "x"


def _id(value: Any) -> str | None:
    """A tool call's id, or None: a negative case may put any JSON value there."""
    return value if isinstance(value, str) else None


THINKING_ON = ("enabled", "adaptive")


def _anthropic_rules(body: dict[str, Any]) -> None:
    """What the Messages API refuses beyond its schema (the mock too): with thinking on, sampling other than
    the default and a forced tool, a budget not below max_tokens; more than 4 cache breakpoints; a tool whose
    input schema is not an object's."""
    for key in ("system", "tools"):  # one generated object may sit at several places: each gets its own
        if isinstance(body.get(key), list):
            body[key] = json.loads(json.dumps(body[key]))
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") in THINKING_ON:
        if body.get("temperature") not in (None, 1):
            del body["temperature"]
        body.pop("top_k", None)
        if isinstance(body.get("top_p"), int | float) and body["top_p"] < 0.95:
            del body["top_p"]
        choice = body.get("tool_choice")
        if isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
            body["tool_choice"] = {"type": "auto"}
        budget, most = thinking.get("budget_tokens"), body.get("max_tokens")
        # Both may be integral floats (2048.0): JSON numbers the gateway takes as integers.
        if isinstance(budget, int | float) and isinstance(most, int | float) and most > 0 and budget >= most:
            thinking["budget_tokens"], body["max_tokens"] = 1024, max(most, 1025)  # the least budget, below the cap
    for tool in _list(body.get("tools")):
        if isinstance(tool, dict) and isinstance(tool.get("input_schema"), dict):
            tool["input_schema"]["type"] = "object"
    breakpoints = 0
    for holder in _cache_holders(body):
        if holder.get("cache_control") is not None:
            breakpoints += 1
            if breakpoints > 4:
                holder["cache_control"] = None


def _cache_holders(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every object of a Messages request that may carry a cache breakpoint, in Anthropic's order."""
    blocks = [tool for tool in _list(body.get("tools")) if isinstance(tool, dict)]
    blocks += [block for block in _list(body.get("system")) if isinstance(block, dict)]
    for message in _list(body.get("messages")):
        for block in _list(message.get("content") if isinstance(message, dict) else None):
            if isinstance(block, dict):
                blocks += [block, *(b for b in _list(block.get("content")) if isinstance(b, dict))]
    return [*blocks, body]


def _list(value: Any) -> list[Any]:
    """`value` if it is a list, else none: a negative case may put any JSON value where the schema has a list."""
    return value if isinstance(value, list) else []


def _json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text, parse_constant=_refuse), dict)
    except ValueError:
        return False


def _refuse(name: str) -> Any:
    raise ValueError(name)
