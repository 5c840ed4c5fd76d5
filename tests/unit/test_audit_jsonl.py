"""The JSON-lines usage sink: size rotation (RotatingLines), every record whole, a failing volume counted."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from gateway import usage
from gateway.audit import JsonLinesSink, RotatingLines
from gateway.context import RequestContext


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _record(sink: JsonLinesSink, n: int) -> None:
    ctx = RequestContext(request_id=f"req-{n:04d}", method="POST", path="/v1/chat/completions")
    ctx.route, ctx.audited, ctx.client_id, ctx.model = "chat", True, "alice", "gpt-4o-mini"
    ctx.prompt_tokens, ctx.completion_tokens = n, 2 * n
    sink.record(ctx, 200, 0.0123)


def test_rotation_keeps_every_line_whole_and_at_most_backups_files(tmp_path: Path) -> None:
    path = tmp_path / "audit" / "openai.log"  # the directory is created
    sink = JsonLinesSink("openai", path, max_bytes=4096, backups=2)
    for n in range(200):
        _record(sink, n)
    files = [path, path.with_name("openai.log.1"), path.with_name("openai.log.2")]
    assert sorted(tmp_path.joinpath("audit").iterdir()) == sorted(files)  # no .3: the oldest file went
    for f in files:
        assert 0 < f.stat().st_size <= 4096
    kept = [rec["request_id"] for f in reversed(files) for rec in _lines(f)]  # oldest file first
    assert kept == [f"req-{n:04d}" for n in range(200 - len(kept), 200)]  # the newest, in order, none twice
    newest = _lines(path)[-1]
    assert newest["prompt_tokens"] == 199 and newest["completion_tokens"] == 398
    assert newest["status"] == 200 and newest["latency_ms"] == 12.3 and newest["time"].endswith("Z")
    rows, bad = usage.summarise(usage.audit_files([tmp_path / "audit"]))
    assert bad == 0 and rows[0]["requests"] == len(kept)


def test_reopened_file_keeps_its_size_for_rotation(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    line = b"x" * 99 + b"\n"
    first = RotatingLines(path, max_bytes=1000, backups=1)
    for _ in range(7):
        first.write(line)
    first.close()
    again = RotatingLines(path, max_bytes=1000, backups=1)  # a restarted gateway appends
    for _ in range(3):
        again.write(line)
    assert path.stat().st_size == 1000 and not path.with_name("a.log.1").exists()
    again.write(line)  # the 11th line would pass max_bytes: the file rotates first
    assert path.with_name("a.log.1").stat().st_size == 1000 and path.stat().st_size == 100


def test_a_failed_rotation_drops_one_record_and_the_next_ones_are_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.log"
    sink = JsonLinesSink("openai", path, max_bytes=4096, backups=1)
    for n in range(30):
        _record(sink, n)
    real_replace = Path.replace

    def refused(self: Path, target: Path) -> Path:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "replace", refused)
    for n in range(30, 60):
        _record(sink, n)  # once the file is full every rotation fails; the request path never sees it
    monkeypatch.setattr(Path, "replace", real_replace)
    full = _lines(path)
    assert 0 < sink.dropped < 30 and sink.status()["degraded"] is True
    assert full[-1]["request_id"] == f"req-{59 - sink.dropped:04d}"  # written until full, then counted
    _record(sink, 60)  # renames work again: the file rotates and the record is written
    assert sink.status()["ok"] is True
    assert [r["request_id"] for r in _lines(path)] == ["req-0060"]
    assert _lines(path.with_name("a.log.1")) == full


def test_a_line_longer_than_max_bytes_is_written_whole(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    lines = RotatingLines(path, max_bytes=100, backups=1)
    lines.write(b"y" * 300 + b"\n")  # into the empty file: nothing to rotate away
    lines.write(b"z\n")
    assert path.with_name("a.log.1").read_bytes() == b"y" * 300 + b"\n" and path.read_bytes() == b"z\n"


def test_unwritable_volume_counts_drops_reports_degraded_and_recovers(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    dropped: list[int] = []
    sink = JsonLinesSink("openai", Path("/dev/full"), max_bytes=10**6, backups=1,
                         on_drop=lambda: dropped.append(1))  # every write fails with ENOSPC
    with caplog.at_level(logging.WARNING, logger="gateway.audit"):
        for n in range(3):
            _record(sink, n)  # never raises into the request
    assert len(dropped) == 3 and sink.dropped == 3
    assert sink.status() == {"backend": "jsonl", "ok": False, "degraded": True,
                             "reason": "OSError: No space left on device", "dropped": 3}
    assert [r.getMessage() for r in caplog.records].count(
        "audit log write failed: usage records are dropped until it works again") == 1  # said once, not per record
    sink._file = RotatingLines(tmp_path / "ok.log", max_bytes=10**6, backups=1)  # the volume works again
    with caplog.at_level(logging.WARNING, logger="gateway.audit"):
        _record(sink, 3)
    assert sink.status()["ok"] is True and "audit log writable again" in caplog.text
    assert _lines(tmp_path / "ok.log")[0]["request_id"] == "req-0003"


def test_records_of_unaudited_requests_are_not_written(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    sink = JsonLinesSink("openai", path, max_bytes=10**6, backups=1)
    sink.record(RequestContext(request_id="r", method="GET", path="/healthz"), 200, 0.001)
    assert path.read_bytes() == b""
