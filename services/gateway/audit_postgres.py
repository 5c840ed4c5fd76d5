"""The PostgreSQL usage sink: batched, idempotent, monthly partitions, bounded buffer, flushed on SIGTERM.

`write()` appends to an in-memory buffer (no I/O on the request path). A background task inserts
batches with `ON CONFLICT DO NOTHING` on (id, time), `id` being the gateway's own per-request id (the
client's X-Request-ID, kept in `request_id`, is only a correlation id and may repeat): a batch retried
after a lost reply never lands twice. While PostgreSQL is unreachable rows stay buffered (retried every `flush_s`); past
`buffer_max` new rows are dropped and counted. `close()` (SIGTERM) flushes what is left within a deadline.

Table `llm_usage` is range-partitioned by month on `time`; each replica creates the partitions it
needs under an advisory lock, so replicas starting together do not race.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from gateway.audit import AuditSink

log = logging.getLogger("gateway.audit")
COLUMNS = ("id", "time", "request_id", "client_id", "auth_method", "provider", "route", "model", "status",
           "latency_ms", "prompt_tokens", "completion_tokens", "streamed", "error")
SCHEMA = """
CREATE TABLE IF NOT EXISTS llm_usage (
    id text NOT NULL, time timestamptz NOT NULL, request_id text NOT NULL, client_id text, auth_method text,
    provider text NOT NULL, route text, model text, status integer NOT NULL, latency_ms real,
    prompt_tokens integer, completion_tokens integer, streamed boolean, error text,
    PRIMARY KEY (id, time)
) PARTITION BY RANGE (time)
"""
INSERT = sql.SQL("INSERT INTO llm_usage ({}) VALUES ({}) ON CONFLICT DO NOTHING").format(
    sql.SQL(", ").join(map(sql.Identifier, COLUMNS)), sql.SQL(", ").join(sql.Placeholder() * len(COLUMNS)))
PARTITION = "CREATE TABLE IF NOT EXISTS {} PARTITION OF llm_usage FOR VALUES FROM ({}) TO ({})"
_DDL_LOCK = 0x6C6C6D75  # pg_advisory_xact_lock key for schema and partition creation


def month_start(year: int, month: int) -> str:
    """First day of a month as an ISO date, normalising month overflow."""
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return f"{year:04d}-{month:02d}-01"


class PostgresSink(AuditSink):
    """Usage records into PostgreSQL through a bounded buffer."""

    name = "postgres"

    def __init__(self, provider: str, dsn: str, *, batch: int = 500, buffer_max: int = 50_000,
                 flush_s: float = 1.0, close_deadline_s: float = 15.0,
                 on_drop: Callable[[int], None] | None = None) -> None:
        super().__init__(provider)
        self.dsn, self.batch, self.buffer_max, self.flush_s = dsn, batch, buffer_max, flush_s
        self.close_deadline_s = close_deadline_s
        self.on_drop = on_drop or (lambda _n: None)
        self.dropped = 0
        self._buffer: list[tuple[Any, ...]] = []
        self._months: set[tuple[int, int]] = set()
        self._conn: psycopg.AsyncConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._error: str | None = None
        self._wake = asyncio.Event()
        # One flush at a time: two would both insert the buffer's head, then both delete it (losing rows).
        self._flushing = asyncio.Lock()

    def write(self, doc: dict[str, Any]) -> None:
        """Buffer one record; drop it (counted) when the buffer is full."""
        if len(self._buffer) >= self.buffer_max:
            self.dropped += 1
            self.on_drop(1)
            return
        row = dict(doc, time=datetime.fromisoformat(str(doc["time"]).replace("Z", "+00:00")))
        self._buffer.append(tuple(row[c] for c in COLUMNS))
        if len(self._buffer) >= self.batch:
            self._wake.set()

    async def start(self) -> None:
        """Start the background writer (it connects and creates the schema itself, retrying)."""
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that lands as the event
            # fires, and close() would wait for this loop forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.flush_s):
                    await self._wake.wait()
            self._wake.clear()
            await self.flush()

    async def flush(self) -> bool:
        """Write everything buffered in batches; False (rows kept) when PostgreSQL fails."""
        async with self._flushing:
            return await self._flush()

    async def _flush(self) -> bool:
        while self._buffer:
            rows = self._buffer[: self.batch]
            try:
                await self._insert(rows)
            except (psycopg.Error, OSError) as exc:
                await self._fail(exc)
                return False
            del self._buffer[: len(rows)]
            if self._error is not None:
                log.info("usage sink: PostgreSQL reachable again")
                self._error = None
        return True

    async def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        conn = await self._connection()
        months = {(r[1].year, r[1].month) for r in rows} - self._months
        async with conn.transaction():
            if months:
                await self._partitions(conn, months)
            async with conn.cursor() as cur:
                await cur.executemany(INSERT, rows)
        # Only once committed: a transaction that failed or was cancelled rolled its CREATE TABLEs back too, and
        # months noted before that would never be created again (every later insert: relation does not exist).
        self._months |= months

    async def _connection(self) -> psycopg.AsyncConnection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = await psycopg.AsyncConnection.connect(self.dsn, connect_timeout=3, autocommit=True)
        return self._conn

    async def _partitions(self, conn: psycopg.AsyncConnection, months: set[tuple[int, int]]) -> None:
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
        await conn.execute(SCHEMA)
        for year, month in sorted(months):
            await conn.execute(sql.SQL(PARTITION).format(
                sql.Identifier(f"llm_usage_{year:04d}_{month:02d}"),
                sql.Literal(month_start(year, month)), sql.Literal(month_start(year, month + 1))))

    async def _fail(self, exc: BaseException) -> None:
        if self._error is None:
            log.warning("usage sink: PostgreSQL write failed; rows stay buffered",
                        extra={"error_type": type(exc).__name__, "buffered": len(self._buffer)})
        self._error = type(exc).__name__
        conn, self._conn = self._conn, None  # reconnect next time
        if conn is not None:
            try:
                await conn.close()
            except (psycopg.Error, OSError) as exc:  # already broken: it is dropped either way
                log.debug("usage sink: closing the failed connection failed", extra={"error_type": type(exc).__name__})

    async def close(self) -> None:
        """Stop the writer and flush the buffer (retrying until the deadline)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        deadline = time.monotonic() + self.close_deadline_s
        for _ in range(int(self.close_deadline_s * 2) + 1):  # one try per half second until the deadline
            if await self.flush() or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.5)
        if self._buffer:
            log.error("usage sink: rows lost at shutdown", extra={"lost": len(self._buffer)})
        if self._conn is not None:
            await self._conn.close()

    def status(self) -> dict[str, object]:
        """Backend, whether the last write worked, buffered and dropped rows."""
        return {"backend": self.name, "ok": self._error is None, "degraded": self._error is not None,
                "reason": self._error, "buffered": len(self._buffer), "dropped": self.dropped}
