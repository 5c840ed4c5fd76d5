"""What the limiter adds to one request: client CPU per request and p50 on the response path.

`measure(backend)` drives the gateway's own request path for limits (`enforce.admit` before the upstream
call, `enforce.settle` after it) against `memory` (the embedded default) or `redis` (a throwaway loopback
redis-server unless `redis_url` is given), with a client whose every limit is set, so each request reserves
and settles tokens. CPU is this process' time (`time.process_time`), including the deferred settles, which
are flushed before the clock stops; latency is what the route awaits (compare p50 at concurrency 1: in this
closed loop, latency at concurrency C is mostly C requests' CPU queued on one event loop). The Redis
server's own CPU is reported apart when this script started it.

    .venv/bin/python bench/limiter_cost.py [--requests N] [--concurrency C]

prints both backends and the difference (the goal: Redis adds at most 0.3 ms CPU and 0.3 ms p50 per request).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))

from cost_rounds import RoundsCost

from gateway.limits import Limiter, Limits, build_limiter, enforce

# Every limit set, far above what the run uses: each request reserves and settles all four counters.
LIMITS = Limits(rpm=10_000_000, tpm=10_000_000_000, daily_tokens=10**15, monthly_tokens=10**15)
ESTIMATE, ACTUAL = 120, 87


class LimiterCost(RoundsCost):
    """What `measure` returns (the limiter backend measured)."""

    backend: str


def measure(backend: str, *, requests: int = 3000, concurrency: int = 1, redis_url: str | None = None,
            warmup: int = 300, rounds: int = 5) -> LimiterCost:
    """Run `requests` admit+settle cycles on `backend`; print and return CPU/request and p50 (ms).

    The cycles run in `rounds` rounds; CPU/request is the median round's (a shared machine's noise comes in
    bursts), p50/p99 are over every request.
    """
    with contextlib.ExitStack() as stack:
        server_pid = None
        if backend == "redis" and redis_url is None:
            redis_url, server_pid = stack.enter_context(_redis_server())
        result = asyncio.run(_run(backend, redis_url, requests, concurrency, warmup, server_pid, rounds))
    line = (f"limiter {backend:6} concurrency {concurrency:3}: {result['cpu_ms_per_request']:.4f} ms CPU/request, "
            f"p50 {result['p50_ms']:.4f} ms, p99 {result['p99_ms']:.4f} ms")
    if "server_cpu_ms_per_request" in result:
        line += f", redis-server {result['server_cpu_ms_per_request']:.4f} ms CPU/request"
    print(line)
    return result


async def _run(backend: str, redis_url: str | None, requests: int, concurrency: int, warmup: int,
               server_pid: int | None, rounds: int) -> LimiterCost:
    limiter = build_limiter(backend, redis_url)
    await limiter.start()
    per_round = max(1, requests // rounds)
    try:
        await _cycles(limiter, "bench-warmup", warmup, concurrency, [])
        await limiter.flush()
        server0 = _cpu_s(server_pid)
        latencies: list[float] = []
        cpu_rounds: list[float] = []
        wall0 = time.perf_counter()
        for _ in range(rounds):
            cpu0 = time.process_time()
            await _cycles(limiter, "bench", per_round, concurrency, latencies)
            await limiter.flush()  # deferred settles are part of the cost
            cpu_rounds.append((time.process_time() - cpu0) / per_round)
        wall = time.perf_counter() - wall0
        server = _cpu_s(server_pid) - server0
        status = limiter.status()
    finally:
        await limiter.close()
    assert not status.get("degraded") and not status.get("unsent_settles"), f"the limiter ran degraded: {status}"
    latencies.sort()
    requests = per_round * rounds
    result: LimiterCost = {
        "backend": backend, "requests": requests, "concurrency": concurrency,
        "cpu_ms_per_request": round(statistics.median(cpu_rounds) * 1000, 4),
        "cpu_ms_per_request_min": round(min(cpu_rounds) * 1000, 4),
        "p50_ms": round(statistics.median(latencies) * 1000, 4),
        "p99_ms": round(latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000, 4),
        "requests_per_s": round(requests / wall)}
    if server_pid is not None:
        result["server_cpu_ms_per_request"] = round(server * 1000 / requests, 4)
    return result


async def _cycles(limiter: Limiter, subject: str, requests: int, concurrency: int,
                  latencies: list[float]) -> None:
    """`concurrency` workers share `requests` cycles; each times admit + settle as a route awaits them."""
    left = [requests]

    async def worker() -> None:
        while left[0] > 0:
            left[0] -= 1
            started = time.perf_counter()
            res = await enforce.admit(limiter, subject, LIMITS, ESTIMATE)
            await enforce.settle(limiter, res, ACTUAL)
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def _cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) process `pid` has used; 0 for None."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def _redis_server() -> Iterator[tuple[str, int]]:
    """A loopback redis-server with no persistence on a free port, stopped afterwards."""
    binary = shutil.which("redis-server") or "/usr/sbin/redis-server"
    if not Path(binary).exists():
        raise SystemExit("redis-server is not installed: run `make limits-tools`")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="limiter-cost-") as workdir:
        proc = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                                 "--appendonly", "no", "--dir", workdir, "--daemonize", "no"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            _wait_port(port, proc)
            yield f"redis://127.0.0.1:{port}/0", proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_port(port: int, proc: subprocess.Popen[bytes], within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"redis-server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            if conn.recv(16).startswith(b"+PONG"):
                return
        time.sleep(0.05)
    raise SystemExit(f"redis-server did not answer on port {port} within {within_s:.0f} s")


def main() -> None:
    """Measure both backends and print what Redis adds."""
    parser = argparse.ArgumentParser(description="What the limiter adds to one request.")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    args = parser.parse_args()
    for concurrency in args.concurrency:
        memory = measure("memory", requests=args.requests, concurrency=concurrency)
        shared = measure("redis", requests=args.requests, concurrency=concurrency)
        cpu = shared["cpu_ms_per_request"] - memory["cpu_ms_per_request"]
        p50 = shared["p50_ms"] - memory["p50_ms"]
        print(f"  Redis adds {cpu:.4f} ms CPU/request (goal <= 0.3) and {p50:.4f} ms p50 (goal <= 0.3) "
              f"at concurrency {concurrency}")


if __name__ == "__main__":
    main()
