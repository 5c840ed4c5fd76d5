"""The PostgreSQL usage sink when PostgreSQL misbehaves: a refused row, a database refusing every write, a hung server.

A real PostgreSQL (tests/support/pgproc.py). "Hung" is SIGSTOP on the postmaster and its backends: the kernel
still accepts connections and data, nothing ever answers — only the sink's own timeouts end its waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg import sql

from gateway.audit_postgres import PostgresSink
from tests.support.pgproc import PostgresServer

pytestmark = pytest.mark.integration

REFUSED = "usage sink: PostgreSQL refused usage rows; they are dropped"


def doc(i: int | str, **fields: Any) -> dict[str, Any]:
    return {"id": f"audit-{i}", "time": datetime.now(UTC).isoformat(), "request_id": f"req-{i}",
            "client_id": "team-a", "auth_method": "api_key", "provider": "openai", "route": "chat",
            "model": "gpt-4o-mini", "status": 200, "latency_ms": 12.5, "prompt_tokens": 10, "completion_tokens": 5,
            "streamed": False, "error": None, **fields}


def count(pg: PostgresServer) -> int:
    [(n,)] = pg.query("SELECT count(*) FROM llm_usage")
    return n


def table_exists(pg: PostgresServer) -> bool:
    [(exists,)] = pg.query("SELECT to_regclass('llm_usage') IS NOT NULL")
    return exists


async def until(check: Callable[[], bool], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {within_s} s: {what}")
        await asyncio.sleep(0.05)


@contextlib.contextmanager
def frozen(pg: PostgresServer) -> Iterator[None]:
    """SIGSTOP the postmaster and its backends for the block; SIGCONT them whatever happens."""
    assert pg.proc is not None
    root = pg.proc.pid
    pids = [root]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError):
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == root:  # field 4: the parent's pid
                        pids.append(int(entry))
    stopped: list[int] = []
    try:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):  # a backend that exited since the scan
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)
        yield
    finally:
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def refused_logs(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == REFUSED]


# --- item 1: a row PostgreSQL refuses is dropped alone ----------------------------------------------------------

@pytest.mark.parametrize(("field", "value", "error_type"), [
    ("prompt_tokens", 2**31, "NumericValueOutOfRange"),  # past `integer`
    ("error", "nul\x00byte", "DataError"),  # psycopg refuses it before sending
    ("provider", None, "NotNullViolation"),
], ids=["out_of_range", "nul_byte", "not_null"])
async def test_a_refused_row_is_dropped_counted_and_logged_by_id_and_the_rest_land(
        pg: PostgresServer, caplog: pytest.LogCaptureFixture, field: str, value: Any, error_type: str) -> None:
    dropped: list[int] = []
    sink = PostgresSink("openai", pg.dsn, batch=25, on_drop=dropped.append)
    caplog.set_level(logging.INFO, "gateway.audit")
    # Alone, and the very first batch: the table it would have created must not be rolled back with it.
    sink.write(doc("bad-1", **{field: value}))
    assert await sink.flush()
    assert table_exists(pg) and count(pg) == 0
    # In the middle of a batch: the batch is retried in halves, every other row lands.
    for i in range(30):
        sink.write(doc(i))
    sink.write(doc("bad-2", **{field: value}))
    for i in range(30, 60):
        sink.write(doc(i))
    assert await sink.flush()
    assert count(pg) == 60
    assert pg.query("SELECT count(*) FROM llm_usage WHERE id LIKE 'audit-bad-%'") == [(0,)]
    status = sink.status()
    assert status["degraded"] is False and status["buffered"] == 0 and status["dropped"] == 2 == sum(dropped)
    logged = refused_logs(caplog)
    assert [(r.__dict__["record_ids"], r.__dict__["error_types"]) for r in logged] == [
        (["audit-bad-1"], [error_type]), (["audit-bad-2"], [error_type])]
    assert all(str(value) not in repr(vars(r)) for r in logged if value is not None)  # ids only, never content
    async with asyncio.timeout(3):
        await sink.close()
    assert sink.status()["dropped"] == 2


async def test_the_table_is_created_at_start(pg: PostgresServer) -> None:
    sink = PostgresSink("openai", pg.dsn, flush_s=0.1)
    await sink.start()
    try:
        await until(lambda: table_exists(pg), 5, "llm_usage created before any row")
        assert sink.status()["degraded"] is False
    finally:
        async with asyncio.timeout(5):
            await sink.close()


async def test_a_database_refusing_every_write_keeps_the_rows(pg: PostgresServer) -> None:
    # Not a bad row (read-only after a failover, a missing grant): every row would be refused alone, so the
    # rows stay buffered as in an outage, nothing is dropped, and they land once the database takes writes.
    with psycopg.connect(pg.dsn, autocommit=True) as admin:
        admin.execute("ALTER DATABASE postgres SET default_transaction_read_only = on")
    dropped: list[int] = []
    sink = PostgresSink("openai", pg.dsn, batch=4, on_drop=dropped.append)
    for i in range(10):
        sink.write(doc(i))
    assert not await sink.flush()
    status = sink.status()
    assert status["reason"] == "ReadOnlySqlTransaction" and status["buffered"] == 10
    assert status["dropped"] == 0 and not dropped
    with psycopg.connect(pg.dsn, autocommit=True) as admin:
        admin.execute("SET default_transaction_read_only = off")
        admin.execute("ALTER DATABASE postgres RESET default_transaction_read_only")
    assert await sink.flush()
    async with asyncio.timeout(5):
        await sink.close()
    assert count(pg) == 10 and sink.status()["dropped"] == 0


# --- item 2: every wait is bounded ----------------------------------------------------------------------------

async def test_every_connection_bounds_its_waits(pg: PostgresServer) -> None:
    sink = PostgresSink("openai", f"{pg.dsn}?options=-c%20lock_timeout%3D1234", op_timeout_s=1.5)
    conn = await sink._connection()

    async def show(name: str) -> str:
        row = await (await conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name)))).fetchone()
        assert row is not None
        return row[0]

    assert await show("statement_timeout") == "1500ms"
    assert await show("idle_in_transaction_session_timeout") == "3s"
    assert await show("lock_timeout") == "1234ms"  # the DSN's own options are kept
    for setting in ("keepalives=1", "keepalives_idle=10", "keepalives_interval=5", "keepalives_count=3",
                    "tcp_user_timeout=1500", "connect_timeout=2"):
        assert setting in conn.info.dsn.split()
    async with asyncio.timeout(3):
        await sink.close()


async def test_a_hung_postgres_turns_degraded_and_its_writes_time_out(pg: PostgresServer) -> None:
    sink = PostgresSink("openai", pg.dsn, batch=10, flush_s=0.1, op_timeout_s=1.0)
    await sink.start()
    try:
        sink.write(doc(0))
        await until(lambda: sink.status()["buffered"] == 0, 10, "the first row written")
        with frozen(pg):
            for i in range(1, 41):
                sink.write(doc(i))
            await until(lambda: sink.status()["degraded"] is True, 3, "degraded while PostgreSQL is hung")
            await until(lambda: sink.status()["reason"] == "TimeoutError", 3, "the insert timed out")
            assert sink.status()["buffered"] == 40 and sink.status()["dropped"] == 0
        await until(lambda: sink.status()["buffered"] == 0 and sink.status()["degraded"] is False, 15,
                    "every row written once PostgreSQL answers again")
    finally:
        async with asyncio.timeout(10):
            await sink.close()
    assert count(pg) == 41


@pytest.mark.parametrize("under_way", ["insert", "connect"])
async def test_close_on_a_hung_postgres_ends_by_its_deadline_and_counts_lost_rows(
        pg: PostgresServer, caplog: pytest.LogCaptureFixture, under_way: str) -> None:
    # The default op timeout (10 s) is far past the 1.5 s deadline: only close() itself can end the writer's wait.
    dropped: list[int] = []
    sink = PostgresSink("openai", pg.dsn, batch=10, flush_s=0.1, close_deadline_s=1.5, on_drop=dropped.append)
    caplog.set_level(logging.INFO, "gateway.audit")
    if under_way == "insert":
        await sink.start()
        sink.write(doc(0))
        await until(lambda: sink.status()["buffered"] == 0, 10, "the first row written")
    with frozen(pg):
        if under_way == "connect":
            await sink.start()  # its first connect waits: the kernel accepts, the server never answers
        for i in range(1, 26):
            sink.write(doc(i))  # a full batch wakes the writer: its insert waits
        if under_way == "insert":
            # Degraded before any timeout: the oldest row has waited past 5 flush intervals (at least 1 s).
            await until(lambda: sink.status()["reason"] == "backlog", 3, "degraded while rows wait")
        else:
            await asyncio.sleep(0.3)
        started = time.monotonic()
        async with asyncio.timeout(20):
            await sink.close()
        took = time.monotonic() - started
    assert took < 1.5 + 0.3, f"close() took {took:.1f} s with a 1.5 s deadline"
    assert sink.status()["dropped"] == 25 == sum(dropped) and sink.status()["buffered"] == 0
    assert [r.__dict__["lost"] for r in caplog.records if r.getMessage() == "usage sink: rows lost at shutdown"] == [25]
