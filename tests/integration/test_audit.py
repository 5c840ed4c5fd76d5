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


def send_probes(stack: RunningStack) -> dict[str, dict[str, bool]]:
    """One plain and one streamed request per provider through the edge: {provider: {request id: streamed}}."""
    sent: dict[str, dict[str, bool]] = {}
    with httpx.Client(verify=str(stack.ca), timeout=30) as http:
        for provider, key in stack.keys.items():
            sent[provider] = {}
            for stream in (False, True):
                body = {"model": stack.model(provider), "stream": stream,
                        "messages": [{"role": "user", "content": PROBE}]}
                resp = http.post(f"{stack.url}/{provider}/v1/chat/completions", json=body,
                                 headers={"Authorization": f"Bearer {key}"})
                assert resp.status_code == 200
                sent[provider][resp.headers["x-request-id"]] = stream
    time.sleep(0.2)  # the audit record and the log line are written when the last body chunk is sent
    return sent


def test_each_request_is_audited_without_content(stack: RunningStack) -> None:
    sent = send_probes(stack)
    for provider, streams in sent.items():
        text = (stack.state_dir / "audit" / f"{provider}.log").read_text()
        assert PROBE not in text and stack.keys[provider] not in text
        records = {r["request_id"]: r for r in map(json.loads, text.splitlines())}
        for request_id, streamed in streams.items():
            rec = records[request_id]
            assert rec["provider"] == provider and rec["client_id"] == f"demo-{provider}"
            assert rec["auth_method"] == "api_key" and rec["status"] == 200 and rec["streamed"] is streamed
            assert rec["prompt_tokens"] > 0 and rec["completion_tokens"] > 0 and rec["latency_ms"] > 0
            assert rec["model"] == stack.model(provider)


def test_each_request_has_one_access_log_line_without_content(stack: RunningStack) -> None:
    """The gateway's JSON access log (its stdout, written past the LogRecord by logs.HotLogger): one line per
    request, after its last byte, with the request id the client got and none of the content or the key."""
    sent = send_probes(stack)
    for provider, streams in sent.items():
        text = (stack.state_dir / "logs" / f"gateway-{provider}.log").read_text()
        assert PROBE not in text and stack.keys[provider] not in text
        lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        access = [line for line in lines
                  if line.get("logger") == "gateway.access" and line.get("request_id") in streams]
        assert sorted(line["request_id"] for line in access) == sorted(streams), provider
        for line in access:
            assert line["level"] == "info" and line["msg"] == "request" and line["ts"].endswith("Z")
            assert (line["method"], line["path"], line["status"]) == ("POST", "/v1/chat/completions", 200)
            assert line["streamed"] is streams[line["request_id"]] and line["model"] == stack.model(provider)
            assert line["client_id"] == f"demo-{provider}" and line["auth_method"] == "api_key"
            assert line["prompt_tokens"] > 0 and line["completion_tokens"] > 0 and line["latency_ms"] > 0
            assert line["error"] is None


def test_usage_command_summarises_the_audit_logs(stack: RunningStack) -> None:
    done = subprocess.run([sys.executable, "-m", "gateway.usage", str(stack.state_dir / "audit"), "--format",
                           "json"], capture_output=True, text=True, timeout=60, check=True)
    rows = json.loads(done.stdout)["rows"]
    providers = {r["provider"] for r in rows if r["client"].startswith("demo-")}
    assert providers == set(catalogue.names())
    assert all(r["requests"] >= 1 for r in rows)
