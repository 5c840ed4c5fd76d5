"""What the usage sink adds to one request: CPU per request and p50 on the response path, JSON lines vs PostgreSQL.

`measure(sink)` hands the gateway's own sink one finished request's context per cycle (`AuditSink.record`, what the
middleware calls when a response ends), then yields to the event loop as a route does between requests, so the
PostgreSQL sink's background writer (batched inserts) runs on the same loop and its CPU is counted. Each round
ends with the buffer flushed, so every row is written inside the measured time. `jsonl` is the embedded default (a
rotating file); `postgres` is a throwaway loopback cluster (Debian's binaries) unless `dsn` is given; the server's
own CPU is reported apart when this script started it.

    .venv/bin/python bench/usage_sink_cost.py [--requests N] [--concurrency C ...]

prints both sinks and the difference (the goal: PostgreSQL adds at most 0.3 ms CPU and 0.3 ms p50 per request).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))

import psycopg
from cost_rounds import RoundsCost

from devstack.config import StackConfig
from devstack.ports import free_ports
from devstack.procs import StackError, launch, terminate
from devstack.usage_db import dsn as stack_dsn
from devstack.usage_db import postgres_spec, remove_cluster, wait_postgres
from gateway.audit import AuditSink, JsonLinesSink
from gateway.audit_postgres import PostgresSink
from gateway.context import RequestContext

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import cpu_of  # the server's whole process tree: runuser, postgres and its connection backends


class SinkCost(RoundsCost):
    """What `measure` returns (the usage sink measured)."""

    sink: str


def measure(sink: str, *, requests: int = 5000, concurrency: int = 1, dsn: str | None = None,
            warmup: int = 500, rounds: int = 5) -> SinkCost:
    """Run `requests` record cycles on `sink`; print and return CPU/request and p50 (ms), median of `rounds`."""
    with contextlib.ExitStack() as stack:
        server_pid = None
        if sink == "postgres" and dsn is None:
            dsn, server_pid = stack.enter_context(_postgres_server())
        out_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="llmgw-sink-bench-")))
        result = asyncio.run(_run(sink, dsn, out_dir, requests, concurrency, warmup, server_pid, rounds))
    line = (f"usage sink {sink:8} concurrency {concurrency:3}: {result['cpu_ms_per_request']:.4f} ms CPU/request, "
            f"p50 {result['p50_ms']:.4f} ms, p99 {result['p99_ms']:.4f} ms")
    if "server_cpu_ms_per_request" in result:
        line += f", postgres server {result['server_cpu_ms_per_request']:.4f} ms CPU/request"
    print(line, flush=True)
    return result


def _sink(name: str, dsn: str | None, out_dir: Path) -> AuditSink:
    if name == "jsonl":
        return JsonLinesSink("bench", out_dir / "audit.log", max_bytes=256 * 1024 * 1024, backups=1)
    if name == "postgres" and dsn:
        return PostgresSink("bench", dsn)
    raise ValueError(f"unknown sink {name!r} (jsonl or postgres)")


async def _run(name: str, dsn: str | None, out_dir: Path, requests: int, concurrency: int, warmup: int,
               server_pid: int | None, rounds: int) -> SinkCost:
    sink = _sink(name, dsn, out_dir)
    await sink.start()
    per_round = max(1, requests // rounds)
    try:
        await _cycles(sink, warmup, concurrency, [])
        await _drain(sink)
        server0 = cpu_of([server_pid]) if server_pid else 0.0
        latencies: list[float] = []
        cpu_rounds: list[float] = []
        wall0 = time.perf_counter()
        for _ in range(rounds):
            cpu0 = time.process_time()
            await _cycles(sink, per_round, concurrency, latencies)
            await _drain(sink)  # the rows written are part of the cost
            cpu_rounds.append((time.process_time() - cpu0) / per_round)
        wall = time.perf_counter() - wall0
        server = (cpu_of([server_pid]) if server_pid else 0.0) - server0
        status = sink.status()
    finally:
        await sink.close()
    dropped = getattr(sink, "dropped", 0)
    assert not status.get("degraded") and not dropped, f"the sink ran degraded: {status}, dropped {dropped}"
    if dsn and name == "postgres":  # every record of the run is a row: nothing was measured that was not written
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            row = await (await conn.execute("SELECT count(*) FROM llm_usage WHERE provider = 'bench'")).fetchone()
        assert row is not None and row[0] >= warmup + per_round * rounds, f"rows written: {row}"
    latencies.sort()
    total = per_round * rounds
    result: SinkCost = {
        "sink": name, "requests": total, "concurrency": concurrency,
        "cpu_ms_per_request": round(statistics.median(cpu_rounds) * 1000, 4),
        "cpu_ms_per_request_min": round(min(cpu_rounds) * 1000, 4),
        "p50_ms": round(statistics.median(latencies) * 1000, 4),
        "p99_ms": round(latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000, 4),
        "requests_per_s": round(total / wall)}
    if server_pid is not None:
        result["server_cpu_ms_per_request"] = round(server * 1000 / total, 4)
    return result


async def _drain(sink: AuditSink) -> None:
    """Write what the sink buffers (PostgreSQL); a failed flush is a failed measurement."""
    if isinstance(sink, PostgresSink):
        assert await sink.flush(), f"PostgreSQL flush failed: {sink.status()}"


async def _cycles(sink: AuditSink, requests: int, concurrency: int, latencies: list[float]) -> None:
    """`concurrency` workers share `requests` cycles: record one finished request, then yield to the loop."""
    left = [requests]

    async def worker() -> None:
        while left[0] > 0:
            left[0] -= 1
            ctx = RequestContext(request_id="bench", method="POST", path="/v1/chat/completions", route="chat",
                                 client_id="bench-client", auth_method="api_key", model="gpt-4o-mini",
                                 prompt_tokens=120, completion_tokens=87, audited=True)
            started = time.perf_counter()
            sink.record(ctx, 200, 0.012)
            await asyncio.sleep(0)  # a route returns to the loop: the background writer runs here
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


@contextlib.contextmanager
def _postgres_server() -> Iterator[tuple[str, int]]:
    """A throwaway PostgreSQL cluster on a free loopback port (the one `make up STACK_USAGE=postgres` starts)."""
    state = Path(tempfile.mkdtemp(prefix="llmgw-sink-bench-pg-"))
    cfg = StackConfig(state_dir=state, postgres_port=free_ports(1)[0])
    try:
        proc = launch(postgres_spec(cfg, state), state / "logs")
    except StackError as exc:
        raise SystemExit(f"PostgreSQL could not start: {exc}") from exc
    try:
        wait_postgres(cfg.host, cfg.postgres_port)
        yield stack_dsn(cfg), proc.pid
    finally:
        terminate(proc)
        remove_cluster(state)


def main() -> None:
    """Print both sinks and the difference at each concurrency."""
    parser = argparse.ArgumentParser(description="What the usage sink adds to one request.")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    args = parser.parse_args()
    for concurrency in args.concurrency:
        base = measure("jsonl", requests=args.requests, concurrency=concurrency)
        pg = measure("postgres", requests=args.requests, concurrency=concurrency)
        print(f"  PostgreSQL adds {pg['cpu_ms_per_request'] - base['cpu_ms_per_request']:+.4f} ms CPU, "
              f"{pg['p50_ms'] - base['p50_ms']:+.4f} ms p50 per request "
              f"(concurrency {concurrency})", flush=True)


if __name__ == "__main__":
    main()
