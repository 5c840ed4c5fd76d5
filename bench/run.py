"""`make bench`: the gateway side by side with the mock, the full edge path and the LiteLLM proxy.

Targets, all on loopback, all against the same mock upstream, measured in the same run:

  mock     the mock upstream directly (the floor: what the network + a minimal server cost)
  gateway  one gateway alone (uvicorn, one worker, env secrets backend), plain HTTP
  edge     nginx + TLS + gateway: the local stack's full path (auth at the edge, rate limits raised)
  litellm  the LiteLLM proxy 1.108.7 (one worker, no database), same mock as an openai-compatible model

For each: p50/p95/p99 latency and throughput at closed-loop concurrency 1, 8, 32, 64 (streamed: 1, 8, 64,
256); SSE time to first chunk; server CPU time per request (/proc utime+stime deltas); peak memory
(VmHWM). Repeated runs are interleaved (rep 1 of every target, then rep 2, ...) and reduced with the median.

    .venv/bin/python bench/run.py [--quick] [--reps N] [--duration S] [--skip-litellm]

The load generator (bench/loadgen.py) runs in its own process; its CPU use is reported next to the
servers' so the report shows it is not the bottleneck.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "services"))

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor_report import floor_console  # noqa: E402
from floor_report import workers_markdown as workers_md  # noqa: E402
from provenance import describe, source  # noqa: E402
from report import LABELS, TARGETS, console_table, fmt, med, reduce, summarize, write_report  # noqa: E402
from targets import BENCH_DIR, Env, environment, say  # noqa: E402

LOADGEN = Path(__file__).resolve().parent / "loadgen.py"
FLOOR = Path(__file__).resolve().parent / "floor.py"
WORKERS = Path(__file__).resolve().parent / "workers.py"
MODEL = "gpt-4o-mini"
LEVELS = (1, 8, 32, 64)
STREAM_LEVELS = (1, 8, 64, 256)  # 256 concurrent streams: does CPU per stream stay flat?
SUSTAINED_S = 10.0  # the reported (full) mode: seconds measured per level and repetition


def host_speed() -> dict:
    """A fixed pure-Python workload (ms; lower is faster) and the load average: how busy the host is."""
    t0 = time.perf_counter()
    acc = 0
    for i in range(3_000_000):
        acc += i * i % 7
    return {"workload_ms": round((time.perf_counter() - t0) * 1000, 1), "load1": round(os.getloadavg()[0], 2)}


# -- measuring --------------------------------------------------------------------------------------------
def loadgen(env: Env, target: str, levels: tuple[int, ...], stream: bool, duration: float, warmup: float,
            max_requests: int, path: str | None = None, body: str | None = None) -> list[dict]:
    url = env.urls[target].replace("/v1/chat/completions", path) if path else env.urls[target]
    cmd = [sys.executable, str(LOADGEN), "--url", url, "--levels", ",".join(map(str, levels)),
           "--duration", str(duration), "--warmup", str(warmup), "--max-requests", str(max_requests),
           "--model", MODEL] + (["--body", body] if body else [])
    if stream:
        cmd.append("--stream")
    for h in env.headers[target]:
        cmd += ["--header", h]
    if env.urls[target].startswith("https"):
        cmd += ["--cafile", str(env.cafile)]
    for g, pids in env.groups[target].items():
        cmd += ["--group", f"{g}={','.join(map(str, pids))}"]
    budget = len(levels) * (duration + warmup + 70) + 30
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=budget, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"loadgen failed for {target}: {out.stderr[-2000:]}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def embeddings_cpu(env: Env, reps: int, duration: float, warmup: float, max_requests: int) -> str:
    """CPU the gateway alone adds per `POST /v1/embeddings` (8 texts, 1,536 dimensions), at concurrency 8."""
    body = json.dumps({"model": "text-embedding-3-small", "input": [f"benchmark text number {i}" for i in range(8)]})
    rows = [loadgen(env, "gateway", (8,), False, duration, warmup, max_requests, "/v1/embeddings", body)[0]
            for _ in range(reps)]
    if any(r["errors"] or not r["requests"] for r in rows):
        raise RuntimeError(f"embeddings benchmark failed: statuses {[r['statuses'] for r in rows]}")
    gateway_ms = med([r["cpu"]["server"]["ms_per_req"] for r in rows])
    mock_ms = med([r["cpu"]["mock"]["ms_per_req"] for r in rows])
    say(f"  embeddings via the gateway alone: {fmt(gateway_ms, '.2f')} ms CPU/request in the gateway "
        f"({fmt(mock_ms, '.2f')} in the mock), {med([r['rps'] for r in rows]):.0f} req/s at concurrency 8")
    return (f"embeddings (gateway alone, 8 texts × 1,536 dimensions per request, concurrency 8): "
            f"{fmt(gateway_ms, '.2f')} ms gateway CPU per request ({fmt(mock_ms, '.2f')} ms in the mock)")


def floor(env: Env, reps: int, duration: float, target_duration: float, quick: bool) -> dict:
    """The floor and the overhead split (bench/floor.py) against this run's mock."""
    mock = env.urls["mock"].removesuffix("/v1/chat/completions")
    # A stream takes ~40 ms: its windows are longer, to average over as many requests as the plain ones.
    # The variants the targets are computed from get the main levels' sustained windows.
    cmd = [sys.executable, str(FLOOR), "--mock-url", mock, "--reps", str(reps), "--duration", str(duration),
           "--stream-duration", str(duration * 3), "--target-duration", str(target_duration),
           "--warmup", "0.1" if quick else "0.2",
           "--state", str(BENCH_DIR / "state" / "floor")]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"floor bench failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def workers(env: Env, reps: int, duration: float) -> dict:
    """GATEWAY_WORKERS=1 vs 2 (bench/workers.py) against this run's mock."""
    mock = env.urls["mock"].removesuffix("/v1/chat/completions")
    cmd = [sys.executable, str(WORKERS), "--mock-url", mock, "--reps", str(reps), "--duration", str(duration),
           "--state", str(BENCH_DIR / "state" / "workers")]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"workers bench failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def tree_hwm_kib(root: int) -> int:
    sys.path.insert(0, str(LOADGEN.parent))
    from loadgen import tree_pids

    total = 0
    for pid in tree_pids(root):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
    return total


def smoke(env: Env, target: str) -> None:
    """One request each way, so a broken target fails fast with its status."""
    for stream in (False, True):
        res = loadgen(env, target, (1,), stream, 0.3, 0.2, 50)[0]
        if res["errors"] or not res["requests"]:
            raise SystemExit(f"{target}: smoke test failed (stream={stream}): statuses {res['statuses']}")


# -- reducing and reporting ---------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a few minutes: 1 s windows, labelled as quick")
    p.add_argument("--reps", type=int, default=None)
    p.add_argument("--duration", type=float, default=None, help="seconds measured per level")
    p.add_argument("--warmup", type=float, default=None)
    p.add_argument("--max-requests", type=int, default=300000, help="per level and repetition (a bound, not a goal)")
    p.add_argument("--chunk-delay-ms", type=float, default=2.0, help="mock pause between streamed chunks")
    p.add_argument("--secrets-backend", default=os.environ.get("STACK_SECRETS_BACKEND", "vault"),
                   choices=("vault", "env"), help="backend of the edge path's gateway")
    p.add_argument("--targets", default=",".join(TARGETS))
    p.add_argument("--skip-litellm", action="store_true")
    p.add_argument("--skip-floor", action="store_true", help="leave out the floor and overhead split")
    p.add_argument("--skip-workers", action="store_true", help="leave out GATEWAY_WORKERS=1 vs 2")
    p.add_argument("--litellm-bin", default=str(BENCH_DIR / "venv" / "bin" / "litellm"))
    p.add_argument("--plot-python", default=str(BENCH_DIR / "venv" / "bin" / "python"))
    p.add_argument("--report", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--png", type=Path, default=REPO / "docs" / "benchmarks.png")
    p.add_argument("--json", type=Path, default=BENCH_DIR / "results.json")
    p.add_argument("--hold", action="store_true", help="keep the targets running after the run (profiling)")
    args = p.parse_args(argv)
    reps = args.reps or 3
    duration = args.duration or (1.0 if args.quick else SUSTAINED_S)
    warmup = args.warmup if args.warmup is not None else (0.3 if args.quick else 0.5)
    targets = [t for t in args.targets.split(",") if t in TARGETS]
    if args.skip_litellm:
        targets = [t for t in targets if t != "litellm"]
    else:
        args.skip_litellm = "litellm" not in targets
    started = time.monotonic()
    code = source(REPO)  # what is measured is what is checked out now
    speed_before = host_speed()
    say(f"measuring {describe(code)}")
    say(f"host speed at start: {speed_before['workload_ms']} ms for the reference workload, "
        f"1-minute load {speed_before['load1']} on {os.cpu_count()} CPUs"
        + ("  [QUICK MODE: short windows, not the reported figures]" if args.quick else
           f"  [sustained mode: {duration:.0f} s per level]"))
    runs = len(targets) * (len(LEVELS) + len(STREAM_LEVELS)) * reps
    say(f"bench: {len(targets)} targets × {len(LEVELS)}+{len(STREAM_LEVELS)} levels × {reps} reps × "
        f"{duration + warmup:.1f} s ≈ {runs * (duration + warmup + 0.3) / 60:.1f} min of load after start-up")
    raw: dict[str, list[list[dict]]] = {t: [] for t in targets}
    mem: dict[str, dict[str, int]] = {}
    with environment(args) as env:
        for t in targets:
            smoke(env, t)
        say(f"• all targets answer ({time.monotonic() - started:.0f} s); measuring")
        for rep in range(1, reps + 1):
            for t in targets:
                rows = loadgen(env, t, LEVELS, False, duration, warmup, args.max_requests)
                rows += loadgen(env, t, STREAM_LEVELS, True, duration, warmup, args.max_requests)
                raw[t].append(rows)
                brief = "  ".join(f"{'s' if r['stream'] else 'c'}{r['concurrency']}:"
                                  f"{r['rps']:.0f}/s p50 {r['p50_ms']:.1f}ms"
                                  + (f" ttfc {r['ttfc_p50_ms']:.1f}" if r["stream"] and r["ttfc_p50_ms"] else "")
                                  + (f" ERR {r['errors']}" if r["errors"] else "") for r in rows)
                say(f"  rep {rep}/{reps} {LABELS[t]:<18} {brief}  [{time.monotonic() - started:.0f} s]")
        for t in targets:
            mem[t] = {name: sum(tree_hwm_kib(pid) for pid in pids) for name, pids in env.mem_pids[t].items()}
        notes = list(env.notes)
        if "gateway" in targets:
            notes.append(embeddings_cpu(env, reps, duration, warmup, args.max_requests))
        floor_doc: dict = {}
        if not args.skip_floor:
            say("• the floor and the overhead split (bench/floor.py)")
            floor_doc = floor(env, 1 if args.quick else reps, 0.5 if args.quick else 1.0, duration, args.quick)
            say(floor_console(floor_doc))
        workers_doc: dict = {}
        if not args.skip_workers:
            say("• one worker vs two (bench/workers.py)")
            workers_doc = workers(env, 1 if args.quick else 2, 1.0 if args.quick else 5.0)
            for row in workers_doc["rows"]:
                say(f"  workers={row['workers']} {row['level']:>6}: {row['rps']:.0f} rps, "
                    f"{row['cpu_ms']:.2f} ms CPU/request, util {row['util']:.0%}")
        if args.hold:
            say("• holding the targets (Ctrl-C to stop): " + json.dumps(env.urls))
            with contextlib.suppress(KeyboardInterrupt):
                time.sleep(3600)
    res = reduce(raw)
    summary = summarize(res, mem)
    loadgen_us = med([v["loadgen_cpu_us_per_req"] for lv in res.values() for v in lv.values()])
    litellm_version = "not run"
    if not args.skip_litellm:
        with contextlib.suppress(Exception):
            litellm_version = subprocess.run(
                [args.plot_python, "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
                capture_output=True, text=True, timeout=60, check=False).stdout.strip() or "?"
    meta = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "mode": "quick" if args.quick else "sustained",
            "reps": reps, "duration": duration, "warmup": warmup, "cpus": os.cpu_count(),
            "python": sys.version.split()[0], "litellm": litellm_version, "chunk_delay_ms": args.chunk_delay_ms,
            "loadgen_us": fmt(loadgen_us, ".0f"), "notes": notes or ["none"], "source": code}
    speed_after = host_speed()
    say(f"host speed at end: {speed_after['workload_ms']} ms for the reference workload, "
        f"1-minute load {speed_after['load1']}")
    meta["host_speed"] = {"start": speed_before, "end": speed_after}
    meta["notes"].append(f"host speed (a fixed pure-Python workload, lower is faster) {speed_before['workload_ms']} ms "
                         f"at the start and {speed_after['workload_ms']} ms at the end; 1-minute load average "
                         f"{speed_before['load1']} before and {speed_after['load1']} after the run on "
                         f"{os.cpu_count()} CPUs (other work on the machine inflates latency and CPU time and lowers "
                         "throughput; compare figures within this run)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"meta": meta, "levels": res, "summary": summary, "raw": raw,
                                           "floor": floor_doc, "workers": workers_doc}, indent=1))
    png = args.png
    plot_py = Path(args.plot_python)
    if plot_py.exists():
        out = subprocess.run([str(plot_py), str(Path(__file__).parent / "plot.py"), str(args.json), str(png)],
                             capture_output=True, text=True, timeout=120, check=False)
        if out.returncode != 0:
            say(f"  ! plot failed: {out.stderr[-500:]}")
            png = None
    else:
        say(f"  ! {plot_py} missing: no plot (run `make bench`)")
        png = None
    args.report.parent.mkdir(parents=True, exist_ok=True)
    write_report(args.report, png, res, summary, meta, floor_doc, workers_md(workers_doc) if workers_doc else "")
    say("")
    say(console_table(summary))
    say("")
    say(f"(+ = added vs mock direct; ×LL = ratio vs LiteLLM; medians of {reps} reps; load generator "
        f"{meta['loadgen_us']} µs CPU/request)")
    say(f"report: {args.report}  plot: {png}  raw: {args.json}  [{time.monotonic() - started:.0f} s]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
