"""schemathesis (4.x CLI) against each gateway's own OpenAPI schema, with a valid client key.

At least 1,000 generated cases in total; every response-side check must hold: no server error
(5xx other than the documented upstream 502/503/504), documented status codes, content types,
headers and bodies, and no endpoint that ignores missing credentials. Input-side findings
(ST2xx: the schema is looser or stricter than the validation) are recorded in the report for
the schema's owner; RELIABILITY_SCHEMA_STRICT=1 makes them fail too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import catalogue
from gateway.providers import adapter_class
from tests.reliability.conftest import REPORT, show
from tests.support.stack import RunningStack

pytestmark = [pytest.mark.integration, pytest.mark.local_stack]

PROVIDERS = catalogue.names()
CONFIG = Path(__file__).with_name("schemathesis.toml")
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")  # what the schema cannot state (a tool_choice's name)
EXAMPLES = int(os.environ.get("RELIABILITY_SCHEMA_EXAMPLES", "150"))  # per operation
SEED = os.environ.get("RELIABILITY_SCHEMA_SEED", "20260101")
MIN_CASES = 1000
# Response-side failure codes (`st explain CODE`): server errors, undocumented status, content type,
# headers, body schema, unparsable body, ignored authentication.
HARD = {"ST101", "ST102", "ST103", "ST104", "ST105", "ST106", "ST107", "ST108", "ST109", "ST110", "ST111",
        "ST401", "ST402"}
STRICT = os.environ.get("RELIABILITY_SCHEMA_STRICT", "1") == "1"


def _provider_operations(name: str) -> set[str]:
    """Routes only some providers have: each must be fuzzed, with generated requests accepted (reaching the mock)."""
    operations = {"POST /v1/embeddings"} if catalogue.provider(name).embedding_models else set()
    if adapter_class(name).messages_api:
        operations |= {"POST /v1/messages", "POST /v1/messages/count_tokens"}
    return operations


def _schemathesis() -> str:
    binary = Path(sys.executable).with_name("schemathesis")
    assert binary.exists(), "schemathesis is not installed: `make test-reliability` installs it"
    return str(binary)


def _run(provider: str, url: str, key: str, out_dir: Path) -> tuple[subprocess.Popen[bytes], Path, Path]:
    report = out_dir / f"schemathesis-{provider}.json"
    log = out_dir / f"schemathesis-{provider}.log"
    argv = [_schemathesis(), "--config-file", str(CONFIG), "run", f"{url}/openapi.json",
            "-H", f"Authorization: Bearer {key}", "--checks", "all", "--max-examples", str(EXAMPLES),
            "--seed", SEED, "--generation-database", "none", "--request-timeout", "30",
            "--report", "json", "--report-json-path", str(report),
            "--output-truncate", "true", "--output-sanitize", "true", "--no-color"]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=out_dir,
                                env={**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)})
    return proc, report, log


@pytest.mark.timeout(600)  # every gateway fuzzed in parallel on a shared machine
def test_schemathesis_against_each_gateway(shared_stack: RunningStack, figures: dict[str, Any],
                                           tmp_path: Path) -> None:
    stack = shared_stack
    started = time.monotonic()
    logs = {path: path.stat().st_size for path in (stack.state_dir / "logs").glob("gateway-*.log")}
    runs = {p: _run(p, stack.gateway_urls[p], stack.keys[p], tmp_path) for p in PROVIDERS}
    for provider, (proc, _, log) in runs.items():
        try:
            proc.wait(timeout=480)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail(f"schemathesis on {provider} did not finish in 480 s\n{log.read_text()[-3000:]}")
    rows: dict[str, Any] = {}
    hard: list[str] = []
    for provider, (proc, report, log) in runs.items():
        assert report.exists(), f"no report from schemathesis on {provider}:\n{log.read_text()[-3000:]}"
        doc = json.loads(report.read_text())
        failures = [{"code": f["code"], "title": f["title"], "count": f["count"], "operations": f["operations"]}
                    for f in doc["failures"]]
        rows[provider] = {"cases": doc["test_cases"]["generated"], "operations": doc["operations"]["tested"],
                          "failures": failures, "errors": doc["errors"], "exit_code": proc.returncode}
        for f in failures:
            if f["code"] in HARD or STRICT:
                hard.append(f"{provider}: {f['code']} {f['title']} on {', '.join(f['operations'])}")
        if doc["errors"]:
            hard.append(f"{provider}: schemathesis errors {doc['errors']}")
        rates = doc.get("valid_rates") or {}
        for operation in _provider_operations(provider):
            if not rates.get(operation, {}).get("fuzzing", {}).get("accepted"):
                hard.append(f"{provider}: {operation} not fuzzed with accepted requests ({rates.get(operation)})")
    # The mock answers every request it takes: an upstream failure the gateway could not classify (a LangChain
    # integration raising on the request as the call starts, ValueError and the like) is the gateway's finding,
    # though its client saw a 502 the schema documents.
    unclassified = [f"{path.stem}: {line['error_type']} at {line.get('error_at')}" for path, size in logs.items()
                    for line in _lines_after(path, size) if line.get("msg") == "upstream call failed"]
    hard += [f"unclassified upstream failure, {where}" for where in sorted(set(unclassified))]
    total = sum(r["cases"] for r in rows.values())
    saved = REPORT.parent / "schemathesis"
    saved.mkdir(parents=True, exist_ok=True)
    for _, report, log in runs.values():
        (saved / report.name).write_bytes(report.read_bytes())
        (saved / log.name).write_bytes(log.read_bytes())
    show(figures, "schemathesis", {"total_cases": total, "seconds": round(time.monotonic() - started, 1),
                                   "examples_per_operation": EXAMPLES, "seed": SEED, "per_gateway": rows,
                                   "logs": str(saved)})
    assert total >= MIN_CASES, f"only {total} generated cases"
    assert not hard, "\n".join(hard) + f"\n(see {saved})"


def _lines_after(path: Path, offset: int) -> list[dict[str, Any]]:
    """The JSON log lines written to `path` past `offset`."""
    with path.open("rb") as log:
        log.seek(offset)
        return [json.loads(line) for line in log.read().splitlines() if line.startswith(b"{")]
