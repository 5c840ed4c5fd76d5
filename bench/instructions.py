"""Instructions per request above the floor, by component: the floor bench's split, counted instead of timed.

    .venv/bin/python bench/instructions.py [--mock-url http://127.0.0.1:PORT] [--providers openai,anthropic,cohere]
        [--requests 20] [--streams 5] [--windows 3] [--report docs/instructions.md] [--json FILE]

Without --mock-url it starts the mock itself (`python -m mockllm`), its chunks 60 ms apart (`make bench`: 2 ms):
a process under callgrind runs ~50 times slower, and chunks closer than that would reach it several per
read, which is not what a served stream sees and would make the streamed counts vary.
`make bench-instructions` runs it for the three providers and writes docs/instructions.md.

bench/floor.py times each variant in windows of a few seconds; its differences of a few hundredths of a
millisecond are noise on a shared machine (some come out negative). Here the same variants run under
valgrind's callgrind (bench/callgrind.py) and the figure is the number of instructions executed per
request: a variant's count repeats within ~1 %, a component's (a difference of two variants) within ~5 %.
Instructions are not time (a cache miss costs many), so the CPU-time figures stay those of `make bench`;
this ranks the components and shows what a change saves.

Each variant is counted in --windows windows of --requests (--streams) requests, and the lowest window is kept:
what lands in a window by chance only adds to it (a garbage collection, an upstream connection reopened after
a pause longer than the SDK's 5 s keep-alive, which on a loaded host the pauses between windows can be). A CI
host, counting one window of one stream, found the bare call ~1 million instructions above this machine's count
and above the full app's. Every window's count goes into the JSON document (`windows`); the page gives the spread.

The two servers also work while idle: uvicorn's main loop wakes ten times a second (~23 thousand instructions
a wake-up here). Under callgrind a request takes ~50 times as long as it does served hot, so that work would be
charged ~50 times over: a stream of 18 chunks 60 ms apart lasts over a second here (~40 ms in `make bench`, chunks
2 ms apart), and counted ~250 thousand instructions of wake-ups. Each server's idle rate is counted first, in a
window with no request, and what it would have done in each counted window's time is taken off that window's
count; the page gives the rate and the share taken off.

Variants, one request at a time (a process under callgrind runs ~50 times slower; counts do not depend on it):
  in one process (`--worker`, under callgrind): bare, convert, full and full minus one component
      (bench/floor_variants.py: the same definitions as the floor bench), plain and streamed (bare, full);
  as servers under callgrind, driven over HTTP from this process: `served` (bench/served_floor.py, the bare
      call behind a minimal app under uvicorn) and `uvicorn` (`python -m gateway`).
Progress goes to stderr; one JSON document to stdout (and --json); --report writes the Markdown page.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent / "services"), str(BENCH)]

from callgrind import Counted, missing_tools, wrap  # noqa: E402
from floor_variants import Keys, app_variant, bare, configure_logs, convert, provider  # noqa: E402
from instructions_report import markdown  # noqa: E402
from loadgen import Conn, build_target  # noqa: E402
from provenance import describe, source  # noqa: E402

from devstack.ports import free_ports  # noqa: E402
from devstack.procs import ProcessSpec, launch, stop, wait_ready  # noqa: E402
from devstack.procs import start_time as proc_start  # noqa: E402

# In-process variants (name, streamed); the app variants are those of bench/floor_variants.APP_VARIANTS.
WORKER_VARIANTS = (("bare", False), ("convert", False), ("full", False), ("-auth", False), ("-limiter", False),
                   ("-audit", False), ("-metrics", False), ("-access_log", False), ("-direct", False),
                   ("bare", True), ("full", True))
WARMUP = 15  # requests per variant before counting: first calls fill caches and import lazily
CHUNK_DELAY_MS = 60  # the started mock's pause between streamed chunks (see the module's docstring)
START_S = 900.0  # a Python process under callgrind takes ~1 minute to import the gateway on 2 cores
IDLE_S = 5.0  # the window in which a server's idle work is counted (50 of uvicorn's wake-ups)


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- the worker: in-process variants, under callgrind -------------------------------------------------------

async def worker(a: argparse.Namespace) -> None:
    """Run each variant's requests when the driver says `go` on stdin; report `ready`/`done` on stdout."""
    state = Path(a.state)
    configure_logs(state)
    keys = Keys(Path(a.keys_file), a.limited_key, a.unlimited_key)
    p = provider(a.provider, a.mock_url, state, keys)
    async with contextlib.AsyncExitStack() as stack:
        for name, stream in WORKER_VARIANTS:
            if name == "bare":
                once, switch = bare(p, stream), None
            elif name == "convert":
                once, switch = convert(p), None
            else:
                once, switch = await app_variant(stack, p, keys, state, name, stream, {})
            if switch:
                switch(True)
            n = a.streams if stream else a.requests
            for _ in range(WARMUP if not stream else max(3, WARMUP // 3)):
                await once()
            # What the variants before left behind (a dropped chat model's HTTP client and its TLS context, in
            # reference cycles) is collected now, not by a collection inside this variant's count: OpenAI's
            # `convert` counted ~80 k instructions a request of freeing the `bare` variant's SSL_CTX.
            gc.collect()
            for _ in range(a.windows):
                print(f"ready {name} {'stream' if stream else 'plain'}", flush=True)
                sys.stdin.readline()
                ok = 0
                for _ in range(n):
                    ok += bool(await once())
                print(f"done {ok}", flush=True)
                sys.stdin.readline()
            if switch:
                switch(False)
    print("end", flush=True)


# --- the driver --------------------------------------------------------------------------------------------

def _line(proc: subprocess.Popen[str], want: str) -> list[str]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith(want):
        raise RuntimeError(f"callgrind worker: expected {want!r}, got {line!r} (exit {proc.poll()})")
    return line.split()


Counts = dict[str, dict[str, float]]  # {"plain" | "stream": {variant: instructions per request}}
Windows = dict[str, dict[str, list[float]]]  # the same, each window's


def _windows(windows: list[float]) -> str:
    """The progress line's note of every window's count, when there were several (the lowest is kept)."""
    if len(windows) < 2:
        return ""
    return f" (lowest of {', '.join(f'{w / 1000:.1f}' for w in windows)})"


def in_process(a: argparse.Namespace, name: str, keys: Keys, state: Path) -> tuple[Counts, Windows]:
    """Instructions per request of every in-process variant of provider `name`: the lowest window's, and all."""
    cmd = wrap([sys.executable, __file__, "--worker", "--provider", name, "--mock-url", a.mock_url,
                "--state", str(state), "--keys-file", str(keys.path), "--limited-key", keys.limited,
                "--unlimited-key", keys.unlimited, "--requests", str(a.requests), "--streams", str(a.streams),
                "--windows", str(a.windows)],
               state / "callgrind")
    log = open(state / "logs" / f"instructions-worker-{name}.log", "w")
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
    out: Counts = {"plain": {}, "stream": {}}
    seen: Windows = {"plain": {}, "stream": {}}
    assert proc.stdin is not None  # stdin=PIPE
    try:
        counted = Counted(proc.pid, state / "callgrind")
        for variant, stream in WORKER_VARIANTS:
            kind, windows = "stream" if stream else "plain", []
            for _ in range(a.windows):
                _line(proc, f"ready {variant} {kind}")
                counted.start()
                proc.stdin.write("go\n")
                proc.stdin.flush()
                ok = int(_line(proc, "done")[1])
                total = counted.stop()
                n = a.streams if kind == "stream" else a.requests
                if ok != n:
                    raise RuntimeError(f"{name} {variant} {kind}: {n - ok} of {n} requests failed")
                windows.append(total / n)
                proc.stdin.write("next\n")
                proc.stdin.flush()
            out[kind][variant], seen[kind][variant] = min(windows), windows
            say(f"  {name:9s} {kind:6s} {variant:12s} {min(windows) / 1000:9.1f} k instructions per request"
                f"{_windows(windows)}")
        _line(proc, "end")
    finally:
        with contextlib.suppress(OSError):
            proc.stdin.close()
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    return out, seen


async def _requests(url: str, body: bytes, key: str, stream: bool, n: int) -> int:
    conn = Conn(build_target(url, body, [f"Authorization: Bearer {key}"], stream, None))
    ok = 0
    try:
        for _ in range(n):
            status, _first, nbytes, keep = await conn.request()
            ok += status == 200 and nbytes > 0
            if not keep:
                conn.close()
    finally:
        conn.close()
    return ok


T = TypeVar("T")


def counted_for(counted: Counted, work: Callable[[], T]) -> tuple[T, int, float]:
    """What `work` returned, the instructions the counted process executed meanwhile, and the seconds it took."""
    counted.start()
    t0 = time.monotonic()
    result = work()
    wall = time.monotonic() - t0
    return result, counted.stop(), wall


def served_by_uvicorn(a: argparse.Namespace, name: str, keys: Keys,
                      state: Path) -> tuple[Counts, Windows, dict[str, Any]]:
    """Instructions per request of the two server variants (the minimal app and the gateway, under uvicorn), less
    each server's idle work for the time its requests took (the lowest window's, and all); and that idle work
    (rate, share per request of the window kept)."""
    from floor_variants import UPSTREAM_KEY

    p = provider(name, a.mock_url, state, keys)
    out: Counts = {"plain": {}, "stream": {}}
    seen: Windows = {"plain": {}, "stream": {}}
    idle: dict[str, Any] = {"per_s": {}, "plain": {}, "stream": {}}
    for variant in ("served", "uvicorn"):
        port = free_ports(1)[0]
        if variant == "served":
            argv = [sys.executable, str(BENCH / "served_floor.py")]
            env = {"FLOOR_PROVIDER": name, "FLOOR_MOCK_URL": a.mock_url, "FLOOR_KEYS_FILE": str(keys.path),
                   "FLOOR_PORT": str(port)}
            ready = f"http://127.0.0.1:{port}/"
        else:
            argv = [sys.executable, "-m", "gateway"]
            env = {"PYTHONPATH": str(BENCH.parent / "services"), "GATEWAY_PROVIDER": name,
                   "GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(port), "GATEWAY_UPSTREAM_BASE_URL": p.base_url,
                   "GATEWAY_SECRETS_BACKEND": "env", "GATEWAY_CLIENT_KEYS_FILE": str(keys.path),
                   "GATEWAY_MAX_RETRIES": "0", "GATEWAY_AUDIT_LOG": str(state / "audit" / f"instr-{name}.log"),
                   "OPENAI_API_KEY": UPSTREAM_KEY, "ANTHROPIC_API_KEY": UPSTREAM_KEY, "COHERE_API_KEY": UPSTREAM_KEY}
            ready = f"http://127.0.0.1:{port}/readyz"
        spec = ProcessSpec(f"instructions-{variant}-{name}", wrap(argv, state / "callgrind"), env=env,
                           env_remove=("VAULT_TOKEN", "GATEWAY_WORKERS"), ready_url=ready)
        t0 = time.monotonic()
        proc = launch(spec, state / "logs")
        record = {"name": spec.name, "pid": proc.pid, "start": proc_start(proc.pid)}
        try:
            wait_ready(spec, proc, state / "logs", deadline_s=START_S)
            say(f"  {name:9s} {variant} started under callgrind in {time.monotonic() - t0:.0f} s")
            counted = Counted(proc.pid, state / "callgrind")
            url = f"http://127.0.0.1:{port}/v1/chat/completions"
            asyncio.run(_requests(url, p.body, keys.limited, False, WARMUP))
            _, quiet, wall = counted_for(counted, lambda: time.sleep(IDLE_S))
            rate = idle["per_s"][variant] = quiet / wall
            say(f"  {name:9s} {'idle':6s} {variant:12s} {rate / 1000:9.1f} k instructions per second")
            for kind, body, n in (("plain", p.body, a.requests), ("stream", p.stream_body, a.streams)):
                stream = kind == "stream"
                asyncio.run(_requests(url, body, keys.limited, stream, max(3, WARMUP // 3) if stream else WARMUP))
                windows: list[tuple[float, float]] = []  # (the count less idle work, the idle work) a request
                for _ in range(a.windows):
                    ok, total, wall = counted_for(counted, lambda: asyncio.run(
                        _requests(url, body, keys.limited, stream, n)))  # noqa: B023 - called at once, in this pass
                    if ok != n:
                        raise RuntimeError(f"{name} {variant} {kind}: {n - ok} of {n} requests failed")
                    windows.append((total / n - rate * wall / n, rate * wall / n))
                seen[kind][variant] = [count for count, _ in windows]
                kept = min(windows)  # the lowest count (tuples compare by their first item)
                out[kind][variant], idle[kind][variant] = kept
                say(f"  {name:9s} {kind:6s} {variant:12s} {kept[0] / 1000:9.1f} k instructions per request "
                    f"({kept[1] / 1000:.1f} k of idle work taken off){_windows(seen[kind][variant])}")
        finally:
            stop(record)
    return out, seen, idle


@contextlib.contextmanager
def mock_upstream(state: Path) -> Iterator[str]:
    """The project's mock upstream on a free loopback port, as `make bench` runs it, until the block exits."""
    port = free_ports(1)[0]
    spec = ProcessSpec("instructions-mock", [sys.executable, "-m", "mockllm", "--host", "127.0.0.1", "--port",
                                             str(port)],
                       env={"PYTHONPATH": str(BENCH.parent / "services"), "MOCK_API_KEYS": "",
                            "MOCK_CHUNK_DELAY_MS": str(CHUNK_DELAY_MS)}, ready_url=f"http://127.0.0.1:{port}/healthz")
    proc = launch(spec, state / "logs")
    record = {"name": spec.name, "pid": proc.pid, "start": proc_start(proc.pid)}
    try:
        wait_ready(spec, proc, state / "logs", deadline_s=60)
        say(f"• mock upstream on 127.0.0.1:{port}")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(record)


def run(a: argparse.Namespace) -> dict:
    state = Path(a.state)
    for sub in ("audit", "logs", "callgrind"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    for old in (state / "callgrind").glob("cg.*"):
        old.unlink()
    if not a.mock_url:
        with mock_upstream(state) as url:
            a.mock_url, a.chunk_delay_ms = url, CHUNK_DELAY_MS
            return run(a)
    providers = tuple(a.providers.split(","))
    code = source(BENCH.parent)  # what is counted is what is checked out now
    say(f"counting {describe(code)}")
    keys = Keys.create(state, providers)
    counts: dict[str, Counts] = {}
    windows: dict[str, Windows] = {}
    idle: dict[str, dict[str, Any]] = {}
    for name in providers:
        say(f"• {name}: in-process variants under callgrind")
        counts[name], windows[name] = in_process(a, name, keys, state)
        say(f"• {name}: the minimal app and the gateway served by uvicorn, under callgrind")
        served, served_windows, idle[name] = served_by_uvicorn(a, name, keys, state)
        for kind in ("plain", "stream"):
            counts[name][kind].update(served[kind])
            windows[name][kind].update(served_windows[kind])
    return {"counts": counts, "windows": windows, "idle": idle,
            "settings": {"requests": a.requests, "streams": a.streams, "windows": a.windows,
                         "chunk_delay_ms": getattr(a, "chunk_delay_ms", None), "source": code}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mock-url", help="a running mock upstream (default: start one)")
    ap.add_argument("--providers", default="openai,anthropic,cohere")
    ap.add_argument("--requests", type=int, default=20, help="plain requests counted per variant and window")
    ap.add_argument("--streams", type=int, default=5, help="streamed requests counted per variant and window")
    ap.add_argument("--windows", type=int, default=3, help="windows counted per variant (the lowest is kept)")
    ap.add_argument("--state", default=str(BENCH.parent / ".bench" / "instructions"))
    ap.add_argument("--report", help="write the Markdown page here")
    ap.add_argument("--json", help="write the JSON document here too")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for hidden in ("--provider", "--keys-file", "--limited-key", "--unlimited-key"):
        ap.add_argument(hidden, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.requests < 1 or a.streams < 1 or a.windows < 1:
        ap.error("--requests, --streams and --windows must be at least 1")
    os.environ.pop("GATEWAY_WORKERS", None)
    if a.worker:
        with contextlib.suppress(ImportError):
            import uvloop

            uvloop.install()
        asyncio.run(worker(a))
        return 0
    missing = missing_tools()
    if missing:
        print(f"bench/instructions.py needs {' and '.join(missing)} (Debian: apt-get install valgrind)",
              file=sys.stderr)
        return 2
    doc = run(a)
    text = json.dumps(doc)
    if a.json:
        Path(a.json).write_text(text + "\n")
    if a.report:
        Path(a.report).write_text(markdown(doc))
        say(f"wrote {a.report}")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
