"""The bench's reductions and tables (no processes): the overhead split and the CPU-vs-concurrency table."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(autouse=True)
def bench_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))


def _variants(**cpu: float) -> dict:
    return {name.replace("_", "-").replace("minus-", "-").replace("plus-", "+"): {"cpu_ms": v, "p50_ms": 1.0}
            for name, v in cpu.items()}


def test_split_is_the_difference_of_medians_and_the_app_rest() -> None:
    from floor import REST, splits

    variants = _variants(bare=1.0, convert=1.1, full=2.0, minus_auth=1.9, minus_limiter=1.95,
                         minus_audit=1.8, minus_metrics=1.85, minus_access_log=1.9, minus_direct=2.15,
                         plus_redis=2.3, plus_postgres=2.1, uvicorn=2.6)
    variants["-access_log"] = variants.pop("-access-log")
    row = splits({"openai": {"plain-1": variants, "stream-1": {"bare": {"cpu_ms": 9.0}}}})["openai"]
    assert set(row) == {"plain-1"}  # streamed levels are reported separately
    r = row["plain-1"]
    assert r["floor: bare LangChain call"] == pytest.approx(1.0)
    assert r["auth"] == pytest.approx(0.1)
    assert r["limiter, Redis (vs none)"] == pytest.approx(0.35)
    assert r["server (uvicorn, httptools, uvloop transport)"] == pytest.approx(0.6)
    assert r["total above the floor (uvicorn - bare)"] == pytest.approx(1.6)
    assert r["FastAPI routing, dependencies, body parsing (skipped by direct routes)"] == pytest.approx(0.15)
    # full - convert = 0.9, minus auth 0.1, limiter 0.05, audit 0.2, metrics 0.15, access log 0.1
    assert r[REST] == pytest.approx(0.3)


def test_missing_variant_gives_no_figure_instead_of_a_wrong_one() -> None:
    from floor import splits

    r = splits({"cohere": {"plain-8": _variants(bare=1.0, full=2.0, uvicorn=2.5)}})["cohere"]["plain-8"]
    assert r["auth"] is None and r["limiter, Redis (vs none)"] is None
    assert r["total above the floor (uvicorn - bare)"] == pytest.approx(1.5)


def test_cpu_vs_concurrency_reports_the_64_vs_8_growth() -> None:
    sys.modules.pop("report", None)
    from report import cpu_vs_concurrency

    def level(stream: bool, conc: int, cpu: float) -> dict:
        return {"stream": stream, "concurrency": conc, "cpu_ms_per_req": {"server": cpu}}

    res = {"gateway": {"plain-8": level(False, 8, 2.0), "plain-64": level(False, 64, 2.2),
                       "stream-8": level(True, 8, 5.0), "stream-64": level(True, 64, 4.5)}}
    table = cpu_vs_concurrency(res)
    assert "| gateway alone | 2.00 | 2.20 | 5.00 | 4.50 | +10 % | -10 % |" in table
