"""Plot bench results (runs in .bench/venv, which has matplotlib): `plot.py results.json out.png`."""

# matplotlib is installed only in .bench/venv (mk/bench.mk), not in the .venv pyright checks against.
# pyright: reportMissingImports=false

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ORDER = ("mock", "gateway", "edge", "litellm")
LABELS = {"mock": "mock direct", "gateway": "gateway alone", "edge": "nginx+TLS+gateway", "litellm": "LiteLLM proxy"}
COLORS = {"mock": "#888888", "gateway": "#1f77b4", "edge": "#2ca02c", "litellm": "#d62728"}


def main(src: str, dst: str) -> None:
    data = json.load(open(src))
    levels, summary, meta = data["levels"], data["summary"], data["meta"]
    targets = [t for t in ORDER if t in levels]
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    (ax_lat, ax_rps), (ax_cpu, ax_ttfc) = axes
    for t in targets:
        plain = sorted((v for v in levels[t].values() if not v["stream"]), key=lambda v: v["concurrency"])
        conc = [v["concurrency"] for v in plain]
        ax_lat.plot(conc, [v["p50_ms"] for v in plain], "o-", color=COLORS[t], label=f"{LABELS[t]} p50")
        ax_lat.plot(conc, [v["p99_ms"] for v in plain], "x--", color=COLORS[t], alpha=0.5)
        ax_rps.plot(conc, [v["rps"] for v in plain], "o-", color=COLORS[t], label=LABELS[t])
    for ax in (ax_lat, ax_rps):
        ax.set_xscale("log", base=2)
        ax.set_xticks([1, 8, 32, 64], ["1", "8", "32", "64"])
        ax.set_xlabel("concurrent clients (closed loop)")
        ax.grid(alpha=0.3)
    ax_lat.set_yscale("log")
    ax_lat.set_ylabel("latency ms (p50 solid, p99 dashed)")
    ax_lat.set_title("Latency, non-streamed")
    ax_lat.legend(fontsize=8)
    ax_rps.set_yscale("log")
    ax_rps.set_ylabel("requests / s")
    ax_rps.set_title("Throughput (one worker each; 2-core machine)")
    ax_rps.legend(fontsize=8)

    for t in targets:  # CPU per request against concurrency: flat is the goal
        for stream, style in ((False, "o-"), (True, "s--")):
            rows = sorted((v for v in levels[t].values() if v["stream"] == stream), key=lambda v: v["concurrency"])
            ax_cpu.plot([v["concurrency"] for v in rows], [v["cpu_ms_per_req"]["server"] for v in rows], style,
                        color=COLORS[t], alpha=0.5 if stream else 1.0,
                        label=f"{LABELS[t]}{' SSE' if stream else ''}")
    ax_cpu.set_xscale("log", base=2)
    ax_cpu.set_xticks([1, 8, 32, 64, 256], ["1", "8", "32", "64", "256"])  # streams go to 256
    ax_cpu.set_xlabel("concurrent clients (closed loop)")
    ax_cpu.set_yscale("log")
    ax_cpu.set_ylabel("server CPU ms / request (log)")
    ax_cpu.set_title("CPU per request vs concurrency (solid plain, dashed SSE; flat is good)")
    ax_cpu.grid(alpha=0.3)
    ax_cpu.legend(fontsize=7, ncol=2)

    names = [LABELS[t] for t in targets]
    x = range(len(targets))
    t1 = [summary[t]["ttfc_1"] or 0 for t in targets]
    t8 = [summary[t]["ttfc_8"] or 0 for t in targets]
    ax_ttfc.bar([i - 0.2 for i in x], t1, 0.4, color=[COLORS[t] for t in targets], label="1 client")
    ax_ttfc.bar([i + 0.2 for i in x], t8, 0.4, color=[COLORS[t] for t in targets], alpha=0.5, hatch="//",
                label="8 clients")
    for i, (a, b) in enumerate(zip(t1, t8, strict=True)):
        ax_ttfc.text(i - 0.2, a, f"{a:.1f}", ha="center", va="bottom", fontsize=8)
        ax_ttfc.text(i + 0.2, b, f"{b:.1f}", ha="center", va="bottom", fontsize=8)
    ax_ttfc.set_xticks(list(x), names, fontsize=8)
    ax_ttfc.set_ylabel("ms (p50)")
    ax_ttfc.set_title("SSE time to first chunk")
    ax_ttfc.legend(fontsize=8)
    mode = "QUICK mode (not the reported figures)" if meta["mode"] == "quick" else \
        f"sustained mode ({meta['duration']:.0f} s windows)"
    fig.suptitle(f"LLM gateway benchmark — medians of {meta['reps']} interleaved runs, {mode}, {meta['when']}",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
