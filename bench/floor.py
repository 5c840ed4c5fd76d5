"""The floor and the overhead split, per provider, in one process and one event loop (uvloop).

    .venv/bin/python bench/floor.py --mock-url http://127.0.0.1:PORT [--providers openai,anthropic,cohere]
        [--levels 1,8] [--reps 3] [--duration 1.5] [--stream-duration 3] [--target-duration 10] [--slices 5]
        [--warmup 0.3] [--state DIR]

Variants (bench/floor_variants.py), measured interleaved (rep 1 of every variant, then rep 2, ...):
  bare        the provider's LangChain chat model `ainvoke` / `astream` (the floor: same class, same mock)
  convert     + the gateway's conversions and serialisation (chat.complete, orjson)
  full        the whole app over raw ASGI (middleware, auth, in-process limiter, metrics, access log, JSONL audit)
  -X          full with component X switched off;  +redis / +postgres: full with that backend
  -direct     full with FastAPI routing the request (GATEWAY_DIRECT_ROUTES=false, gateway/api/direct.py)
  served      the bare call behind a minimal ASGI app under uvicorn (bench/served_floor.py), a subprocess
  uvicorn     `python -m gateway` (uvicorn, httptools, uvloop) in a subprocess
CPU is this process's (or the subprocess's, every thread's, in ns from /proc/<pid>/task/*/schedstat) CPU time
per request; the mock's CPU is never included. Streamed windows last --stream-duration (a stream is ~40 ms).
The variants the overhead targets are computed from (bare, served, uvicorn; plain and streamed) are measured
--target-duration seconds each per level and repetition, in --slices windows taken in turn (bare, served, uvicorn,
then uvicorn, served, bare, ...): a shared machine's speed drifts by several per cent over minutes, so the
overheads are the medians of the differences within each turn (`paired`), not differences of medians taken
minutes apart. The toggled split uses the shorter windows.
Prints one JSON document on stdout. Every loop is bounded by time and count.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent / "services"), str(BENCH)]

from floor_report import REST, SPLIT, TOGGLED  # noqa: E402
from floor_services import backing_services  # noqa: E402
from floor_variants import (  # noqa: E402
    APP_VARIANTS,
    UPSTREAM_KEY,
    Keys,
    Provider,
    app_variant,
    bare,
    configure_logs,
    convert,
    provider,
)
from loadgen import Conn as RawConn  # noqa: E402
from loadgen import build_target, cpu_of, tree_pids  # noqa: E402

from devstack.ports import free_ports  # noqa: E402
from devstack.procs import ProcessSpec, launch, stop, wait_ready  # noqa: E402
from devstack.procs import start_time as proc_start  # noqa: E402

Measure = Callable[[], Awaitable[bool]]


SCHEDSTAT = Path("/proc/self/schedstat").exists()  # kernels built without CONFIG_SCHEDSTATS have none


def sched_cpu_s(pid: int) -> float:
    """CPU seconds of `pid`'s process tree, every thread, from the scheduler's ns counters.

    /proc/<pid>/stat counts in clock ticks (10 ms), too coarse for windows of a few hundred requests;
    falls back to it where the kernel has no schedstat (a thread that exited during a window is lost
    either way: the servers measured keep theirs). A thread or process that ends while it is read is left
    out alone: both readings of a window must be the same measure."""
    if not SCHEDSTAT:
        return cpu_of([pid])
    total = 0
    for proc in tree_pids(pid):
        try:
            tasks = list(Path(f"/proc/{proc}/task").iterdir())
        except OSError:
            continue  # the process ended meanwhile
        for task in tasks:
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue  # the thread ended meanwhile
    return total / 1e9


async def window(once: Measure, conc: int, duration: float, warmup: float, max_requests: int,
                 pid: int | None) -> dict:
    """Closed loop of `conc` tasks; CPU of this process (or of `pid`'s tree) per completed request."""
    lat: list[float] = []
    errors = [0]
    measuring = [False]
    end = [time.perf_counter() + warmup + duration + 30]

    async def worker() -> None:
        while time.perf_counter() < end[0] and len(lat) + errors[0] < max_requests:
            t0 = time.perf_counter()
            try:
                ok = await once()
            except Exception:  # noqa: BLE001 — counted, the window goes on
                ok = False
            if measuring[0]:
                if ok:
                    lat.append(time.perf_counter() - t0)
                else:
                    errors[0] += 1

    tasks = [asyncio.create_task(worker()) for _ in range(conc)]
    await asyncio.sleep(warmup)
    measuring[0] = True
    c0 = sched_cpu_s(pid) if pid else time.process_time()
    w0 = time.perf_counter()
    end[0] = w0 + duration
    await asyncio.wait(tasks, timeout=duration + 30)
    for t in tasks:
        t.cancel()
    wall = time.perf_counter() - w0
    cpu = (sched_cpu_s(pid) if pid else time.process_time()) - c0
    n = len(lat) + errors[0]
    return {"n": len(lat), "errors": errors[0], "cpu_ms": cpu * 1000 / n if n else None,
            "p50_ms": statistics.median(lat) * 1000 if lat else None, "rps": len(lat) / wall if wall else 0}


def spawn_gateway(p: Provider, keys: Keys, state: Path, records: list[dict]) -> tuple[int, str]:
    """`python -m gateway` for `p`, configured like the in-process `full` variant."""
    port = free_ports(1)[0]
    spec = ProcessSpec(f"floor-gateway-{p.name}", [sys.executable, "-m", "gateway"], env={
        "PYTHONPATH": str(BENCH.parent / "services"), "GATEWAY_PROVIDER": p.name, "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(port), "GATEWAY_UPSTREAM_BASE_URL": p.base_url, "GATEWAY_SECRETS_BACKEND": "env",
        "GATEWAY_CLIENT_KEYS_FILE": str(keys.path), "GATEWAY_MAX_RETRIES": "0",
        "GATEWAY_AUDIT_LOG": str(state / "audit" / f"floor-{p.name}-uvicorn.log"),
        "OPENAI_API_KEY": UPSTREAM_KEY, "ANTHROPIC_API_KEY": UPSTREAM_KEY, "COHERE_API_KEY": UPSTREAM_KEY,
    }, env_remove=("VAULT_TOKEN", "GATEWAY_WORKERS"), ready_url=f"http://127.0.0.1:{port}/readyz")
    return _started(spec, state, records), f"http://127.0.0.1:{port}/v1/chat/completions"


def spawn_served(p: Provider, mock_url: str, keys: Keys, state: Path, records: list[dict]) -> tuple[int, str]:
    """bench/served_floor.py for `p`: the bare call behind a minimal ASGI app, same uvicorn options."""
    port = free_ports(1)[0]
    spec = ProcessSpec(f"floor-served-{p.name}", [sys.executable, str(BENCH / "served_floor.py")], env={
        "FLOOR_PROVIDER": p.name, "FLOOR_MOCK_URL": mock_url, "FLOOR_KEYS_FILE": str(keys.path),
        "FLOOR_PORT": str(port),
    }, env_remove=("VAULT_TOKEN", "GATEWAY_WORKERS"), ready_url=f"http://127.0.0.1:{port}/")
    return _started(spec, state, records), f"http://127.0.0.1:{port}/v1/chat/completions"


def _started(spec: ProcessSpec, state: Path, records: list[dict]) -> int:
    proc = launch(spec, state / "logs")
    records.append({"name": spec.name, "pid": proc.pid, "start": proc_start(proc.pid)})
    wait_ready(spec, proc, state / "logs", deadline_s=60)
    return proc.pid


def over_http(url: str, body: bytes, key: str, stream: bool) -> Measure:
    """One request over a keep-alive connection per task (the load generator's client)."""
    target = build_target(url, body, [f"Authorization: Bearer {key}"], stream, None)
    conns: dict[asyncio.Task | None, RawConn] = {}

    async def once() -> bool:
        conn = conns.setdefault(asyncio.current_task(), RawConn(target))
        status, _first, nbytes, keep = await conn.request()
        if not keep:
            conn.close()
        return status == 200 and nbytes > 0

    return once


async def run(a: argparse.Namespace) -> dict:
    state = Path(a.state)
    (state / "audit").mkdir(parents=True, exist_ok=True)
    configure_logs(state)
    providers = tuple(a.providers.split(","))
    keys = Keys.create(state, providers)
    records: list[dict] = []
    notes: list[str] = []
    plan: list[tuple[str, str, bool, Measure, Callable[[bool], None] | None, int | None]] = []
    async with contextlib.AsyncExitStack() as stack:
        services = backing_services(stack, state, records, notes) if not a.no_services else {}
        for name in providers:
            p = provider(name, a.mock_url, state, keys)
            plan.append((name, "bare", False, bare(p, False), None, None))
            plan.append((name, "convert", False, convert(p), None, None))
            for v in APP_VARIANTS:
                if (v == "+redis" and "redis" not in services) or (v == "+postgres" and "postgres" not in services):
                    continue
                once, switch = await app_variant(stack, p, keys, state, v, False, services)
                plan.append((name, v, False, once, switch, None))
            served_pid, served_url = spawn_served(p, a.mock_url, keys, state, records)
            pid, url = spawn_gateway(p, keys, state, records)
            plan.append((name, "served", False, over_http(served_url, p.body, keys.limited, False), None, served_pid))
            plan.append((name, "uvicorn", False, over_http(url, p.body, keys.limited, False), None, pid))
            plan.append((name, "bare", True, bare(p, True), None, None))
            once, switch = await app_variant(stack, p, keys, state, "full", True, services)
            plan.append((name, "full", True, once, switch, None))
            plan.append((name, "served", True, over_http(served_url, p.stream_body, keys.limited, True), None,
                         served_pid))
            plan.append((name, "uvicorn", True, over_http(url, p.stream_body, keys.limited, True), None, pid))
        try:
            raw: dict[str, dict[str, dict[str, list[dict]]]] = {}
            levels = [int(x) for x in a.levels.split(",")]
            turns: dict[tuple[str, bool], list[tuple[str, Measure, int | None]]] = {}
            for name, variant, stream, once, _switch, pid in plan:
                if variant in TARGET_VARIANTS and a.target_duration:
                    turns.setdefault((name, stream), []).append((variant, once, pid))
            for rep in range(a.reps):
                for (name, stream), group in turns.items():
                    for conc in levels:
                        key = f"{'stream' if stream else 'plain'}-{conc}"
                        for turn in range(a.slices):  # ABC, CBA, ...: a linear drift weighs on each alike
                            for variant, once, pid in group if turn % 2 == 0 else group[::-1]:
                                res = await window(once, conc, a.target_duration / a.slices, a.warmup,
                                                   a.max_requests, pid)
                                res["turn"] = rep * a.slices + turn
                                raw.setdefault(name, {}).setdefault(key, {}).setdefault(variant, []).append(res)
                for name, variant, stream, once, switch, pid in plan:
                    if (name, stream) in turns and variant in TARGET_VARIANTS:
                        continue
                    for conc in levels:
                        if switch:
                            switch(True)
                        duration = a.stream_duration if stream else a.duration
                        res = await window(once, conc, duration, a.warmup, a.max_requests, pid)
                        key = f"{'stream' if stream else 'plain'}-{conc}"
                        raw.setdefault(name, {}).setdefault(key, {}).setdefault(variant, []).append(res)
                print(f"floor rep {rep + 1}/{a.reps} done", file=sys.stderr, flush=True)
        finally:
            for rec in reversed(records):
                stop(rec)
    return {"raw": raw, "notes": notes}


TARGET_VARIANTS = ("bare", "served", "uvicorn")  # the overhead targets come from these, measured in turns
PAIRS = {"uvicorn-bare": ("uvicorn", "bare"), "served-bare": ("served", "bare"),
         "uvicorn-served": ("uvicorn", "served")}


def paired(raw: dict) -> dict:
    """{provider: {level: {"uvicorn-bare": ms, ...}}}: the median of the CPU differences within each turn."""
    out: dict = {}
    for p, levels in raw.items():
        for lvl, variants in levels.items():
            row = {}
            for label, (a, b) in PAIRS.items():
                by_turn = {r["turn"]: r["cpu_ms"] for r in variants.get(b, []) if "turn" in r}
                diffs = [r["cpu_ms"] - by_turn[r["turn"]] for r in variants.get(a, [])
                         if r.get("turn") in by_turn and r["cpu_ms"] is not None and by_turn[r["turn"]] is not None]
                if diffs:
                    row[label] = statistics.median(diffs)
            if row:
                out.setdefault(p, {})[lvl] = row
    return out


def reduce(raw: dict) -> dict:
    """Median per provider, level and variant."""
    def med(xs: list) -> float | None:
        vals = [x for x in xs if x is not None]
        return statistics.median(vals) if vals else None

    return {p: {lvl: {v: {"cpu_ms": med([r["cpu_ms"] for r in rs]), "p50_ms": med([r["p50_ms"] for r in rs]),
                          "rps": med([r["rps"] for r in rs]), "errors": sum(r["errors"] for r in rs),
                          "n": sum(r["n"] for r in rs)}
                      for v, rs in variants.items()} for lvl, variants in levels.items()}
            for p, levels in raw.items()}


def splits(levels: dict, pairs: dict | None = None) -> dict:
    """{provider: {level: {label: ms}}} from the reduced medians (None where a variant is missing).

    The rows between the target variants come from `pairs` (bench/floor.py's `paired`) where it has them."""
    out: dict = {}
    for p, lv in levels.items():
        for key, vs in lv.items():
            if not key.startswith("plain"):
                continue
            row = {}
            within = (pairs or {}).get(p, {}).get(key, {})
            for label, a, b in SPLIT:
                va = (vs.get(a) or {}).get("cpu_ms")
                vb = 0.0 if b is None else (vs.get(b) or {}).get("cpu_ms")
                row[label] = within.get(f"{a}-{b}", None if va is None or vb is None else va - vb)
            full, convert = ((vs.get(v) or {}).get("cpu_ms") for v in ("full", "convert"))
            parts = [row[k] for k in TOGGLED]
            row[REST] = None if full is None or convert is None or None in parts else full - convert - sum(parts)
            out.setdefault(p, {})[key] = row
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mock-url", required=True)
    ap.add_argument("--providers", default="openai,anthropic,cohere")
    ap.add_argument("--levels", default="1,8")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=float, default=1.5, help="seconds per window, plain requests")
    ap.add_argument("--stream-duration", type=float, default=3.0, help="seconds per window, streamed requests")
    ap.add_argument("--target-duration", type=float, default=0.0,
                    help="seconds each for bare, served and uvicorn per level and repetition, measured in turns "
                         "(0: in windows like the other variants)")
    ap.add_argument("--slices", type=int, default=5, help="turns the --target-duration is split into")
    ap.add_argument("--warmup", type=float, default=0.3)
    ap.add_argument("--max-requests", type=int, default=5000)
    ap.add_argument("--state", default=str(BENCH.parent / ".bench" / "floor"))
    ap.add_argument("--no-services", action="store_true", help="skip Redis and PostgreSQL")
    a = ap.parse_args(argv)
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    os.environ.pop("GATEWAY_WORKERS", None)
    out = asyncio.run(run(a))
    levels = reduce(out["raw"])
    pairs = paired(out["raw"])
    print(json.dumps({"levels": levels, "paired": pairs, "splits": splits(levels, pairs), "raw": out["raw"],
                      "notes": out["notes"],
                      "settings": {"reps": a.reps, "duration": a.duration, "stream_duration": a.stream_duration,
                                   "target_duration": a.target_duration, "slices": a.slices,
                                   "levels": a.levels}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
