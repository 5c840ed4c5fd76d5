"""Closed-loop HTTP/1.1 load generator (stdlib asyncio + uvloop when present).

A deliberately thin client: one keep-alive connection per virtual user, the request
bytes built once, a minimal response parser (Content-Length or chunked). That keeps its
own cost at a few tens of microseconds per request, which it measures and reports
(`loadgen_cpu_us_per_req`) so the report can show it is not the bottleneck.

Run as a subprocess by `bench/run.py`:

    python bench/loadgen.py --url http://127.0.0.1:PORT/v1/chat/completions --levels 1,8 \
        --duration 5 --warmup 0.5 --max-requests 20000 [--stream] [--header 'authorization: Bearer x'] \
        [--cafile ca.pem] [--group server=123,456]

It prints one JSON object per level on stdout. Every loop is bounded by time and count.
Only loopback targets are accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import os
import ssl
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float:
    """utime+stime of one process in seconds (0 when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def tree_pids(root: int) -> list[int]:
    """`root` and all its descendants (via /proc/<pid>/task/*/children)."""
    out, todo = [], [root]
    while todo and len(out) < 512:
        pid = todo.pop()
        out.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo.extend(int(c) for c in task.read_text().split())
    return out


def cpu_of(roots: list[int]) -> float:
    """CPU seconds of the process trees under `roots`."""
    return sum(proc_cpu_s(p) for r in roots for p in tree_pids(r))


@dataclass
class Target:
    host: str
    port: int
    path: str
    tls: ssl.SSLContext | None
    request: bytes
    stream: bool


@dataclass
class Level:
    latencies: list[float] = field(default_factory=list)
    ttfc: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    bytes: int = 0


class Conn:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, target: Target) -> None:
        self.t = target
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.close()
        self.reader, self.writer = await asyncio.open_connection(
            self.t.host, self.t.port, ssl=self.t.tls, server_hostname=self.t.host if self.t.tls else None,
            limit=1 << 20)
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            import socket
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self) -> tuple[int, float | None, int, bool]:
        """Send the request and read the whole response: (status, first-chunk time, bytes, keep-alive)."""
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(self.t.request)
        r = self.reader
        head = await r.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, chunked, keep = None, False, True
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                keep = False
        first: float | None = None
        total = 0
        if chunked:
            while True:
                size = int((await r.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await r.readuntil(b"\r\n")
                    break
                data = await r.readexactly(size + 2)
                if first is None and b"data:" in data:
                    first = time.perf_counter()
                total += size
        elif length is not None:
            data = await r.readexactly(length)
            total = length
            if b"data:" in data[:64]:
                first = time.perf_counter()
        else:  # read to EOF
            data = await r.read()
            total, keep = len(data), False
        return status, first, total, keep


async def user(target: Target, level: Level, start_evt: asyncio.Event, t_end: list[float],
               budget: list[int], measuring: list[bool]) -> None:
    conn = Conn(target)
    await start_evt.wait()
    try:
        while time.perf_counter() < t_end[0] and budget[0] > 0:
            if measuring[0]:  # warm-up requests are bounded by time only
                budget[0] -= 1
            t0 = time.perf_counter()
            retried = False
            while True:
                try:
                    status, first, nbytes, keep = await conn.request()
                    break
                except (asyncio.IncompleteReadError, ConnectionError, OSError, ValueError):
                    conn.close()  # the server closed an idle keep-alive connection: reconnect once
                    if retried:
                        status, first, nbytes, keep = -1, None, 0, False
                        break
                    retried = True
            t1 = time.perf_counter()
            if not keep:
                conn.close()
            if not measuring[0]:
                continue
            level.statuses[status] = level.statuses.get(status, 0) + 1
            if status != 200:
                level.errors += 1
                continue
            level.latencies.append(t1 - t0)
            level.bytes += nbytes
            if first is not None:
                level.ttfc.append(first - t0)
    finally:
        conn.close()


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))
    return s[k]


async def run_level(target: Target, conc: int, duration: float, warmup: float, max_requests: int,
                    groups: dict[str, list[int]]) -> dict:
    level = Level()
    start_evt = asyncio.Event()
    measuring = [False]
    t_end = [time.perf_counter() + warmup + duration + 60]
    budget = [max_requests]
    tasks = [asyncio.create_task(user(target, level, start_evt, t_end, budget, measuring)) for _ in range(conc)]
    start_evt.set()
    await asyncio.sleep(warmup)
    measuring[0] = True
    srv0 = {g: cpu_of(p) for g, p in groups.items()}
    me0, w0 = time.process_time(), time.perf_counter()
    t_end[0] = w0 + duration
    await asyncio.wait(tasks, timeout=duration + 60)
    for t in tasks:
        t.cancel()
    w1, me1 = time.perf_counter(), time.process_time()
    srv1 = {g: cpu_of(p) for g, p in groups.items()}
    n = len(level.latencies)
    done = n + level.errors
    wall = w1 - w0
    ms = 1000.0
    return {
        "concurrency": conc, "stream": target.stream, "requests": n, "errors": level.errors,
        "statuses": {str(k): v for k, v in level.statuses.items()}, "wall_s": wall,
        "rps": n / wall if wall > 0 else 0.0,
        "p50_ms": (pct(level.latencies, 50) or 0) * ms, "p95_ms": (pct(level.latencies, 95) or 0) * ms,
        "p99_ms": (pct(level.latencies, 99) or 0) * ms,
        "ttfc_p50_ms": (pct(level.ttfc, 50) or 0) * ms if level.ttfc else None,
        "ttfc_p95_ms": (pct(level.ttfc, 95) or 0) * ms if level.ttfc else None,
        "cpu": {g: {"s": srv1[g] - srv0[g], "ms_per_req": (srv1[g] - srv0[g]) * ms / done if done else None,
                    "util": (srv1[g] - srv0[g]) / wall if wall > 0 else None} for g in groups},
        "loadgen_cpu_util": (me1 - me0) / wall if wall > 0 else None,
        "loadgen_cpu_us_per_req": (me1 - me0) * 1e6 / done if done else None,
        "bytes_per_resp": level.bytes / n if n else 0,
    }


def build_target(url: str, body: bytes, headers: list[str], stream: bool, cafile: str | None) -> Target:
    u = urlsplit(url)
    host = u.hostname or "127.0.0.1"
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise SystemExit(f"loadgen: refusing non-loopback target {host}")
    port = u.port or (443 if u.scheme == "https" else 80)
    tls = None
    if u.scheme == "https":
        tls = ssl.create_default_context(cafile=cafile)
    hdrs = [f"POST {u.path} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json",
            f"Content-Length: {len(body)}", "Accept: application/json, text/event-stream", *headers]
    req = ("\r\n".join(hdrs) + "\r\n\r\n").encode() + body
    return Target(host, port, u.path, tls, req, stream)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True)
    p.add_argument("--levels", default="1,8,32,64")
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--warmup", type=float, default=0.5)
    p.add_argument("--max-requests", type=int, default=20000)
    p.add_argument("--stream", action="store_true")
    p.add_argument("--model", default="gpt-4o-mini")
    p.add_argument("--prompt", default="Benchmark request: answer with a short friendly greeting for the load test.")
    p.add_argument("--body", help="a JSON request body sent as is instead of the chat request (e.g. embeddings)")
    p.add_argument("--header", action="append", default=[])
    p.add_argument("--cafile")
    p.add_argument("--group", action="append", default=[],
                   help="NAME=PID[,PID...]: process trees whose CPU time is measured together (repeatable)")
    a = p.parse_args(argv)
    doc = {"model": a.model, "messages": [{"role": "user", "content": a.prompt}], "max_tokens": 64}
    if a.stream:
        doc["stream"] = True
    body = a.body.encode() if a.body else json.dumps(doc).encode()
    target = build_target(a.url, body, a.header, a.stream, a.cafile)
    groups = {}
    for spec in a.group:
        name, _, pids = spec.partition("=")
        groups[name] = [int(x) for x in pids.split(",") if x]
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    for conc in (int(x) for x in a.levels.split(",")):
        res = asyncio.run(run_level(target, conc, a.duration, a.warmup, a.max_requests, groups))
        print(json.dumps(res), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
