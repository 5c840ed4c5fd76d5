"""`python -m gateway.usage`: aggregation per day, client and provider, over rotated audit files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway import usage


def _write(path: Path, records: list[dict], garbage: str = "") -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + garbage)


def _rec(day: str, client: str, provider: str, status: int = 200, prompt: int = 3, completion: int = 5,
         streamed: bool = False) -> dict:
    return {"time": f"{day}T10:00:00Z", "client_id": client, "provider": provider, "status": status,
            "prompt_tokens": prompt, "completion_tokens": completion, "streamed": streamed}


def test_summary_groups_by_day_client_provider_across_rotated_files(tmp_path: Path) -> None:
    _write(tmp_path / "openai.log", [_rec("2026-11-26", "alice", "openai"), _rec("2026-11-26", "alice", "openai",
                                                                                 status=429, prompt=0, completion=0)])
    _write(tmp_path / "openai.log.1", [_rec("2026-11-25", "alice", "openai", streamed=True)])
    _write(tmp_path / "cohere.log", [_rec("2026-11-26", "bob", "cohere", prompt=7, completion=11)],
           garbage="not json\n")
    rows, bad = usage.summarise(usage.audit_files([tmp_path]))
    assert bad == 1
    by_key = {(r["day"], r["client"], r["provider"]): r for r in rows}
    assert by_key[("2026-11-26", "alice", "openai")] == {
        "day": "2026-11-26", "client": "alice", "provider": "openai", "requests": 2, "errors": 1, "streamed": 0,
        "prompt_tokens": 3, "completion_tokens": 5}
    assert by_key[("2026-11-25", "alice", "openai")]["streamed"] == 1
    assert by_key[("2026-11-26", "bob", "cohere")]["completion_tokens"] == 11


def test_cli_json_and_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path / "a.log", [_rec("2026-11-26", "alice", "anthropic")])
    assert usage.main([str(tmp_path), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["rows"][0]["client"] == "alice" and doc["skipped_lines"] == 0
    assert usage.main([str(tmp_path / "a.log")]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["day", "client", "provider", "requests", "errors", "streamed", "prompt_tokens",
                                "completion_tokens"]
    assert table[2].split()[:4] == ["2026-11-26", "alice", "anthropic", "1"]


def test_missing_path_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert usage.main([str(tmp_path / "nope.log")]) == 2
    assert "no such audit log" in capsys.readouterr().err
