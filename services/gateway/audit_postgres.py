"""The PostgreSQL usage sink: batched, idempotent, monthly partitions, bounded buffer and waits, flushed on SIGTERM.

`write()` appends to an in-memory buffer (no I/O on the request path). A background task inserts
batches with `ON CONFLICT DO NOTHING` on (id, time), `id` being the gateway's own per-request id (the
client's X-Request-ID, kept in `request_id`, is only a correlation id and may repeat): a batch retried
after a lost reply never lands twice.

Failures are of two kinds. PostgreSQL unreachable, hung or refusing every write (connection errors,
timeouts, permissions, a read-only server): rows stay buffered, retried every `flush_s`; past `buffer_max`
new rows are dropped and counted. A row PostgreSQL refuses for its content (DataError, IntegrityError: a token
count out of `integer` range, a NUL byte): the batch is retried in halves until that row is alone, and the row
is dropped, counted and logged by id — one bad row never holds up the others.

Every database wait is bounded (`op_timeout_s`; `close()`'s deadline once shutting down): connect timeout,
`statement_timeout` and TCP keepalives on the server side, and a watchdog that shuts the socket down when an
operation overruns — not a task cancel, which psycopg turns into a cancel request to a server that does not
answer (up to 10 s more). `status()` is degraded after a failure, and while the oldest buffered row is older
than a few flush intervals (a hung server, a writer that cannot keep up). `close()` (SIGTERM) flushes what is
left within its deadline; rows still buffered then are dropped and counted.

Table `llm_usage` is range-partitioned by month on `time`; each replica creates the table (at start, in
its own transaction) and the partitions it needs under an advisory lock, so replicas starting together do
not race, and a refused row never rolls the schema back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from gateway.audit import AuditSink

log = logging.getLogger("gateway.audit")
COLUMNS = ("id", "time", "request_id", "client_id", "auth_method", "provider", "route", "model", "status",
           "latency_ms", "prompt_tokens", "completion_tokens", "streamed", "error")
# Token counts stay `integer`: one request's counts are bounded by a model's context window (millions at most,
# far below 2^31), reports sum them as bigint (sum(integer) is bigint), and widening a populated partitioned
# table rewrites every partition under an exclusive lock. A count past 2^31 is a bogus report: that row alone
# is refused, dropped and counted.
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

# SIGTERM flush budget. Kubernetes kills the pod terminationGracePeriodSeconds after deletion: the chart's
# preStop sleep + GATEWAY_SHUTDOWN_GRACE_S (uvicorn drains requests) + a margin of 30 s when usage goes to
# PostgreSQL, and this flush runs in that margin after the drain, with the other shutdown steps (docker compose:
# stop_grace_period 30 s = grace 20 s + 10 s). 5 s leaves the rest of the margin to them.
CLOSE_DEADLINE_S = 5.0
OP_TIMEOUT_S = 10.0  # one connect or one transaction (a batch of up to 10 000 rows takes well under a second)
STALE_FLUSHES = 5  # degraded once the oldest buffered row has waited this many flush intervals (at least 1 s)
# PostgreSQL unreachable or hung: retry. (QueryCanceled — statement_timeout — and a dropped or refused
# connection are OperationalErrors; a closed connection an InterfaceError or OperationalError; TimeoutError is
# an OSError.)
_CONNECTION_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError, OSError)
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}


def month_start(year: int, month: int) -> str:
    """First day of a month as an ISO date, normalising month overflow."""
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return f"{year:04d}-{month:02d}-01"


def refused_row(exc: BaseException) -> bool:
    """Whether PostgreSQL (or psycopg, adapting a value) refused a row for its content, not every write."""
    if isinstance(exc, psycopg.DataError | psycopg.IntegrityError | psycopg.errors.DatatypeMismatch):
        return True
    return isinstance(exc, psycopg.ProgrammingError) and exc.sqlstate is None  # a value psycopg cannot send


def sever(conn: psycopg.AsyncConnection) -> None:
    """Shut the connection's socket down: whatever waits on it fails at once with an OperationalError.

    Not `pgconn.finish()`: closing the descriptor under the event loop's reader is unsafe; shutdown() keeps
    it open and wakes the waiter with an end of file, and no cancel request goes to an unresponsive server.
    """
    with contextlib.suppress(psycopg.Error, OSError), socket.socket(fileno=os.dup(conn.pgconn.socket)) as sock:
        sock.shutdown(socket.SHUT_RDWR)


class PostgresSink(AuditSink):
    """Usage records into PostgreSQL through a bounded buffer."""

    name = "postgres"

    def __init__(self, provider: str, dsn: str, *, batch: int = 500, buffer_max: int = 50_000,
                 flush_s: float = 1.0, close_deadline_s: float = CLOSE_DEADLINE_S,
                 op_timeout_s: float = OP_TIMEOUT_S, on_drop: Callable[[int], None] | None = None) -> None:
        super().__init__(provider)
        self.dsn, self.batch, self.buffer_max, self.flush_s = dsn, batch, buffer_max, flush_s
        self.close_deadline_s, self.op_timeout_s = close_deadline_s, op_timeout_s
        self.stale_s = max(STALE_FLUSHES * flush_s, 1.0)
        self.on_drop = on_drop or (lambda _n: None)
        self.dropped = 0
        self._buffer: list[tuple[Any, ...]] = []
        self._since: list[float] = []  # when each buffered row came (monotonic), in the buffer's order
        self._schema = False  # llm_usage known to exist
        self._months: set[tuple[int, int]] = set()  # partitions known to exist
        self._conn: psycopg.AsyncConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._error: str | None = None
        self._deadline: float | None = None  # close()'s: every wait ends by then
        self._closing = False
        self._connecting: asyncio.Timeout | None = None  # the connect under way
        self._wake = asyncio.Event()
        # One flush at a time: two would both insert the buffer's head, then both delete it (losing rows).
        self._flushing = asyncio.Lock()

    def write(self, doc: dict[str, Any]) -> None:
        """Buffer one record; drop it (counted) when the buffer is full."""
        if len(self._buffer) >= self.buffer_max:
            self._drop(1)
            return
        row = dict(doc, time=datetime.fromisoformat(str(doc["time"]).replace("Z", "+00:00")))
        self._buffer.append(tuple(row[c] for c in COLUMNS))
        self._since.append(time.monotonic())
        if len(self._buffer) >= self.batch:
            self._wake.set()

    def _drop(self, n: int) -> None:
        self.dropped += n
        self.on_drop(n)

    async def start(self) -> None:
        """Start the background writer (it connects and creates the schema itself, retrying)."""
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        await self.flush()  # nothing buffered yet: connects and creates the table
        while not self._closing:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that lands as the event fires.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.flush_s):
                    await self._wake.wait()
            self._wake.clear()
            if not self._closing:  # close() flushes what is left itself, within its deadline
                await self.flush()

    async def flush(self) -> bool:
        """Write everything buffered in batches; False (rows kept) when PostgreSQL fails."""
        async with self._flushing:
            return await self._flush()

    async def _flush(self) -> bool:
        if not self._buffer and (self._error is not None or not self._schema):
            # Nothing to write: still check PostgreSQL, so the table exists early and status recovers.
            try:
                await self._prepare(await self._connection(), set())
            except (psycopg.Error, OSError) as exc:
                await self._fail(exc)
                return False
            self._recovered()
        while self._buffer:
            rows = self._buffer[: self.batch]
            refused: list[tuple[Any, str]] = []  # (record id, error class) of rows refused on their own
            try:
                await self._write(rows, refused)
            except (psycopg.Error, OSError) as exc:  # rows kept (those found refused too: found again next time)
                await self._fail(exc)
                return False
            del self._buffer[: len(rows)], self._since[: len(rows)]
            if refused:
                self._drop(len(refused))
                log.error("usage sink: PostgreSQL refused usage rows; they are dropped",
                          extra={"record_ids": [rid for rid, _ in refused],
                                 "error_types": sorted({kind for _, kind in refused})})
            self._recovered()
        return True

    async def _write(self, rows: list[tuple[Any, ...]], refused: list[tuple[Any, str]]) -> None:
        try:
            await self._insert(rows)
            return
        except psycopg.Error as exc:
            if not refused_row(exc):
                raise
        # Re-check the schema first: a partition dropped under us also reads as a refused row (no partition).
        self._schema, self._months = False, set()
        await self._split(rows, refused)

    async def _split(self, rows: list[tuple[Any, ...]], refused: list[tuple[Any, str]]) -> None:
        """Insert `rows` again in halves after a refused row, down to the rows refused on their own."""
        half = (len(rows) + 1) // 2
        for part in (rows[:half], rows[half:]) if len(rows) > 1 else (rows,):
            try:
                await self._insert(part)
            except psycopg.Error as exc:
                if not refused_row(exc):
                    raise
                if len(part) > 1:
                    await self._split(part, refused)
                else:
                    refused.append((part[0][0], type(exc).__name__))

    async def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        conn = await self._connection()
        await self._prepare(conn, {(r[1].year, r[1].month) for r in rows})

        async def insert() -> None:
            async with conn.transaction(), conn.cursor() as cur:
                await cur.executemany(INSERT, rows)

        await self._bounded(conn, insert)

    async def _prepare(self, conn: psycopg.AsyncConnection, months: set[tuple[int, int]]) -> None:
        """Create the table and the partitions of `months` not known to exist, each in its own transaction."""
        try:
            await self._create(conn, months)
        except psycopg.Error as exc:
            if refused_row(exc):  # a DDL failure is never a refused row: the rows are kept, it is retried
                raise psycopg.DatabaseError(f"creating the usage table failed: {type(exc).__name__}") from exc
            raise

    async def _create(self, conn: psycopg.AsyncConnection, months: set[tuple[int, int]]) -> None:
        if not self._schema:
            await self._bounded(conn, lambda: self._ddl(conn, [sql.SQL(SCHEMA)]))
            self._schema = True  # committed: a row refused later cannot roll it back
        months -= self._months
        if months:
            await self._bounded(conn, lambda: self._ddl(conn, [sql.SQL(PARTITION).format(
                sql.Identifier(f"llm_usage_{year:04d}_{month:02d}"),
                sql.Literal(month_start(year, month)), sql.Literal(month_start(year, month + 1)))
                for year, month in sorted(months)]))
            self._months |= months

    @staticmethod
    async def _ddl(conn: psycopg.AsyncConnection, statements: list[sql.SQL | sql.Composed]) -> None:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
            for statement in statements:
                await conn.execute(statement)

    def _limit(self) -> float:
        """How long the next database wait may take: `op_timeout_s`, or less once close() set its deadline."""
        limit = self.op_timeout_s
        if self._deadline is not None:
            limit = min(limit, self._deadline - time.monotonic())
            if limit <= 0:
                raise TimeoutError("the shutdown deadline has passed")
        return limit

    async def _bounded(self, conn: psycopg.AsyncConnection, op: Callable[[], Awaitable[None]]) -> None:
        """Run one transaction on `conn`; past the limit its socket is shut down and TimeoutError raised."""
        limit, fired = self._limit(), []
        watchdog = asyncio.get_running_loop().call_later(limit, lambda: (fired.append(True), sever(conn)))
        try:
            await op()
        except (psycopg.Error, OSError) as exc:
            if fired:
                raise TimeoutError(f"PostgreSQL did not answer within {limit:.1f} s") from exc
            raise
        finally:
            watchdog.cancel()

    async def _connection(self) -> psycopg.AsyncConnection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            try:
                # connect_timeout is whole seconds, at least 2; close() brings this one forward to its deadline.
                async with asyncio.timeout(self._limit()) as self._connecting:
                    self._conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True, **self._settings())
            finally:
                self._connecting = None
        return self._conn

    def _settings(self) -> dict[str, Any]:
        """Connection settings bounding every wait; the DSN's own (and PGOPTIONS) take precedence."""
        given = conninfo_to_dict(self.dsn)
        ms = math.ceil(self.op_timeout_s * 1000)
        ours: dict[str, Any] = {"connect_timeout": max(2, math.ceil(self.op_timeout_s)), "tcp_user_timeout": ms,
                                **_KEEPALIVES}
        settings = {key: value for key, value in ours.items() if key not in given}
        # Server side: no statement (an advisory lock wait included) runs past the limit, and a transaction left
        # open by a frozen gateway holds the DDL lock for no longer than twice it.
        user = str(given.get("options") or os.environ.get("PGOPTIONS", ""))
        settings["options"] = f"-c statement_timeout={ms} -c idle_in_transaction_session_timeout={2 * ms} {user}"
        return settings

    async def _fail(self, exc: BaseException) -> None:
        if not isinstance(exc, _CONNECTION_ERRORS):  # PostgreSQL refuses every write: maybe a dropped table
            self._schema, self._months = False, set()
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

    def _recovered(self) -> None:
        if self._error is not None:
            log.info("usage sink: PostgreSQL reachable again")
            self._error = None

    async def close(self) -> None:
        """Stop the writer and flush the buffer, retrying until the deadline; what is left then is dropped."""
        loop = asyncio.get_running_loop()
        self._deadline = deadline = time.monotonic() + self.close_deadline_s
        self._closing = True
        self._wake.set()
        # The writer's wait under way began before the deadline existed: a transaction is cut at the deadline
        # (its socket shut down), a connect times out then. Cancelling the task instead would make psycopg send
        # a cancel request and wait for the server (up to 10 s): the task is left to end by itself.
        cut = loop.call_later(self.close_deadline_s, self._cut)
        if self._connecting is not None and (self._connecting.when() or math.inf) > loop.time() + self.close_deadline_s:
            self._connecting.reschedule(loop.time() + self.close_deadline_s)
        try:
            if self._task is not None:
                await asyncio.wait([self._task], timeout=self.close_deadline_s + 0.5)
                if not self._task.done():  # not expected: every wait of the writer ends at the deadline
                    self._task.cancel()
                    await asyncio.wait([self._task], timeout=1.0)
                if self._task.done() and not self._task.cancelled() and self._task.exception() is not None:
                    log.error("usage sink: the writer failed", exc_info=self._task.exception())
            while self._buffer and time.monotonic() < deadline:
                if await self.flush():
                    break
                await asyncio.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        finally:
            cut.cancel()
        if lost := len(self._buffer):
            del self._buffer[:], self._since[:]
            self._drop(lost)
            log.error("usage sink: rows lost at shutdown", extra={"lost": lost})
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                await self._conn.close()

    def _cut(self) -> None:
        if self._conn is not None:
            sever(self._conn)

    def status(self) -> dict[str, object]:
        """Backend, whether the last write worked, buffered and dropped rows, the oldest row's wait.

        Degraded after a failed write, and while the oldest buffered row has waited more than `stale_s`.
        """
        oldest = time.monotonic() - self._since[0] if self._since else 0.0
        reason = self._error or ("backlog" if oldest > self.stale_s else None)
        return {"backend": self.name, "ok": self._error is None, "degraded": reason is not None, "reason": reason,
                "buffered": len(self._buffer), "dropped": self.dropped, "oldest_s": round(oldest, 1)}
