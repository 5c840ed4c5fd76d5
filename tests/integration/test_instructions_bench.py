"""bench/instructions.py under a real valgrind: counts follow the work and repeat; the tool runs end to end."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"

CHILD = textwrap.dedent("""
    import sys
    for line in sys.stdin:
        if line.startswith("work"):
            n = int(line.split()[1])
            total = 0
            for i in range(n):
                total += i * i
            print("done", total % 7, flush=True)
""")


@pytest.fixture
def callgrind(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import callgrind

    assert callgrind.missing_tools() == [], "valgrind is installed by `make bench-tools` (make test runs it)"
    return callgrind


def test_counts_follow_the_work_and_repeat(tmp_path: Path, callgrind) -> None:
    proc = subprocess.Popen(callgrind.wrap([sys.executable, "-c", CHILD], tmp_path), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout  # narrowed, for the closure below
    counted = callgrind.Counted(proc.pid, tmp_path)

    def measure(n: int) -> int:
        counted.start()
        stdin.write(f"work {n}\n")
        stdin.flush()
        assert stdout.readline().startswith("done")
        return counted.stop()

    try:
        measure(1000)  # warm: the first pass through the loop's code is not the steady state
        small, big, again = measure(1000), measure(100_000), measure(100_000)
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
    assert big > 50 * small  # 100 times the iterations (plus a fixed cost per message)
    assert abs(again - big) / big < 0.02  # the same work counts the same


def test_the_bench_runs_end_to_end_and_writes_its_page(tmp_path: Path, callgrind) -> None:
    # Without --mock-url the tool starts the mock as `make bench-instructions` does, its chunks 60 ms apart. A
    # mock that sends them back to back (the default) lets a slow host read several per read, and a stream's count
    # then falls with the host's speed: on a CI host the full app counted less than the bare call. Each variant is
    # counted in 3 windows and the lowest kept: a single window of one stream once counted the bare call ~1 million
    # instructions high on a CI host, which put it above the full app.
    out = subprocess.run(
        [sys.executable, str(BENCH / "instructions.py"), "--providers", "openai",
         "--requests", "3", "--streams", "1", "--state", str(tmp_path / "state"),
         "--report", str(tmp_path / "page.md"), "--json", str(tmp_path / "out.json")],
        capture_output=True, text=True, timeout=900, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    assert doc == json.loads((tmp_path / "out.json").read_text())
    assert doc["settings"]["chunk_delay_ms"] == 60 and "• mock upstream on 127.0.0.1:" in out.stderr
    plain, stream = doc["counts"]["openai"]["plain"], doc["counts"]["openai"]["stream"]
    assert set(plain) == {"bare", "convert", "full", "-auth", "-limiter", "-audit", "-metrics", "-access_log",
                          "-direct", "served", "uvicorn"}
    assert set(stream) == {"bare", "full", "served", "uvicorn"}
    assert doc["settings"]["windows"] == 3  # the default
    windows = doc["windows"]["openai"]
    assert all(len(windows[kind][v]) == 3 and counts[v] == min(windows[kind][v])
               for kind, counts in (("plain", plain), ("stream", stream)) for v in counts), windows
    # the app does more than the bare call, and serving it over HTTP more again
    assert plain["bare"] < plain["full"] < plain["uvicorn"] and stream["bare"] < stream["full"] < stream["uvicorn"]
    # FastAPI's stack (what direct routes skip) is ~15 % of a request; the small components (access log,
    # limiter: 1-2 %) are within the ~1 % noise of a 3-request count, so they are not compared here
    assert plain["full"] < plain["-direct"]
    # each server's idle work (uvicorn's main loop, ten wake-ups a second: tens of thousands of instructions a
    # second), counted and taken off its counts for the time the requests took
    idle = doc["idle"]["openai"]
    assert all(10_000 < idle["per_s"][v] < 5_000_000 for v in ("served", "uvicorn")), idle
    assert all(0 < idle[kind][v] for kind in ("plain", "stream") for v in ("served", "uvicorn")), idle
    page = (tmp_path / "page.md").read_text()
    assert "## Plain requests" in page and "| component | openai |" in page
    assert "thousand instructions a second for the minimal app" in page
    assert "counted per variant in each of 3 windows, of which the lowest is kept" in page
    assert "openai    plain  uvicorn" in out.stderr and "openai    idle   served" in out.stderr  # progress
    assert "k instructions per request (lowest of " in out.stderr


def test_without_valgrind_it_says_what_to_install(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, str(BENCH / "instructions.py"), "--mock-url", "http://127.0.0.1:9"],
                         capture_output=True, text=True, timeout=120, check=False,
                         env={"PATH": str(tmp_path), "PYTHONPATH": str(ROOT / "services")})
    assert out.returncode == 2
    assert "needs valgrind and callgrind_control" in out.stderr and "apt-get install valgrind" in out.stderr
