"""bench/instructions.py's reductions and page (no processes): the split, the table, reading a callgrind dump."""

from __future__ import annotations

from pathlib import Path

import pytest

DASH = "\u2013"  # an empty cell


pytestmark = pytest.mark.usefixtures("bench_on_path")


PLAIN: dict[str, float] = {
    "bare": 3_600_000, "convert": 3_750_000, "full": 4_300_000, "-auth": 4_270_000, "-limiter": 4_200_000,
    "-audit": 4_280_000, "-metrics": 4_250_000, "-access_log": 4_190_000, "-direct": 4_900_000,
    "served": 3_750_000, "uvicorn": 4_450_000}
STREAM: dict[str, float] = {"bare": 8_600_000, "full": 9_800_000, "served": 9_000_000, "uvicorn": 10_100_000}


def test_plain_split_is_variant_differences_and_the_rest() -> None:
    from floor_report import APP, SERVED, TOTAL
    from instructions_report import PLAIN_SPLIT, REST, split

    s = split(PLAIN, PLAIN_SPLIT)
    assert s["floor: bare LangChain call"] == 3_600_000
    assert s["auth"] == 30_000 and s["limiter, in-process"] == 100_000 and s["access log"] == 110_000
    assert s[SERVED] == 150_000 and s[APP] == 700_000 and s[TOTAL] == 850_000
    # full - convert = 550k, of which the toggled components are 30 + 100 + 20 + 50 + 110 = 310k
    assert s[REST] == 240_000


def test_a_missing_variant_leaves_its_rows_empty() -> None:
    from floor_report import TOTAL
    from instructions_report import PLAIN_SPLIT, REST, split

    counts = {k: v for k, v in PLAIN.items() if k not in ("uvicorn", "-auth")}
    s = split(counts, PLAIN_SPLIT)
    assert s[TOTAL] is None and s["auth"] is None and s[REST] is None
    assert s["metrics"] == 50_000


def test_page_has_both_tables_in_thousands_and_the_share_of_the_floor() -> None:
    from instructions_report import markdown

    doc = {"counts": {"openai": {"plain": PLAIN, "stream": STREAM},
                      "cohere": {"plain": {"bare": 7_000_000}, "stream": {}}},
           "settings": {"requests": 60, "streams": 15, "chunk_delay_ms": 20}}
    page = markdown(doc)
    assert "## Plain requests" in page and "## Streamed requests (per stream)" in page
    assert "| component | openai | cohere |" in page
    assert "| **floor: bare LangChain call** | **3,600** | **7,000** |" in page
    assert f"| **total above the floor (uvicorn - bare)** | **850** | **{DASH}** |" in page
    assert f"| above the floor, as a share of the floor | 24 % | {DASH} |" in page  # 850k / 3,600k
    assert f"| above the floor, as a share of the floor | 17 % | {DASH} |" in page  # streamed: 1,500k / 8,600k
    assert "60 plain requests and 15 streamed requests (18 chunks, 20 ms apart)" in page
    doc["settings"]["chunk_delay_ms"] = None  # a mock of the caller's (--mock-url): its pace is not known
    assert "15 streamed requests (18 chunks) counted" in markdown(doc)
    assert "idle" not in markdown(doc)  # a document of before the idle work was counted


def test_page_says_how_many_windows_and_how_far_they_spread() -> None:
    from instructions_report import markdown

    windows = {"openai": {"plain": {"bare": [3_600_000, 3_610_000, 3_690_000], "full": [4_300_000, 4_300_000]},
                          "stream": {"bare": [8_600_000, 9_546_000]}}}
    doc = {"counts": {"openai": {"plain": PLAIN, "stream": STREAM}}, "windows": windows,
           "settings": {"requests": 20, "streams": 5, "windows": 3, "chunk_delay_ms": 60}}
    page = markdown(doc)
    assert ("20 plain requests and 5 streamed requests (18 chunks, 60 ms apart) counted per variant in each of 3 "
            "windows, of which the lowest is kept") in page
    assert "a variant's windows differed by up to 11.0 %, after a warm-up" in page  # 9,546k / 8,600k
    doc["settings"]["windows"] = 1  # a document of one window a variant (or of before windows): no such sentence
    assert "lowest is kept" not in markdown(doc)


def test_page_says_what_idle_work_was_taken_off() -> None:
    from instructions_report import markdown

    idle = {"openai": {"per_s": {"served": 231_400, "uvicorn": 236_900}, "plain": {"served": 11_200, "uvicorn": 12_900},
                       "stream": {"served": 262_000, "uvicorn": 281_600}},
            "anthropic": {"per_s": {"served": 230_600, "uvicorn": 240_200},
                          "plain": {"served": 11_000, "uvicorn": 13_100}, "stream": {"served": 258_000,
                                                                                    "uvicorn": 290_300}}}
    page = markdown({"counts": {"openai": {"plain": PLAIN, "stream": STREAM}}, "idle": idle,
                     "settings": {"requests": 60, "streams": 15, "chunk_delay_ms": 60}})
    assert f"231 thousand instructions a second for the minimal app and 237{DASH}240 for the gateway" in page
    assert f"11{DASH}13 thousand per plain request and 258{DASH}290 thousand per stream" in page


def test_a_dump_gives_its_summary_and_anything_else_is_refused(tmp_path: Path) -> None:
    from callgrind import instructions_in

    dump = tmp_path / "cg.1.1"
    dump.write_text("# callgrind format\nversion: 1\ncreator: callgrind-3.19.0\npid: 1\ncmd: python\n"
                    "part: 1\n\npositions: line\nevents: Ir\nsummary: 769170393\n\nfl=(1) x.c\nfn=(1) f\n1 5\n")
    assert instructions_in(dump) == 769_170_393
    other = tmp_path / "notes.txt"
    other.write_text("summary of the day: nothing\n")
    with pytest.raises(ValueError, match="not a callgrind dump"):
        instructions_in(other)
