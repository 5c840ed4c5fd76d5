"""Markdown and console tables for the floor bench (bench/floor.py)."""

from __future__ import annotations


def _f(v: float | None, spec: str = ".2f") -> str:
    return "–" if v is None else format(v, spec)


def floor_tables(floor: dict) -> str:
    """The floor, the overhead split (CPU ms per request) and the streamed figures, per provider."""
    if not floor or not floor.get("splits"):
        return ""
    s = floor["settings"]
    lines = [
        "### The floor and the overhead above it (CPU ms per request, medians)\n",
        f"Measured by `bench/floor.py` in the same run against the same mock: {s['reps']} interleaved repetitions "
        f"× {s['duration']} s per variant and level, one process, one uvloop event loop, no HTTP server except for "
        "the `uvicorn` row. The floor is the provider's LangChain chat model (the class and settings the gateway "
        "builds) called directly. Components are attributed **by toggling**: the gateway app is called over raw "
        "ASGI with one component switched off, and the component's cost is `full − (full without it)`; the server "
        "is `python -m gateway` (CPU from /proc) minus the in-process full app. Differences of a few hundredths "
        "of a millisecond are within the noise of a shared machine (a negative value is noise).\n",
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
    lines += ["", "Streamed (whole stream, per request): floor = `astream` consumed directly.\n",
              "| provider | conc | floor CPU ms | full app (ASGI) CPU ms | uvicorn CPU ms | above the floor ms | "
              "floor p50 ms | uvicorn p50 ms |", "|---|---|---|---|---|---|---|---|"]
    for p in providers:
        for key, vs in floor["levels"][p].items():
            if not key.startswith("stream"):
                continue
            b, f, u = (vs.get(v, {}) for v in ("bare", "full", "uvicorn"))
            above = None if b.get("cpu_ms") is None or u.get("cpu_ms") is None else u["cpu_ms"] - b["cpu_ms"]
            lines.append(f"| {p} | {key.split('-')[1]} | {_f(b.get('cpu_ms'))} | {_f(f.get('cpu_ms'))} | "
                         f"{_f(u.get('cpu_ms'))} | {_f(above)} | {_f(b.get('p50_ms'))} | {_f(u.get('p50_ms'))} |")
    if floor.get("notes"):
        lines += ["", "Floor notes: " + "; ".join(floor["notes"]) + "."]
    lines.append("")
    return "\n".join(lines)


def floor_console(floor: dict) -> str:
    """Floor and total overhead per provider and level, one line each."""
    out = []
    for p, lv in (floor or {}).get("splits", {}).items():
        for key, row in lv.items():
            out.append(f"  floor {p:<10}{key:<10} floor {_f(row['floor: bare LangChain call'])} ms CPU, "
                       f"above it {_f(row['total above the floor (uvicorn - bare)'])} ms "
                       f"(server {_f(row['server (uvicorn, httptools, uvloop transport)'])})")
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
