"""One gateway with GATEWAY_WORKERS=1 and =2 against the same mock: throughput and CPU per request.

    .venv/bin/python bench/workers.py --mock-url http://127.0.0.1:PORT [--levels 8,64] [--reps 2] [--duration 5]
        [--append-report docs/benchmarks.md]

Both configurations use the Redis limiter (what several workers require) and a client key with limits, so
the only difference is the worker count. CPU is the whole process tree (supervisor + workers) from /proc.
Repetitions are interleaved; medians are printed as one JSON document (and, with --append-report, as a
Markdown section appended to the report). Every loop is bounded by time and count.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent / "services"), str(BENCH)]

from floor_report import workers_markdown  # noqa: E402
from floor_services import backing_services  # noqa: E402
from floor_variants import UPSTREAM_KEY, Keys  # noqa: E402

from devstack.ports import free_ports  # noqa: E402
from devstack.procs import ProcessSpec, launch, stop, wait_ready  # noqa: E402
from devstack.procs import start_time as proc_start  # noqa: E402


def gateway(workers: int, mock: str, keys: Keys, redis: str, state: Path, records: list[dict]) -> tuple[int, str]:
    """Start `python -m gateway` with `workers` processes; return (supervisor pid, chat URL)."""
    port = free_ports(1)[0]
    spec = ProcessSpec(f"workers-{workers}", [sys.executable, "-m", "gateway"], env={
        "PYTHONPATH": str(BENCH.parent / "services"), "GATEWAY_PROVIDER": "openai", "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(port), "GATEWAY_UPSTREAM_BASE_URL": f"{mock}/v1", "GATEWAY_SECRETS_BACKEND": "env",
        "GATEWAY_CLIENT_KEYS_FILE": str(keys.path), "GATEWAY_WORKERS": str(workers),
        "GATEWAY_LIMITS_BACKEND": "redis", "GATEWAY_REDIS_URL": redis, "OPENAI_API_KEY": UPSTREAM_KEY,
        "GATEWAY_AUDIT_LOG": str(state / "audit" / f"workers-{workers}.log"),
        "PROMETHEUS_MULTIPROC_DIR": str(state / f"metrics-{workers}"),
    }, env_remove=("VAULT_TOKEN",), ready_url=f"http://127.0.0.1:{port}/readyz")
    proc = launch(spec, state / "logs")
    records.append({"name": spec.name, "pid": proc.pid, "start": proc_start(proc.pid)})
    wait_ready(spec, proc, state / "logs", deadline_s=90)
    return proc.pid, f"http://127.0.0.1:{port}/v1/chat/completions"


def load(url: str, key: str, pid: int, levels: str, duration: float, stream: bool) -> list[dict]:
    cmd = [sys.executable, str(BENCH / "loadgen.py"), "--url", url, "--levels", levels, "--duration", str(duration),
           "--warmup", "0.5", "--max-requests", "200000", "--header", f"Authorization: Bearer {key}",
           "--group", f"server={pid}"] + (["--stream"] if stream else [])
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=len(levels.split(",")) * (duration + 80),
                         check=True)
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mock-url", required=True)
    ap.add_argument("--levels", default="8,64")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--state", default=str(BENCH.parent / ".bench" / "workers"))
    ap.add_argument("--append-report", type=Path)
    a = ap.parse_args(argv)
    state = Path(a.state)
    (state / "audit").mkdir(parents=True, exist_ok=True)
    records: list[dict] = []
    notes: list[str] = []
    raw: dict[tuple[int, str], list[dict]] = {}
    try:
        services = backing_services(contextlib.AsyncExitStack(), state, records, notes, postgres=False)
        if "redis" not in services:
            raise SystemExit("bench/workers.py needs redis-server: " + "; ".join(notes))
        keys = Keys.create(state, ("openai",))
        gws = {w: gateway(w, a.mock_url, keys, services["redis"], state, records) for w in (1, 2)}
        for _ in range(a.reps):
            for w, (pid, url) in gws.items():
                for stream in (False, True):
                    for r in load(url, keys.limited, pid, a.levels, a.duration, stream):
                        raw.setdefault((w, f"{'SSE ' if stream else ''}{r['concurrency']}"), []).append(r)
    finally:
        for rec in reversed(records):
            stop(rec)
    rows = [{"workers": w, "level": lvl, "rps": statistics.median(r["rps"] for r in rs),
             "p50_ms": statistics.median(r["p50_ms"] for r in rs),
             "cpu_ms": statistics.median(r["cpu"]["server"]["ms_per_req"] or 0 for r in rs),
             "util": statistics.median(r["cpu"]["server"]["util"] or 0 for r in rs),
             "errors": sum(r["errors"] for r in rs)} for (w, lvl), rs in raw.items()]
    doc = {"reps": a.reps, "duration": a.duration, "rows": rows, "notes": notes,
           "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if a.append_report:
        with a.append_report.open("a") as fh:
            fh.write("\n" + workers_markdown(doc))
    print(json.dumps(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
