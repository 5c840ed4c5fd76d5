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

schemathesis re-validates a case a hook edits, so a request that still breaks the schema elsewhere is still
judged as such.
"""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: schemathesis.Case, kwargs: dict[str, Any]) -> None:
    body: Any = case.body  # generated JSON
    if case.operation.path != "/v1/chat/completions" or not isinstance(body, dict):
        return
    _well_formed_schemas(body)
    _one_strictness(body)
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
    for tool in body.get("tools") or ():
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("parameters"), dict):
            function["parameters"] = dict(SCHEMA)


def _one_strictness(body: dict[str, Any]) -> None:
    functions = [tool["function"] for tool in body.get("tools") or ()
                 if isinstance(tool, dict) and isinstance(tool.get("function"), dict)]
    if not functions:
        return
    strict = bool(functions[0].get("strict"))
    for function in functions:
        if bool(function.get("strict")) != strict:
            function["strict"] = strict
