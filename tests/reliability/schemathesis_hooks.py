"""schemathesis hooks for test_schema_fuzz.py (loaded through SCHEMATHESIS_HOOKS): what a JSON schema cannot state.

A named `tool_choice` must name one of the request's `tools` (OpenAI refuses any other, and so does the
gateway, with a 422 naming `tool_choice`). A JSON schema cannot relate two fields of a body, so before each
chat request is sent, a named function that is not offered is renamed to the first offered one. schemathesis
re-validates a case a hook edits, so a request that still breaks the schema elsewhere is still judged as such.
The gateway's own refusal is tested in tests/integration/test_chat_tools.py.
"""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: schemathesis.Case, kwargs: dict[str, Any]) -> None:
    body: Any = case.body  # generated JSON
    if case.operation.path != "/v1/chat/completions" or not isinstance(body, dict):
        return
    choice, tools = body.get("tool_choice"), body.get("tools")
    if not (isinstance(choice, dict) and isinstance(choice.get("function"), dict) and isinstance(tools, list)):
        return
    offered = [tool["function"]["name"] for tool in tools if isinstance(tool, dict)
               and isinstance(tool.get("function"), dict) and isinstance(tool["function"].get("name"), str)]
    if offered and choice["function"].get("name") not in offered:
        choice["function"]["name"] = offered[0]
