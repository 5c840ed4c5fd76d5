"""``[[mock:...]]`` directive parsing, token counting and the deterministic reply plan."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from mockllm import jsonio
from mockllm.structured import instance

OPEN = "[[mock:"
CLOSE = "]]"
FAULTS = frozenset({"404", "413", "429", "500", "503", "quota", "timeout", "stall", "malformed", "disconnect",
                    "midstream"})
_KEY = re.compile(r"([a-z_]+)=")
_TOOL_NAME = re.compile(r"[A-Za-z0-9_.:-]+")
_FINISH = re.compile(r"[A-Za-z_]{1,40}")
_PIECES = re.compile(r"\s*\S+(?:\s+$)?")  # a word with the space before it (and the text's trailing space)
# One token of tool-call arguments: a string, a number, a literal or a punctuation mark (a model writes JSON
# token by token, so max_tokens can stop it inside the arguments).
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null|[{}\[\]:,]')
_DECODER = json.JSONDecoder()

# A conversation turn: (role, text) with role in user / assistant / tool / system.
Turn = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Directives:
    """Directives found in one message."""

    fault: str | None = None
    latency_ms: int | None = None
    tool: tuple[str, dict[str, Any]] | None = None
    finish: str | None = None  # the provider's own stop reason, sent verbatim (`finish=ERROR`)
    refusal: str | None = None  # the model refuses, saying this (`refusal=I can't help with that`)
    cached: int = 0  # prompt tokens reported as read from the provider's prompt cache (`cached=3`)
    reasoning: int = 0  # completion tokens reported as reasoning (`reasoning=5`), on top of the text's


@dataclass(frozen=True, slots=True)
class Plan:
    """What the mock will answer, independent of the wire protocol."""

    text: str = ""
    tool_name: str | None = None
    tool_args: str = "{}"  # JSON text of the tool arguments
    finish: str = "stop"  # stop | stop_sequence | length | tool
    input_tokens: int = 1
    output_tokens: int = 1
    fault: str | None = None
    latency_ms: int = 0
    wire_finish: str | None = None  # overrides `finish` with the provider's own word (e.g. Cohere's ERROR)
    refusal: bool = False  # `text` is a refusal (OpenAI sends it as `refusal`, the others as text)
    cached_tokens: int = 0  # of input_tokens, read from the prompt cache
    reasoning_tokens: int = 0  # of output_tokens, spent reasoning
    stop_sequence: str | None = None  # the caller's stop sequence that ended the text (finish: stop_sequence)


def wire_finish(plan: Plan, table: dict[str, str]) -> str:
    """The stop reason as the protocol sends it: the directive's verbatim word, else the mapped one."""
    return plan.wire_finish or table[plan.finish]


def count_tokens(text: str) -> int:
    """Deterministic token count: whitespace-separated words, at least 1."""
    return max(1, len(text.split()))


def norm_fault(value: str | None) -> str | None:
    """Return a known fault name (case-insensitive) or None."""
    if not value:
        return None
    v = value.strip().lower()
    return v if v in FAULTS else None


def norm_latency(value: str | None) -> int | None:
    """Return a non-negative integer latency in ms, or None if absent/invalid."""
    if value is None:
        return None
    try:
        ms = int(float(value.strip()))
    except ValueError:
        return None
    return ms if ms >= 0 else None


def _parse_one(text: str, i: int) -> tuple[str, Any, int] | None:
    """Parse ``key=value]]`` at ``i``; return (key, value, end) or None if not a directive."""
    m = _KEY.match(text, i)
    if not m:
        return None
    key, j = m.group(1), m.end()
    if key != "tool":
        end = text.find(CLOSE, j)
        return None if end < 0 else (key, text[j:end].strip(), end + len(CLOSE))
    nm = _TOOL_NAME.match(text, j)
    if not nm:
        return None
    name, j = nm.group(0), nm.end()
    while j < len(text) and text[j].isspace():
        j += 1
    args: Any = {}
    if text.startswith("{", j):
        try:
            args, j = _DECODER.raw_decode(text, j)
        except ValueError:
            return None
        while j < len(text) and text[j].isspace():
            j += 1
    if not isinstance(args, dict) or not text.startswith(CLOSE, j):
        return None
    return key, (name, args), j + len(CLOSE)


def parse(text: str) -> tuple[str, Directives]:
    """Return ``text`` with directives removed (whitespace collapsed) and the directives."""
    if OPEN not in text:
        return text, Directives()
    out: list[str] = []
    fault: str | None = None
    latency: int | None = None
    tool: tuple[str, dict[str, Any]] | None = None
    finish: str | None = None
    counts = {"cached": 0, "reasoning": 0}
    refusal: str | None = None
    pos = 0
    while (start := text.find(OPEN, pos)) >= 0:
        out.append(text[pos:start])
        parsed = _parse_one(text, start + len(OPEN))
        if parsed is None:  # not a directive: keep it literally
            out.append(OPEN)
            pos = start + len(OPEN)
            continue
        key, value, pos = parsed
        if key == "fault":
            fault = norm_fault(value) or fault
        elif key == "latency":
            ms = norm_latency(value)
            latency = latency if ms is None else ms
        elif key == "tool":
            tool = value
        elif key == "finish" and _FINISH.fullmatch(value):
            finish = value
        elif key in counts and (n := norm_latency(value)) is not None:  # a non-negative integer
            counts[key] = n
        elif key == "refusal" and value:
            refusal = value
    out.append(text[pos:])
    return " ".join("".join(out).split()), Directives(fault, latency, tool, finish, refusal, **counts)


def truncate(text: str, max_tokens: int | None) -> tuple[str, bool]:
    """Cut ``text`` to ``max_tokens`` words; return (text, truncated). 0 leaves nothing (Anthropic's cache warming)."""
    if max_tokens is None:
        return text, False
    if max_tokens <= 0:
        return "", bool(text)
    words = text.split()
    if len(words) <= max_tokens:
        return text, False
    return " ".join(words[:max_tokens]), True


def cut_json(args: str, max_tokens: int | None) -> tuple[str, int, bool]:
    """Cut JSON text to ``max_tokens`` JSON tokens; return (text, tokens, truncated)."""
    ends = [m.end() for m in _JSON_TOKEN.finditer(args)]
    if max_tokens is None or max_tokens <= 0 or len(ends) <= max_tokens:
        return args, max(1, len(ends)), False
    return args[: ends[max_tokens - 1]], max_tokens, True


def stop_at(text: str, stops: tuple[str, ...]) -> tuple[str, str | None]:
    """Cut ``text`` before the first of ``stops`` it contains (the sequence itself is not sent); return
    (text, the sequence that stopped it, or None)."""
    found = min(((i, s) for s in stops if s and (i := text.find(s)) >= 0), default=None)
    return (text, None) if found is None else (text[: found[0]], found[1])


def split_chunks(text: str) -> list[str]:
    """Split text into stream pieces (one per word, leading whitespace kept); joins back to text."""
    return _PIECES.findall(text) or [text]


def split_json(args: str, parts: int = 3) -> list[str]:
    """Split a JSON string into up to ``parts`` non-empty pieces for tool-call deltas."""
    size = max(1, -(-len(args) // parts))
    return [args[i : i + size] for i in range(0, len(args), size)] or [args]


def plan_reply(turns: list[Turn], tool_names: set[str], max_tokens: int | None, *,
               tool_choice: str | None = None, tool_schemas: dict[str, Any] | None = None,
               output_schema: dict[str, Any] | None = None, json_mode: bool = False,
               cut_tool_args: bool = False, stop: tuple[str, ...] = ()) -> Plan:
    """Decide the reply for a normalized conversation (directives from the last user turn).

    ``tool_choice`` is None (auto), ``"none"``, ``"any"`` or a tool name; a forced call with no
    ``tool`` directive gets arguments synthesized from the tool's schema. ``output_schema`` /
    ``json_mode`` make the text a JSON document (structured output). With ``cut_tool_args`` a tool call's
    arguments stop where ``max_tokens`` runs out (finish ``length``), as OpenAI's models stop. A text reply
    ends before the first of the ``stop`` sequences it holds (finish ``stop_sequence``), unless
    ``max_tokens`` runs out first.
    """
    schemas = tool_schemas or {}
    names = tool_names | set(schemas)
    last_user = max((i for i, (role, _) in enumerate(turns) if role == "user"), default=-1)
    clean, d = parse(turns[last_user][1]) if last_user >= 0 else ("", Directives())
    input_tokens = max(1, sum(len(t.split()) for _, t in turns))
    tool_after = any(role == "tool" for role, _ in turns[last_user + 1 :])
    latency = d.latency_ms or 0
    cached = min(d.cached, input_tokens)
    call = _tool_call(d, names, schemas, tool_choice)
    if turns and turns[-1][0] == "tool":
        text = f"Tool result: {turns[-1][1]}".strip()
    elif call and not tool_after:
        args, tokens, cut = cut_json(jsonio.dumps(call[1]).decode(), max_tokens if cut_tool_args else None)
        return Plan(
            tool_name=call[0],
            tool_args=args,
            finish="length" if cut else "tool",
            input_tokens=input_tokens,
            output_tokens=tokens + d.reasoning,
            fault=d.fault,
            latency_ms=latency,
            wire_finish=d.finish,
            cached_tokens=cached,
            reasoning_tokens=d.reasoning,
        )
    elif d.refusal:
        text = d.refusal
    elif output_schema is not None:
        text = jsonio.dumps(instance(output_schema)).decode()
    elif json_mode:
        text = jsonio.dumps({"echo": clean}).decode()
    else:
        text = f"Echo: {clean}".strip()
    text, stopped = stop_at(text, stop)
    text, cut = truncate(text, max_tokens)
    return Plan(
        text=text,
        finish="length" if cut else "stop_sequence" if stopped else "stop",
        stop_sequence=None if cut else stopped,
        input_tokens=input_tokens,
        output_tokens=(count_tokens(text) + d.reasoning) if max_tokens != 0 else 0,  # 0: nothing generated
        fault=d.fault,
        latency_ms=latency,
        wire_finish=d.finish,
        cached_tokens=cached,
        reasoning_tokens=d.reasoning,
        refusal=bool(d.refusal) and text == d.refusal,
    )


def _tool_call(d: Directives, names: set[str], schemas: dict[str, Any],
               choice: str | None) -> tuple[str, dict[str, Any]] | None:
    """The (name, arguments) to call: the directive's if allowed, else the forced tool's."""
    if choice == "none":
        return None
    if d.tool and d.tool[0] in names and choice in (None, "any", d.tool[0]):
        return d.tool
    forced = next(iter(schemas or sorted(names)), None) if choice == "any" else choice
    if forced is None or forced not in names:
        return None
    args = instance(schemas.get(forced) or {"type": "object"})
    return forced, args if isinstance(args, dict) else {}


def content_text(content: Any) -> str:
    """Flatten message content (string or list of typed parts) to plain text."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return _part_text(content)
    if isinstance(content, list):
        return " ".join(t for t in (_part_text(p) for p in content) if t)
    return str(content)


def _part_text(part: Any) -> str:
    if isinstance(part, str):
        return part
    if not isinstance(part, dict):
        return ""
    if isinstance(part.get("text"), str):
        return part["text"]
    if _is_image(part):
        return "[image]"
    if "content" in part:  # e.g. Anthropic tool_result
        return content_text(part["content"])
    doc = part.get("document")
    if isinstance(doc, dict):  # Cohere document tool content
        data = doc.get("data")
        if isinstance(data, dict) and len(data) == 1:
            return str(next(iter(data.values())))
        return data if isinstance(data, str) else jsonio.dumps(data).decode()
    return ""


def _is_image(part: dict[str, Any]) -> bool:
    """An image part in OpenAI / Cohere (``image_url``) or Anthropic (``image`` + source) form."""
    if part.get("type") == "image_url":
        ref = part.get("image_url")
        url = ref.get("url") if isinstance(ref, dict) else ref
        return isinstance(url, str) and url.startswith(("https://", "data:image/"))
    source = part.get("source")
    if part.get("type") == "image" and isinstance(source, dict):
        if source.get("type") == "base64":
            return isinstance(source.get("data"), str) and str(source.get("media_type", "")).startswith("image/")
        return source.get("type") == "url" and isinstance(source.get("url"), str)
    return False
