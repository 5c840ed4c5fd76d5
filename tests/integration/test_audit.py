"""Usage audit through the edge: one JSON record per LLM request, no content, summarised by gateway.usage."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest

import catalogue
from tests.support.stack import RunningStack

pytestmark = pytest.mark.local_stack
PROBE = "audit-probe-words-that-must-not-be-logged"


def test_each_request_is_audited_without_content(stack: RunningStack) -> None:
    sent: dict[str, list[str]] = {}
    with httpx.Client(verify=str(stack.ca), timeout=30) as http:
        for provider, key in stack.keys.items():
            sent[provider] = []
            for stream in (False, True):
                body = {"model": stack.model(provider), "stream": stream,
                        "messages": [{"role": "user", "content": PROBE}]}
                resp = http.post(f"{stack.url}/{provider}/v1/chat/completions", json=body,
                                 headers={"Authorization": f"Bearer {key}"})
                assert resp.status_code == 200
                sent[provider].append(resp.headers["x-request-id"])
    time.sleep(0.2)  # the record is written when the last body chunk is sent
    for provider, request_ids in sent.items():
        text = (stack.state_dir / "audit" / f"{provider}.log").read_text()
        assert PROBE not in text and stack.keys[provider] not in text
        records = {r["request_id"]: r for r in map(json.loads, text.splitlines())}
        for request_id, streamed in zip(request_ids, (False, True), strict=True):
            rec = records[request_id]
            assert rec["provider"] == provider and rec["client_id"] == f"demo-{provider}"
            assert rec["auth_method"] == "api_key" and rec["status"] == 200 and rec["streamed"] is streamed
            assert rec["prompt_tokens"] > 0 and rec["completion_tokens"] > 0 and rec["latency_ms"] > 0
            assert rec["model"] == stack.model(provider)


def test_usage_command_summarises_the_audit_logs(stack: RunningStack) -> None:
    done = subprocess.run([sys.executable, "-m", "gateway.usage", str(stack.state_dir / "audit"), "--format",
                           "json"], capture_output=True, text=True, timeout=60, check=True)
    rows = json.loads(done.stdout)["rows"]
    providers = {r["provider"] for r in rows if r["client"].startswith("demo-")}
    assert providers == set(catalogue.names())
    assert all(r["requests"] >= 1 for r in rows)
