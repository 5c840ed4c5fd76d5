"""Markdown and console tables for the floor bench (bench/floor.py)."""

from __future__ import annotations

# Row labels of the split (bench/floor.py) that the console line quotes.
SERVED = "any app served by uvicorn: a minimal app around the bare call - bare"
APP = "the gateway above that minimal app (uvicorn - served)"
TOTAL = "total above the floor (uvicorn - bare)"

# (row label, minuend variant, subtrahend variant), for bench/floor.py (CPU) and bench/instructions.py
# (instructions): the difference of the two variants' figures.
SPLIT = (
    ("floor: bare LangChain call", "bare", None),
    ("conversion + serialisation", "convert", "bare"),
    ("FastAPI's stack: middleware, routing, dependencies, body parsing (skipped by direct routes, not in the total)",
     "-direct", "full"),
    ("auth", "full", "-auth"),
    ("limiter, in-process", "full", "-limiter"),
    ("limiter, Redis (vs none)", "+redis", "-limiter"),
    ("audit, JSON lines", "full", "-audit"),
    ("audit, PostgreSQL sink (vs none)", "+postgres", "-audit"),
    ("metrics", "full", "-metrics"),
    ("access log", "full", "-access_log"),
    ("server (uvicorn, httptools, uvloop transport): gateway over uvicorn - in process", "uvicorn", "full"),
    (SERVED, "served", "bare"),
    (APP, "uvicorn", "served"),
    (TOTAL, "uvicorn", "bare"),
)


# The components switched off one at a time in `full`; what `full - convert` leaves after them is the REST.
TOGGLED = ("auth", "limiter, in-process", "audit, JSON lines", "metrics", "access log")
REST = "the rest of the app (middleware, validation, the route, the response)"


def _f(v: float | None, spec: str = ".2f") -> str:
    return "–" if v is None else format(v, spec)


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def floor_tables(floor: dict) -> str:
    """The floor, the overhead split (CPU ms per request) and the streamed figures, per provider."""
    if not floor or not floor.get("splits"):
        return ""
    s = floor["settings"]
    stream_s = s.get("stream_duration", s["duration"])
    target_s = s.get("target_duration") or 0
    slices = s.get("slices") or 1
    windows = (f"× {target_s} s per level for the variants the targets are computed from (the floor, the minimal "
               f"app and `python -m gateway`, plain and streamed), in {slices} windows of {target_s / slices:g} s "
               "taken in turn (floor, minimal app, gateway, then the reverse, ...), and × "
               f"{s['duration']} s (streamed: {stream_s} s) for the toggled split. A shared machine's speed drifts by "
               "several per cent over minutes (see the host speed above), which is tenths of a millisecond on a "
               "stream: the overheads of the gateway and of the minimal app above the floor are therefore the "
               "medians of the differences within each turn, not differences of medians taken minutes apart"
               if target_s else f"× {s['duration']} s (streamed: {stream_s} s) per variant and level")
    lines = [
        "### The floor and the overhead above it (CPU ms per request, medians)\n",
        f"Measured by `bench/floor.py` in the same run against the same mock: {s['reps']} interleaved repetitions "
        f"{windows}. The floor is the provider's LangChain "
        "chat model (the class and settings the gateway builds) called directly, in one process and one uvloop "
        "event loop. Two variants run as servers, their CPU (every thread, in ns) from /proc/<pid>/task/*/schedstat: "
        "`python -m gateway`, and `bench/served_floor.py`, the same bare call behind a minimal ASGI app under "
        "uvicorn with the gateway's server options and collector settings, which is what serving anything over "
        "HTTP this way costs. "
        "The gateway's own components are attributed **by toggling**: the gateway app is called over raw ASGI in "
        "process with one component switched off, and the component's cost is `full − (full without it)`. "
        "Differences of a few hundredths of a millisecond are within the noise of a shared machine (a negative "
        "value is noise); the same split counted in instructions, which repeat within a few per cent, is "
        "[instructions.md](instructions.md) (`make bench-instructions`).\n",
    ]
    providers = list(floor["splits"])
    levels = [k for k in next(iter(floor["splits"].values())) if k.startswith("plain")]
    head = "| component | " + " | ".join(f"{p} @{k.split('-')[1]}" for p in providers for k in levels) + " |"
    lines += [head, "|---|" + "---|" * (len(providers) * len(levels))]
    labels = list(next(iter(next(iter(floor["splits"].values())).values())))
    for label in labels:
        cells = [_f(floor["splits"][p][k].get(label)) for p in providers for k in levels]
        bold = label.startswith(("floor", "total"))
        name = f"**{label}**" if bold else label
        lines.append(f"| {name} | " + " | ".join(f"**{c}**" if bold else c for c in cells) + " |")
    lines += ["", *_against_targets(floor, providers)]
    lines += ["", "Streamed (whole stream, per request): floor = `astream` consumed directly; *served* = the minimal "
              "app streaming each chunk as one SSE event.\n",
              "| provider | conc | floor CPU ms | full app (ASGI) CPU ms | served CPU ms | uvicorn CPU ms | "
              "above the floor ms | served above the floor ms | gateway above served ms | floor p50 ms | "
              "uvicorn p50 ms |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in providers:
        for key, vs in floor["levels"][p].items():
            if not key.startswith("stream"):
                continue
            b, f, m, u = (vs.get(v, {}).get("cpu_ms") for v in ("bare", "full", "served", "uvicorn"))
            lat = [vs.get(v, {}).get("p50_ms") for v in ("bare", "uvicorn")]
            d = [_above(floor, p, key, *pair) for pair in (("uvicorn", "bare"), ("served", "bare"),
                                                           ("uvicorn", "served"))]
            lines.append(f"| {p} | {key.split('-')[1]} | {_f(b)} | {_f(f)} | {_f(m)} | {_f(u)} | {_f(d[0])} "
                         f"| {_f(d[1])} | {_f(d[2])} | {_f(lat[0])} | {_f(lat[1])} |")
    if floor.get("notes"):
        lines += ["", "Floor notes: " + "; ".join(floor["notes"]) + "."]
    lines.append("")
    return "\n".join(lines)


def _above(floor: dict, p: str, key: str, a: str, b: str) -> float | None:
    """CPU ms of variant `a` above `b`: the paired figure (within turns) where measured so, else the medians'."""
    within = floor.get("paired", {}).get(p, {}).get(key, {}).get(f"{a}-{b}")
    if within is not None:
        return within
    vs = floor["levels"][p].get(key, {})
    return _minus(vs.get(a, {}).get("cpu_ms"), vs.get(b, {}).get("cpu_ms"))


def _against_targets(floor: dict, providers: list[str]) -> list[str]:
    """Issue #18's overhead goals per provider and level, beside what a minimal app on uvicorn costs alone."""
    keys = sorted({k.split("-")[1] for p in providers for k in floor["levels"][p]}, key=int)
    head = [f"{p} @{k}" for p in providers for k in keys]
    out = ["Against the overhead targets (CPU ms per request above the floor; *any app on uvicorn* is the minimal "
           "app's share, which no app served this way avoids):\n",
           "| | goal | " + " | ".join(head) + " |", "|---|---|" + "---|" * len(head)]
    for kind, goal in (("plain", "≤ 0.3"), ("stream", "≤ 0.5")):
        for name, a, b in (("above the floor", "uvicorn", "bare"), ("any app on uvicorn", "served", "bare")):
            cells = []
            for p in providers:
                for k in keys:
                    cells.append(_f(_above(floor, p, f"{kind}-{k}", a, b)))
            label = f"{name}, {'plain' if kind == 'plain' else 'streamed'}"
            out.append(f"| {label} | {goal if name == 'above the floor' else ''} | " + " | ".join(cells) + " |")
    return out


def floor_console(floor: dict) -> str:
    """Floor and total overhead per provider and level, one line each."""
    out = []
    for p, lv in (floor or {}).get("splits", {}).items():
        for key, row in lv.items():
            out.append(f"  floor {p:<10}{key:<10} floor {_f(row['floor: bare LangChain call'])} ms CPU, "
                       f"above it {_f(row[TOTAL])} ms (any app on uvicorn {_f(row[SERVED])}, "
                       f"the gateway above that {_f(row[APP])})")
    return "\n".join(out)


def workers_markdown(doc: dict) -> str:
    """The report section: one row per worker count and level."""
    lines = ["### One worker vs two (GATEWAY_WORKERS, same container, same mock)\n",
             f"`bench/workers.py`: {doc['reps']} interleaved repetitions × {doc['duration']} s per level; Redis "
             "limiter and a limited client key in both; CPU is the whole process tree (supervisor + workers). "
             "On a 2-core machine shared with the mock and the load generator, a second worker can only use what "
             "is left of the second core.\n",
             "| workers | level | rps | p50 ms | server CPU ms/req | server CPU util | errors |",
             "|---|---|---|---|---|---|---|"]
    for row in doc["rows"]:
        lines.append(f"| {row['workers']} | {row['level']} | {row['rps']:.0f} | {row['p50_ms']:.2f} | "
                     f"{row['cpu_ms']:.2f} | {row['util']:.0%} | {row['errors']} |")
    lines.append("")
    return "\n".join(lines)
