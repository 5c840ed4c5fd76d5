"""Reduce the benchmark's raw measurements to medians and render the tables (console and Markdown)."""

from __future__ import annotations

import statistics
from pathlib import Path

from floor_report import floor_tables
from provenance import describe

TARGETS = ("mock", "gateway", "edge", "litellm")
LABELS = {"mock": "mock direct", "gateway": "gateway alone", "edge": "nginx+TLS+gateway", "litellm": "LiteLLM proxy"}


def med(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def reduce(raw: dict[str, list[list[dict]]]) -> dict[str, dict]:
    """Median over repetitions, per target, per (stream, concurrency)."""
    out: dict[str, dict] = {}
    for target, reps in raw.items():
        by_key: dict[tuple[bool, int], list[dict]] = {}
        for rep in reps:
            for r in rep:
                by_key.setdefault((r["stream"], r["concurrency"]), []).append(r)
        levels = {}
        for (stream, conc), rs in sorted(by_key.items()):
            def m(key: str, rs: list[dict] = rs) -> float | None:
                return med([r[key] for r in rs])

            groups = rs[0]["cpu"].keys()
            levels[f"{'stream' if stream else 'plain'}-{conc}"] = {
                "stream": stream, "concurrency": conc, "reps": len(rs),
                "requests": sum(r["requests"] for r in rs), "errors": sum(r["errors"] for r in rs),
                "rps": m("rps"), "p50_ms": m("p50_ms"), "p95_ms": m("p95_ms"), "p99_ms": m("p99_ms"),
                "ttfc_p50_ms": m("ttfc_p50_ms"), "ttfc_p95_ms": m("ttfc_p95_ms"),
                "loadgen_cpu_util": m("loadgen_cpu_util"), "loadgen_cpu_us_per_req": m("loadgen_cpu_us_per_req"),
                "cpu_ms_per_req": {g: med([r["cpu"][g]["ms_per_req"] for r in rs]) for g in groups},
                "cpu_util": {g: med([r["cpu"][g]["util"] for r in rs]) for g in groups},
                "rps_spread": [min(r["rps"] for r in rs), max(r["rps"] for r in rs)],
                "p50_spread": [min(r["p50_ms"] for r in rs), max(r["p50_ms"] for r in rs)],
            }
        out[target] = levels
    return out


def summarize(res: dict[str, dict], mem: dict[str, dict[str, int]]) -> dict[str, dict]:
    """Headline figures per target."""
    base = res.get("mock", {})
    summary = {}
    for t, levels in res.items():
        plain = [v for v in levels.values() if not v["stream"]]
        best = max(plain, key=lambda v: v["rps"] or 0)
        total_req = sum(v["requests"] + v["errors"] for v in plain)
        # CPU per request over the whole plain sweep, weighted by requests: median per level, then weighted
        cpu = sum((v["cpu_ms_per_req"]["server"] or 0) * (v["requests"] + v["errors"]) for v in plain) / max(1,
                                                                                                      total_req)
        s1 = levels.get("stream-1", {})
        s8 = levels.get("stream-8", {})
        p1 = levels["plain-1"]
        summary[t] = {
            "p50_1": p1["p50_ms"], "p99_1": p1["p99_ms"],
            "added_p50_1": (p1["p50_ms"] - base["plain-1"]["p50_ms"]) if base else None,
            "best_rps": best["rps"], "best_conc": best["concurrency"],
            "cpu_ms_per_req": cpu,
            "gateway_cpu_ms_per_req": (sum((v["cpu_ms_per_req"].get("gateway") or 0) * (v["requests"] + v["errors"])
                                           for v in plain) / max(1, total_req)
                                       if "gateway" in plain[0]["cpu_ms_per_req"] else None),
            "stream_cpu_ms_per_req": (s8.get("cpu_ms_per_req") or {}).get("server"),
            "ttfc_1": s1.get("ttfc_p50_ms"), "ttfc_8": s8.get("ttfc_p50_ms"),
            "added_ttfc_1": (s1["ttfc_p50_ms"] - base["stream-1"]["ttfc_p50_ms"]) if base and s1 else None,
            "added_ttfc_8": (s8["ttfc_p50_ms"] - base["stream-8"]["ttfc_p50_ms"]) if base and s8 else None,
            "capacity_per_core": 1000.0 / cpu if cpu else None,
            "hwm_mib": {k: v / 1024 for k, v in mem.get(t, {}).items()},
            "errors": sum(v["errors"] for v in levels.values()),
        }
    return summary


def fmt(v: float | None, spec: str = ".1f", suffix: str = "") -> str:
    return "–" if v is None else f"{v:{spec}}{suffix}"


def ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "–"
    return f"{a / b:.1f}×"


def tables(res: dict[str, dict], summary: dict[str, dict], meta: dict) -> str:
    lines = []
    ll = summary.get("litellm")
    ll_rps, ll_cpu = (ll["best_rps"], ll["cpu_ms_per_req"]) if ll else (None, None)
    lines.append("### Headline (medians over repetitions)\n")
    lines.append("| target | p50 @1 (ms) | added p50 @1 vs mock (ms) | saturated rps (conc) | vs LiteLLM rps | "
                 "server CPU ms/req | CPU-bound rps/core | vs LiteLLM CPU | SSE first chunk @1 / @8 (ms) | "
                 "added first chunk @1 / @8 (ms) | peak RSS (MiB) |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for t in TARGETS:
        if t not in summary:
            continue
        s = summary[t]
        mem = ", ".join(f"{k} {v:.0f}" for k, v in s["hwm_mib"].items())
        cpu = fmt(s["cpu_ms_per_req"], ".2f")
        if s["gateway_cpu_ms_per_req"] is not None:
            cpu += f" (gateway {s['gateway_cpu_ms_per_req']:.2f})"
        lines.append(
            f"| {LABELS[t]} | {fmt(s['p50_1'], '.2f')} | {fmt(s['added_p50_1'], '.2f') if t != 'mock' else '–'} | "
            f"{fmt(s['best_rps'], '.0f')} ({s['best_conc']}) | {ratio(s['best_rps'], ll_rps)} | "
            f"{cpu} | {fmt(s['capacity_per_core'], '.0f')} | "
            f"{ratio(ll_cpu, s['cpu_ms_per_req'])} less | "
            f"{fmt(s['ttfc_1'], '.2f')} / {fmt(s['ttfc_8'], '.2f')} | "
            f"{fmt(s['added_ttfc_1'], '.2f') if t != 'mock' else '–'} / "
            f"{fmt(s['added_ttfc_8'], '.2f') if t != 'mock' else '–'} | {mem} |")
    lines.append("")
    lines.append("### Latency and throughput per concurrency (non-streamed)\n")
    lines.append("| target | conc | rps | p50 ms | p95 ms | p99 ms | server CPU ms/req | server CPU util | "
                 "loadgen CPU util | loadgen µs/req | errors |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for t in TARGETS:
        for v in res.get(t, {}).values():
            lines.append(
                f"| {LABELS[t]} | {v['concurrency']}{' (SSE)' if v['stream'] else ''} | {fmt(v['rps'], '.0f')} | "
                f"{fmt(v['p50_ms'], '.2f')} | {fmt(v['p95_ms'], '.2f')} | {fmt(v['p99_ms'], '.2f')} | "
                f"{fmt(v['cpu_ms_per_req']['server'], '.2f')} | {fmt(v['cpu_util']['server'], '.0%')} | "
                f"{fmt(v['loadgen_cpu_util'], '.0%')} | {fmt(v['loadgen_cpu_us_per_req'], '.0f')} | {v['errors']} |")
    lines.append("")
    if ll and "edge" in summary and "gateway" in summary:
        e, g = summary["edge"], summary["gateway"]
        lines.append("### Against the targets (figures, not assertions)\n")
        lines.append("| target | goal | measured |")
        lines.append("|---|---|---|")
        lines.append(f"| nginx+TLS+gateway added p50, one client | ≤ 2 ms | {fmt(e['added_p50_1'], '.2f')} ms |")
        lines.append(f"| gateway CPU per request (gateway alone) | ≤ 2 ms | {fmt(g['cpu_ms_per_req'], '.2f')} ms |")
        lines.append(f"| gateway CPU per request in the edge path (incl. auth_request) | ≤ 2 ms | "
                     f"{fmt(e['gateway_cpu_ms_per_req'], '.2f')} ms |")
        lines.append(f"| saturated throughput per worker vs LiteLLM | ≥ 8× | {ratio(g['best_rps'], ll['best_rps'])} "
                     f"measured, {ratio(g['capacity_per_core'], ll['capacity_per_core'])} CPU-bound |")
        lines.append(f"| throughput per worker vs LiteLLM at {' / '.join(str(c) for c in PLAIN_LEVELS)} clients "
                     f"(CPU-bound; measured rps) | ≥ 5× at each | {per_level_ratios(res)} |")
        gw = res.get("gateway") or {}
        lines.append(f"| CPU per request at 64 clients vs 8 (gateway alone), plain / streamed | within 10 % | "
                     f"{cpu_growth(gw, 'plain', 64)} / {cpu_growth(gw, 'stream', 64)} |")
        if "stream-256" in gw:
            lines.append(f"| CPU per stream at 256 concurrent streams vs 8 (gateway alone) | flat | "
                         f"{cpu_growth(gw, 'stream', 256)} |")
        lines.append(f"| streamed first chunk added (gateway alone, 1 / 8 clients) | ≤ 3 ms | "
                     f"{fmt(g['added_ttfc_1'], '.2f')} / {fmt(g['added_ttfc_8'], '.2f')} ms |")
        lines.append(f"| streamed first chunk added (edge, 1 / 8 clients) | ≤ 3 ms | "
                     f"{fmt(e['added_ttfc_1'], '.2f')} / {fmt(e['added_ttfc_8'], '.2f')} ms |")
        lines.append("")
    return "\n".join(lines)


PLAIN_LEVELS = (1, 8, 32, 64)


def per_level_ratios(res: dict[str, dict]) -> str:
    """LiteLLM's CPU per request over the gateway's at each plain level, then the measured rps ratios."""
    def at(target: str, conc: int, key: str) -> float | None:
        v = (res.get(target) or {}).get(f"plain-{conc}") or {}
        return v.get("cpu_ms_per_req", {}).get("server") if key == "cpu" else v.get("rps")

    cpu = " / ".join(ratio(at("litellm", c, "cpu"), at("gateway", c, "cpu")) for c in PLAIN_LEVELS)
    rps = " / ".join(ratio(at("gateway", c, "rps"), at("litellm", c, "rps")) for c in PLAIN_LEVELS)
    return f"{cpu} (rps {rps})"


def console_table(summary: dict[str, dict]) -> str:
    ll = summary.get("litellm")
    ll_rps, ll_cpu = (ll["best_rps"], ll["cpu_ms_per_req"]) if ll else (None, None)
    hdr = (f"{'target':<20}{'p50@1':>8}{'+p50@1':>8}{'sat rps':>9}{'×LL':>7}{'CPU ms/r':>10}{'×LL less':>9}"
           f"{'TTFC@1':>8}{'+@1':>7}{'TTFC@8':>8}{'+@8':>8}{'RSS MiB':>9}")
    out = [hdr, "-" * len(hdr)]
    for t in TARGETS:
        if t not in summary:
            continue
        s = summary[t]
        mem = sum(s["hwm_mib"].values())
        out.append(f"{LABELS[t]:<20}{fmt(s['p50_1'], '.2f'):>8}{fmt(s['added_p50_1'], '.2f'):>8}"
                   f"{fmt(s['best_rps'], '.0f'):>9}{ratio(s['best_rps'], ll_rps):>7}"
                   f"{fmt(s['cpu_ms_per_req'], '.2f'):>10}{ratio(ll_cpu, s['cpu_ms_per_req']):>9}"
                   f"{fmt(s['ttfc_1'], '.2f'):>8}{fmt(s['added_ttfc_1'], '.2f'):>7}{fmt(s['ttfc_8'], '.2f'):>8}"
                   f"{fmt(s['added_ttfc_8'], '.2f'):>8}{mem:>9.0f}")
    return "\n".join(out)


def cpu_growth(levels: dict, kind: str, conc: int) -> str:
    """Server CPU per request at `conc` clients against 8 (`kind` plain or stream), as a signed percentage."""
    a = (levels.get(f"{kind}-8") or {}).get("cpu_ms_per_req", {}).get("server")
    b = (levels.get(f"{kind}-{conc}") or {}).get("cpu_ms_per_req", {}).get("server")
    return f"{(b / a - 1) * 100:+.0f} %" if a and b else "\N{EN DASH}"


def cpu_vs_concurrency(res: dict[str, dict]) -> str:
    """Server CPU ms per request at each concurrency, plain and streamed, with the growth from 8 clients."""
    keys = sorted({k for lv in res.values() for k in lv}, key=lambda k: (k.startswith("stream"), int(k.split("-")[1])))
    head = " | ".join(("SSE " if k.startswith("stream") else "") + "@" + k.split("-")[1] for k in keys)
    growths = [("plain", 64), ("stream", 64), ("stream", 256)]
    growths = [g for g in growths if any(f"{g[0]}-{g[1]}" in lv for lv in res.values())]
    named = " | ".join(f"{'SSE' if kind == 'stream' else 'plain'} {conc} vs 8" for kind, conc in growths)
    lines = ["### CPU per request against concurrency (server CPU ms per request, medians)\n",
             f"| target | {head} | {named} |", "|---|" + "---|" * (len(keys) + len(growths))]
    for t in TARGETS:
        lv = res.get(t)
        if not lv:
            continue
        cells = [fmt((lv.get(k) or {}).get("cpu_ms_per_req", {}).get("server"), ".2f") for k in keys]
        lines.append(f"| {LABELS[t]} | " + " | ".join(cells + [cpu_growth(lv, k, c) for k, c in growths]) + " |")
    lines.append("")
    return "\n".join(lines)


def run_line(meta: dict) -> str:
    """The page's first paragraph: how it was made, when, on which code, and in which mode."""
    return ("Generated by `make bench` (`bench/run.py`); do not edit by hand. "
            f"Run: {meta['when']} on {describe(meta.get('source'))}, mode `{meta['mode']}`, "
            f"{meta['reps']} interleaved repetitions × {meta['duration']} s per level (+{meta['warmup']} s warm-up), "
            f"medians reported; {meta['cpus']} CPUs; Python {meta['python']}; LiteLLM {meta['litellm']}.")


def write_report(path: Path, png: Path | None, res: dict, summary: dict, meta: dict, floor: dict | None = None,
                 workers: str = "") -> None:
    body = [
        "# Benchmarks",
        "",
        run_line(meta),
        "",
        "Every target talks to the same mock upstream (`python -m mockllm`, one uvicorn worker, "
        f"{meta['chunk_delay_ms']} ms between streamed chunks). One client connection per virtual user, "
        "HTTP/1.1 keep-alive, closed loop. *Added* figures subtract the mock-direct figure measured in the "
        "same run. CPU is utime+stime of the server process tree(s) from `/proc/<pid>/stat` divided by the "
        "requests completed in the window (edge: nginx + gateway; the mock's CPU is not included). "
        "*CPU-bound rps/core* = 1000 / CPU ms per request: the throughput one worker reaches when it owns a core "
        "(on this 2-core machine the mock, the load generator and the server share two cores, so measured "
        "saturated rps understates a worker's capacity). Peak RSS is VmHWM.",
        "",
        *(["> **Quick mode**: 1-second windows, for a smoke check of the bench; not the reported figures "
            "(`make bench` runs the sustained mode).", ""] if meta["mode"] == "quick" else []),
        tables(res, summary, meta),
        cpu_vs_concurrency(res),
        floor_tables(floor or {}),
        workers,
        "### Is the load generator the bottleneck?\n",
        "No: the load generator (`bench/loadgen.py`, asyncio + uvloop, raw HTTP/1.1) spends "
        f"{meta['loadgen_us']} µs of CPU per request (TLS included for the edge), and the mock-direct "
        f"saturated rate ({fmt(summary.get('mock', {}).get('best_rps'), '.0f')} rps) is far above every "
        "proxied target's, measured with the same client on the same machine.",
        "",
        "Notes: " + "; ".join(meta["notes"]) + ".",
        "",
    ]
    if png is not None:
        body += [f"![latency and throughput]({png.name})", ""]
    path.write_text("\n".join(body))
