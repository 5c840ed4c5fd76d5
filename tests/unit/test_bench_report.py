"""The bench's reductions and tables (no processes): the overhead split and the CPU-vs-concurrency table."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("bench_on_path")


def _variants(**cpu: float) -> dict:
    return {name.replace("_", "-").replace("minus-", "-").replace("plus-", "+"): {"cpu_ms": v, "p50_ms": 1.0}
            for name, v in cpu.items()}


def test_split_is_the_difference_of_medians_and_the_app_rest() -> None:
    from floor import REST, splits
    from floor_report import APP, SERVED, TOTAL

    variants = _variants(bare=1.0, convert=1.1, full=2.0, minus_auth=1.9, minus_limiter=1.95,
                         minus_audit=1.8, minus_metrics=1.85, minus_access_log=1.9, minus_direct=2.15,
                         plus_redis=2.3, plus_postgres=2.1, served=1.2, uvicorn=2.6)
    variants["-access_log"] = variants.pop("-access-log")
    row = splits({"openai": {"plain-1": variants, "stream-1": {"bare": {"cpu_ms": 9.0}}}})["openai"]
    assert set(row) == {"plain-1"}  # streamed levels are reported separately
    r = row["plain-1"]
    assert r["floor: bare LangChain call"] == pytest.approx(1.0)
    assert r["auth"] == pytest.approx(0.1)
    assert r["limiter, Redis (vs none)"] == pytest.approx(0.35)
    assert r["server (uvicorn, httptools, uvloop transport): gateway over uvicorn - in process"] == pytest.approx(0.6)
    assert r[TOTAL] == pytest.approx(1.6)
    assert r[SERVED] == pytest.approx(0.2)  # a minimal app under uvicorn, above the bare call
    assert r[APP] == pytest.approx(1.4)  # the gateway above that app: SERVED + APP = TOTAL
    fastapi = next(k for k in r if k.startswith("FastAPI's stack"))
    assert "not in the total" in fastapi and r[fastapi] == pytest.approx(0.15)
    # full - convert = 0.9, minus auth 0.1, limiter 0.05, audit 0.2, metrics 0.15, access log 0.1
    assert r[REST] == pytest.approx(0.3)


def test_missing_variant_gives_no_figure_instead_of_a_wrong_one() -> None:
    from floor import splits

    r = splits({"cohere": {"plain-8": _variants(bare=1.0, full=2.0, uvicorn=2.5)}})["cohere"]["plain-8"]
    assert r["auth"] is None and r["limiter, Redis (vs none)"] is None
    assert r["any app served by uvicorn: a minimal app around the bare call - bare"] is None
    assert r["total above the floor (uvicorn - bare)"] == pytest.approx(1.5)


def test_cpu_vs_concurrency_reports_the_growth_from_8_clients() -> None:
    sys.modules.pop("report", None)
    from report import cpu_vs_concurrency

    def level(stream: bool, conc: int, cpu: float) -> dict:
        return {"stream": stream, "concurrency": conc, "cpu_ms_per_req": {"server": cpu}}

    res = {"gateway": {"plain-8": level(False, 8, 2.0), "plain-64": level(False, 64, 2.2),
                       "stream-8": level(True, 8, 5.0), "stream-64": level(True, 64, 4.5)}}
    table = cpu_vs_concurrency(res)
    assert "| plain 64 vs 8 | SSE 64 vs 8 |" in table and "256" not in table  # no column without its level
    assert "| gateway alone | 2.00 | 2.20 | 5.00 | 4.50 | +10 % | -10 % |" in table
    res["gateway"]["stream-256"] = level(True, 256, 5.5)
    res["mock"] = {"plain-8": level(False, 8, 0.1), "stream-8": level(True, 8, 0.4)}  # a target without the levels
    table = cpu_vs_concurrency(res)
    assert "| SSE @8 | SSE @64 | SSE @256 | plain 64 vs 8 | SSE 64 vs 8 | SSE 256 vs 8 |" in table
    assert "| gateway alone | 2.00 | 2.20 | 5.00 | 4.50 | 5.50 | +10 % | -10 % | +10 % |" in table
    none = "\N{EN DASH}"  # the report's mark for a level not measured
    assert f"| mock direct | 0.10 | {none} | 0.40 | {none} | {none} | {none} | {none} | {none} |" in table


def test_floor_tables_split_the_streamed_overhead_at_the_served_minimal_app() -> None:
    from floor_report import floor_console, floor_tables

    plain = _variants(bare=1.0, full=1.3, served=1.2, uvicorn=1.5)
    stream = {"bare": {"cpu_ms": 5.0, "p50_ms": 39.0}, "full": {"cpu_ms": 5.5, "p50_ms": 39.5},
              "served": {"cpu_ms": 5.75, "p50_ms": 39.2}, "uvicorn": {"cpu_ms": 6.25, "p50_ms": 40.0}}
    from floor import splits

    levels = {"openai": {"plain-1": plain, "stream-1": stream}}
    doc = {"settings": {"reps": 3, "duration": 1.0, "stream_duration": 3.0}, "levels": levels,
           "splits": splits(levels), "notes": []}
    text = floor_tables(doc)
    assert "\N{MULTIPLICATION SIGN} 1.0 s (streamed: 3.0 s)" in text
    # above the floor 1.25 = a minimal app on uvicorn 0.75 + the gateway above it 0.50
    assert "| openai | 1 | 5.00 | 5.50 | 5.75 | 6.25 | 1.25 | 0.75 | 0.50 | 39.00 | 40.00 |" in text
    assert "| above the floor, plain | \N{LESS-THAN OR EQUAL TO} 0.3 | 0.50 |" in text
    assert "| any app on uvicorn, plain |  | 0.20 |" in text
    assert "| above the floor, streamed | \N{LESS-THAN OR EQUAL TO} 0.5 | 1.25 |" in text
    assert "| any app on uvicorn, streamed |  | 0.75 |" in text
    console = floor_console(doc)
    assert "above it 0.50 ms (any app on uvicorn 0.20, the gateway above that 0.30)" in console


def test_floor_tables_show_a_dash_for_a_variant_that_did_not_run() -> None:
    from floor import splits
    from floor_report import floor_tables

    stream = {"bare": {"cpu_ms": 5.0, "p50_ms": 39.0}, "uvicorn": {"cpu_ms": 6.0, "p50_ms": 40.0}}
    levels = {"anthropic": {"plain-8": _variants(bare=1.0, uvicorn=1.3), "stream-8": stream}}
    text = floor_tables({"settings": {"reps": 1, "duration": 0.5}, "levels": levels, "splits": splits(levels)})
    dash = "\N{EN DASH}"
    assert f"| anthropic | 8 | 5.00 | {dash} | {dash} | 6.00 | 1.00 | {dash} | {dash} | 39.00 | 40.00 |" in text
    assert "\N{MULTIPLICATION SIGN} 0.5 s (streamed: 0.5 s)" in text  # an older document: no stream_duration


def test_the_overheads_are_the_medians_of_differences_within_turns() -> None:
    from floor import paired, splits
    from floor_report import TOTAL, floor_console, floor_tables

    # The machine slows down by 1 ms per turn: the medians of each variant (2.0 vs 2.3) differ by 0.3 ms,
    # while within every turn the gateway costs 0.1 ms more than the floor.
    def turns(offset: float) -> list[dict]:
        return [{"cpu_ms": t + offset, "turn": t} for t in (0.0, 1.0, 2.0, 3.0, 4.0)]

    bare, served, uvicorn = turns(0.0), turns(0.04), turns(0.1)
    uvicorn[4]["cpu_ms"] += 5  # one disturbed window moves the median of the differences not at all
    raw = {"openai": {"plain-1": {"bare": bare, "served": served, "uvicorn": uvicorn, "convert": [{"cpu_ms": 9.0}]},
                      "stream-1": {"bare": bare, "uvicorn": uvicorn}}}
    pairs = paired(raw)
    assert pairs["openai"]["plain-1"] == pytest.approx({"uvicorn-bare": 0.1, "served-bare": 0.04,
                                                        "uvicorn-served": 0.06})
    assert pairs["openai"]["stream-1"] == pytest.approx({"uvicorn-bare": 0.1})
    levels = {"openai": {"plain-1": _variants(bare=2.0, served=2.04, uvicorn=2.3)}}
    assert splits(levels)["openai"]["plain-1"][TOTAL] == pytest.approx(0.3)  # the medians' difference
    split = splits(levels, pairs)["openai"]["plain-1"]
    assert split[TOTAL] == pytest.approx(0.1)
    assert split["floor: bare LangChain call"] == pytest.approx(2.0)  # a level's own figures stay medians
    levels["openai"]["stream-1"] = {"bare": {"cpu_ms": 5.0, "p50_ms": 39.0}, "uvicorn": {"cpu_ms": 6.0, "p50_ms": 40.0}}
    doc = {"settings": {"reps": 3, "duration": 1.0, "stream_duration": 3.0, "target_duration": 10.0, "slices": 5},
           "levels": levels, "paired": pairs, "splits": splits(levels, pairs)}
    text = floor_tables(doc)
    assert "\N{MULTIPLICATION SIGN} 10.0 s per level for the variants the targets are computed from" in text
    assert "in 5 windows of 2 s taken in turn" in text
    assert "\N{MULTIPLICATION SIGN} 1.0 s (streamed: 3.0 s) for the toggled split" in text
    assert "| above the floor, plain | \N{LESS-THAN OR EQUAL TO} 0.3 | 0.10 |" in text
    assert "| any app on uvicorn, plain |  | 0.04 |" in text
    assert "| above the floor, streamed | \N{LESS-THAN OR EQUAL TO} 0.5 | 0.10 |" in text
    assert "| openai | 1 | 5.00 | \N{EN DASH} | \N{EN DASH} | 6.00 | 0.10 |" in text
    assert "above it 0.10 ms (any app on uvicorn 0.04, the gateway above that 0.06)" in floor_console(doc)


def test_windows_without_turns_are_not_paired() -> None:
    from floor import paired

    raw = {"cohere": {"plain-8": {"bare": [{"cpu_ms": 1.0}], "uvicorn": [{"cpu_ms": 1.2}]}}}
    assert paired(raw) == {}


def test_server_cpu_is_read_in_nanoseconds_from_every_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import threading
    import time

    import floor
    from floor import sched_cpu_s

    # This process alone: a test worker's children (servers other tests started) are no part of process_time.
    monkeypatch.setattr(floor, "tree_pids", lambda pid: [pid])

    def spin(seconds: float) -> None:
        end = time.thread_time() + seconds
        while time.thread_time() < end:
            pass

    before, p0 = sched_cpu_s(os.getpid()), time.process_time()
    worker = threading.Thread(target=spin, args=(0.05,))
    worker.start()
    spin(0.03)
    worker.join()
    used, expected = sched_cpu_s(os.getpid()) - before, time.process_time() - p0
    # The thread that ended took its schedstat with it; this thread's 30 ms must be there, to well under a tick.
    assert 0.029 < used <= expected + 0.005
    assert used != round(used, 2)  # finer than the 10 ms ticks of /proc/<pid>/stat


def test_a_thread_that_ends_while_cpu_is_read_is_left_out_alone(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    import floor

    for tid, ns in (("1", "5000000000 0 0"), ("2", "250000000 0 0")):
        (tmp_path / tid).mkdir()
        (tmp_path / tid / "schedstat").write_text(ns)
    (tmp_path / "3").mkdir()  # a thread whose schedstat is gone by the time it is read
    real = Path

    def proc(path: str) -> Path:
        return tmp_path if path.endswith("/task") else real(path)

    monkeypatch.setattr(floor, "Path", proc)
    monkeypatch.setattr(floor, "tree_pids", lambda pid: [pid])
    assert floor.sched_cpu_s(1) == 5.25  # not the tick-counted fallback, which would mix two measures


def test_litellm_ratios_are_reported_at_every_plain_level() -> None:
    sys.modules.pop("report", None)
    from report import per_level_ratios

    def level(cpu: float, rps: float) -> dict:
        return {"cpu_ms_per_req": {"server": cpu}, "rps": rps}

    res = {"gateway": {"plain-1": level(2.0, 400), "plain-8": level(1.5, 700), "plain-32": level(1.25, 800)},
           "litellm": {"plain-1": level(8.0, 100), "plain-8": level(8.0, 120), "plain-32": level(8.0, 125),
                       "plain-64": level(8.0, 118)}}
    sign = "\N{MULTIPLICATION SIGN}"
    dash = "\N{EN DASH}"
    # the gateway's 64-client level is missing: a dash, not a figure
    assert per_level_ratios(res) == (f"4.0{sign} / 5.3{sign} / 6.4{sign} / {dash} "
                                     f"(rps 4.0{sign} / 5.8{sign} / 6.4{sign} / {dash})")


def _row(stream: bool, conc: int, cpu: float, rps: float) -> dict:
    """One loadgen window as bench/loadgen.py reports it (server CPU `cpu` ms per request)."""
    return {"stream": stream, "concurrency": conc, "requests": 100, "errors": 0, "rps": rps, "p50_ms": 1.0,
            "p95_ms": 2.0, "p99_ms": 3.0, "ttfc_p50_ms": 0.5 if stream else None, "ttfc_p95_ms": None,
            "loadgen_cpu_util": 0.1, "loadgen_cpu_us_per_req": 40.0,
            "cpu": {"server": {"ms_per_req": cpu, "util": 0.9}}}


def test_the_targets_table_gives_the_growth_under_load_and_at_256_streams() -> None:
    sys.modules.pop("report", None)
    from report import reduce, summarize, tables

    def target(plain_cpu: dict[int, float], stream_cpu: dict[int, float]) -> list[list[dict]]:
        rows = [_row(False, c, v, 1000 / v) for c, v in plain_cpu.items()]
        return [rows + [_row(True, c, v, 100 / v) for c, v in stream_cpu.items()]]

    raw = {"mock": target({1: 0.1, 8: 0.1, 32: 0.1, 64: 0.1}, {1: 1.0, 8: 0.4, 64: 0.3, 256: 0.3}),
           "gateway": target({1: 1.5, 8: 1.0, 32: 0.95, 64: 0.9}, {1: 5.0, 8: 3.5, 64: 2.5, 256: 2.8}),
           "edge": target({1: 1.8, 8: 1.1, 32: 1.0, 64: 1.0}, {1: 6.0, 8: 4.0, 64: 2.6, 256: 2.9}),
           "litellm": target({1: 8.0, 8: 8.0, 32: 8.0, 64: 8.0}, {1: 23.0, 8: 20.0, 64: 21.0, 256: 22.0})}
    res = reduce(raw)
    text = tables(res, summarize(res, {}), {})
    assert "| CPU per request at 64 clients vs 8 (gateway alone), plain / streamed | within 10 % | -10 % / -29 % |" \
        in text
    assert "| CPU per stream at 256 concurrent streams vs 8 (gateway alone) | flat | -20 % |" in text
    del raw["gateway"][0][-1]  # a run without the 256-stream level: no row for it
    res = reduce(raw)
    assert "256 concurrent streams" not in tables(res, summarize(res, {}), {})
