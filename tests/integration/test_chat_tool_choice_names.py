"""`tool_choice` through nginx when a tool is named like a mode: a function may be called `none`, `auto`, `any`,
`required`, `NONE` or `REQUIRED`, and neither the mode nor the named function may be taken for the other on the
way to the provider (langchain-openai and langchain-mistralai read a mode string that is also a tool's name as
that tool; langchain-anthropic reads a tool named `any` or `auto` as the mode); and `none` beside
`parallel_tool_calls`, which Anthropic's `none` has no field for."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import catalogue
from tests.support.stack import RunningStack

pytestmark = [pytest.mark.integration, pytest.mark.local_stack]  # reads the mock's last request

NAMES = ["none", "auto", "any", "required", "NONE", "REQUIRED", "g"]
TOOLS = [{"type": "function", "function": {"name": n, "parameters": {"type": "object", "properties": {}}}}
         for n in NAMES]
OPENAI_MODES = {"auto": "auto", "none": "none", "required": "required"}
MODES: dict[str, dict[str, Any]] = {  # the provider's own word for each mode (None: left out, its default)
    "openai": OPENAI_MODES, "mistral": {"auto": "auto", "none": "none", "required": "any"},
    "anthropic": {"auto": {"type": "auto"}, "none": {"type": "none"}, "required": {"type": "any"}},
    "cohere": {"auto": None, "none": "NONE", "required": "REQUIRED"},
}
MODES.update({p.name: OPENAI_MODES for p in catalogue.providers() if p.kind == "openai-compatible"})


def _sent(stack: RunningStack, http: httpx.Client, provider: str, choice: Any) -> dict[str, Any]:
    body = {"model": stack.model(provider), "messages": [{"role": "user", "content": "hi"}], "tools": TOOLS,
            "tool_choice": choice}
    resp = http.post(f"{stack.url}/{provider}/v1/chat/completions", json=body,
                     headers={"Authorization": f"Bearer {stack.keys[provider]}"})
    assert resp.status_code == 200, resp.text
    return http.get(f"{stack.mock_url}/_mock/stats").json()[provider]["last_params"]


def _tool_names(sent: dict[str, Any]) -> list[str]:
    return [t["name"] if "name" in t else t["function"]["name"] for t in sent["tools"]]


@pytest.mark.parametrize("mode", ["auto", "none", "required"])
def test_a_mode_stays_a_mode_beside_a_tool_of_that_name(stack: RunningStack, http: httpx.Client, provider: str,
                                                        mode: str) -> None:
    sent = _sent(stack, http, provider, mode)
    assert sent.get("tool_choice") == MODES[provider][mode]
    assert _tool_names(sent) == NAMES  # every tool offered


@pytest.mark.parametrize("name", ["none", "auto", "any", "required", "NONE", "REQUIRED"])
def test_a_named_function_stays_that_function_whatever_its_name(stack: RunningStack, http: httpx.Client,
                                                                provider: str, name: str) -> None:
    sent = _sent(stack, http, provider, {"type": "function", "function": {"name": name}})
    if provider == "anthropic":
        assert sent["tool_choice"] == {"type": "tool", "name": name}
    elif provider == "cohere":  # only that tool offered, and a call required
        assert (sent["tool_choice"], _tool_names(sent)) == ("REQUIRED", [name])
    else:
        assert sent["tool_choice"] == {"type": "function", "function": {"name": name}}


@pytest.mark.parametrize("parallel", [False, True])
def test_none_beside_parallel_tool_calls_is_the_providers_none(stack: RunningStack, http: httpx.Client, provider: str,
                                                                 parallel: bool) -> None:
    # OpenAI takes both; with no call to make, parallelism means nothing (Anthropic's `none` has no field for it).
    body = {"model": stack.model(provider), "messages": [{"role": "user", "content": "hi"}], "tools": TOOLS,
            "tool_choice": "none", "parallel_tool_calls": parallel}
    resp = http.post(f"{stack.url}/{provider}/v1/chat/completions", json=body,
                     headers={"Authorization": f"Bearer {stack.keys[provider]}"})
    assert resp.status_code == 200, resp.text
    sent = http.get(f"{stack.mock_url}/_mock/stats").json()[provider]["last_params"]
    assert sent["tool_choice"] == MODES[provider]["none"]
