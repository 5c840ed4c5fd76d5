"""The PostgreSQL usage sink against a real PostgreSQL: batches, idempotence, partitions, buffer bound."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from gateway import usage
from gateway.audit_postgres import PostgresSink
from tests.support.pgproc import PostgresServer

pytestmark = pytest.mark.integration


def doc(i: int, when: str = "2026-12-02T10:00:00.000001Z") -> dict:
    return {"id": f"audit-{i}", "time": when, "request_id": f"req-{i}", "client_id": "team-a", "auth_method": "api_key",
            "provider": "openai", "route": "chat", "model": "gpt-4o-mini", "status": 200, "latency_ms": 12.5,
            "prompt_tokens": 10, "completion_tokens": 5, "streamed": bool(i % 2), "error": None}


async def test_batches_land_once_in_monthly_partitions(pg: PostgresServer) -> None:
    sink = PostgresSink("openai", pg.dsn, batch=7)
    for i in range(20):
        sink.write(doc(i))
    sink.write(doc(99, "2027-01-01T00:00:00.5Z"))  # the next month: its own partition
    sink.write({**doc(0), "id": "audit-other"})  # another request that reused a client's X-Request-ID: kept
    assert await sink.flush()
    for i in range(20):  # the same rows again (a retried batch): nothing doubles
        sink.write(doc(i))
    assert await sink.flush()
    await sink.close()
    assert pg.query("SELECT count(*), count(DISTINCT id) FROM llm_usage") == [(22, 22)]
    parts = pg.query("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                     "WHERE i.inhparent = 'llm_usage'::regclass ORDER BY 1")
    assert parts == [("llm_usage_2026_12",), ("llm_usage_2027_01",)]
    assert pg.query("SELECT sum(prompt_tokens), sum(completion_tokens) FROM llm_usage_2026_12") == [(210, 105)]


async def test_a_failed_first_batch_leaves_the_schema_to_the_next(pg: PostgresServer,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # The connection drops inside the transaction that created the table and partition: PostgreSQL rolls them
    # back, so the retry must create them again (the CI failure of close() cancelling that first batch).
    real = psycopg.AsyncCursor.executemany
    failures = iter([psycopg.OperationalError("server closed the connection unexpectedly")])

    async def drop_once(self: psycopg.AsyncCursor, *args: Any, **kwargs: Any) -> None:
        for exc in failures:
            raise exc
        await real(self, *args, **kwargs)

    monkeypatch.setattr(psycopg.AsyncCursor, "executemany", drop_once)
    sink = PostgresSink("openai", pg.dsn, batch=10)
    for i in range(5):
        sink.write(doc(i))
    assert not await sink.flush()  # failed: the rows stay buffered
    assert await sink.flush()
    await sink.close()
    assert pg.query("SELECT count(*) FROM llm_usage") == [(5,)]


async def test_concurrent_flushes_write_every_row_once(pg: PostgresServer) -> None:
    # The background writer and an explicit flush (or close) may overlap: each row lands exactly once.
    sink = PostgresSink("openai", pg.dsn, batch=50)
    for i in range(1000):
        sink.write(doc(i))
    assert all(await asyncio.gather(*(sink.flush() for _ in range(4))))
    await sink.close()
    assert pg.query("SELECT count(*), count(DISTINCT id) FROM llm_usage") == [(1000, 1000)]


async def test_close_stops_the_writer_while_rows_keep_arriving(pg: PostgresServer) -> None:
    # SIGTERM under load: the writer is woken as close() cancels it; close must still end, every row written.
    sink = PostgresSink("openai", pg.dsn, batch=10, flush_s=0.05)
    await sink.start()
    for i in range(500):
        sink.write(doc(i))
        await asyncio.sleep(0)
    sink.write(doc(500))
    await asyncio.wait_for(sink.close(), 30)
    assert pg.query("SELECT count(*) FROM llm_usage") == [(501,)]


async def test_rows_wait_for_postgres_and_the_buffer_is_bounded(pg: PostgresServer) -> None:
    dropped: list[int] = []
    sink = PostgresSink("openai", pg.dsn, buffer_max=100, on_drop=dropped.append)
    pg.stop()
    for i in range(150):
        sink.write(doc(i, datetime.now(UTC).isoformat()))
    assert not await sink.flush()
    status = sink.status()
    assert status["degraded"] is True and status["buffered"] == 100 and status["dropped"] == 50 == len(dropped)
    pg.start()
    assert await sink.flush()
    assert sink.status() == {"backend": "postgres", "ok": True, "degraded": False, "reason": None,
                             "buffered": 0, "dropped": 50, "oldest_s": 0.0}
    await sink.close()
    assert pg.query("SELECT count(*) FROM llm_usage") == [(100,)]


async def test_usage_report_reads_postgres(pg: PostgresServer, capsys: pytest.CaptureFixture[str]) -> None:
    sink = PostgresSink("openai", pg.dsn)
    for i in range(6):
        sink.write(doc(i))
    await sink.close()
    assert usage.summarise_postgres(pg.dsn) == [
        {"day": "2026-12-02", "client": "team-a", "provider": "openai", "requests": 6, "errors": 0, "streamed": 3,
         "prompt_tokens": 60, "completion_tokens": 30}]
    assert usage.main(["--postgres", pg.dsn]) == 0
    assert "team-a" in capsys.readouterr().out
    assert usage.main(["--postgres", "postgresql://postgres:s3cret@127.0.0.1:1/none"]) == 2
    assert "s3cret" not in capsys.readouterr().err
