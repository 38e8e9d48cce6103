"""LoadGen scenario rows (``pytest bench --scenarios``; docs/loadgen.md) side by side per model: the terminal's
table (the verdict's scenario columns), the report's table and its latency-percentile figure.

A scenario row is a pytest-benchmark row whose ``extra_info`` has ``scenario``; its headline figure is LoadGen's
own (SingleStream's p90, MultiStream's p99, Offline's samples/s, Server's highest VALID rate and that run's p99),
never the step median. Pure Python; the figure needs matplotlib (the report extra).
"""
from __future__ import annotations

import textwrap

SCENARIO_ORDER = ("single-stream", "multi-stream", "offline", "server")
COLUMNS = {"single-stream": "SingleStream p90 ms", "multi-stream": "MultiStream p99 ms",
           "offline": "Offline samples/s (batch)", "server": "Server q/s @ p99 ms (bound)"}
PERCENTILES = ("p50", "p90", "p95", "p97", "p99", "p99.9")
NOTE = ("LoadGen scenarios (MLCommons' load generator), unofficial runs: short durations, no accuracy run; "
        "not MLPerf results.")


def is_scenario(bench: dict) -> bool:
    return "scenario" in (bench.get("extra_info") or {})


def split(benchmarks: list[dict]) -> tuple[list[dict], list[dict]]:
    """(the step rows, the scenario rows)."""
    steps = [b for b in benchmarks if not is_scenario(b)]
    return steps, [b for b in benchmarks if is_scenario(b)]


def cell(info: dict) -> str:
    """A scenario row's headline figure as the table shows it; INVALID rows say so."""
    scenario, ok = info["scenario"], info.get("loadgen_valid")
    if scenario == "server":
        rate, p99, bound = info.get("server_rate_qps"), info.get("server_p99_s"), info.get("server_bound_s")
        if rate is None:
            return f"none VALID (<= {1e3 * bound:g})" if bound else "none VALID"
        return f"{rate:.3g} @ {1e3 * p99:.0f} (<= {1e3 * bound:g})"
    value = info.get("loadgen_metric_value")
    if value is None:
        return "-"
    text = (f"{value:,.1f} (bs{info.get('offline_batch')})" if scenario == "offline"
            else f"{1e3 * value:.3g}")
    return text if ok else f"{text} INVALID"


def table(benchmarks: list[dict]) -> tuple[list[str], dict[str, list[list[str]]]]:
    """(the header, model -> its rows): one row per runtime, one column per scenario present, then the largest
    peak memory of its scenario runs and how many runs were VALID."""
    from cnnbench.reports.rows import RUNTIMES

    rows = [b["extra_info"] for b in benchmarks if is_scenario(b)]
    present = [s for s in SCENARIO_ORDER if any(r["scenario"] == s for r in rows)]
    head = ["runtime", *(COLUMNS[s] for s in present), "peak MiB", "VALID"]
    order = {r: i for i, r in enumerate(RUNTIMES)}
    out: dict[str, list[list[str]]] = {}
    for model in sorted({r["model"] for r in rows}):
        mine = [r for r in rows if r["model"] == model]
        for runtime in sorted({r["runtime"] for r in mine}, key=lambda rt: order.get(rt, 99)):
            got = {r["scenario"]: r for r in mine if r["runtime"] == runtime}
            peaks = [r["peak_memory_bytes"] for r in got.values() if r.get("peak_memory_bytes") is not None]
            valid = sum(bool(r.get("loadgen_valid")) for r in got.values())
            out.setdefault(model, []).append(
                [runtime, *(cell(got[s]) if s in got else "-" for s in present),
                 f"{max(peaks) / 2**20:,.0f}" if peaks else "-", f"{valid}/{len(got)}"])
    return head, out


def render(benchmarks: list[dict], width: int = 100) -> str:
    """The terminal's scenario table (the verdict's scenario columns), or "" without scenario rows."""
    head, by_model = table(benchmarks)
    if not by_model:
        return ""
    rows = [r for model_rows in by_model.values() for r in model_rows]
    widths = [max(len(x[i]) for x in [head, *rows]) for i in range(len(head))]
    line = lambda cells: "  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                          for i, (c, w) in enumerate(zip(cells, widths)))
    info = [b["extra_info"] for b in benchmarks if is_scenario(b)]
    durations = sorted({i.get("loadgen_min_duration_s") for i in info if i.get("loadgen_min_duration_s")})
    lines = textwrap.wrap(f"{NOTE} Each run at least {', '.join(f'{d:g}' for d in durations)} s and LoadGen's "
                          "minimum queries (docs/loadgen.md); the logs: each row's loadgen_logs.", width)
    lines += ["", line(head)]
    for model, model_rows in by_model.items():
        lines.append(model)
        lines += [line(r) for r in model_rows]
    invalid = [i for i in info if not i.get("loadgen_valid")]
    for i in invalid:
        lines += textwrap.wrap(f"INVALID, {i.get('loadgen_case')}: {'; '.join(i.get('loadgen_why') or []) or 'no VALID trial'}",
                               width, initial_indent="  ", subsequent_indent="    ")
    return "\n".join(lines)


def latency_figure(benchmarks: list[dict]) -> bytes | None:
    """SVG: per model, each latency scenario's percentiles (p50 .. p99.9, log scale) per runtime, and the Offline
    samples/s as bars; None without scenario rows."""
    rows = [b["extra_info"] for b in benchmarks if is_scenario(b)]
    if not rows:
        return None
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cnnbench.reports.plots import RUNTIME_COLORS

    models = sorted({r["model"] for r in rows})
    present = [s for s in SCENARIO_ORDER if any(r["scenario"] == s for r in rows)]
    fig, axes = plt.subplots(len(models), len(present), figsize=(3.6 * len(present), 3.0 * len(models)),
                             squeeze=False)
    for i, model in enumerate(models):
        for j, scenario in enumerate(present):
            ax = axes[i][j]
            got = [r for r in rows if r["model"] == model and r["scenario"] == scenario]
            if scenario == "offline":
                names = [r["runtime"] for r in got]
                ax.bar(range(len(got)), [r.get("loadgen_samples_per_s") or 0 for r in got],
                       color=[RUNTIME_COLORS.get(n, "grey") for n in names])
                ax.set_xticks(range(len(got)), names, rotation=30, ha="right", fontsize=7)
                ax.set_ylabel("samples/s")
            else:
                for r in got:
                    lat = r.get("loadgen_latency_s") or {}
                    xs = [p for p in PERCENTILES if p in lat]
                    ax.plot(xs, [1e3 * lat[p] for p in xs], marker="o", label=r["runtime"],
                            color=RUNTIME_COLORS.get(r["runtime"]), linestyle="-" if r.get("loadgen_valid") else ":")
                if scenario == "server" and got and got[0].get("server_bound_s"):
                    ax.axhline(1e3 * got[0]["server_bound_s"], color="black", linewidth=0.8, linestyle="--")
                ax.set_yscale("log")
                ax.set_ylabel("latency ms")
                ax.tick_params(labelsize=7)
                if got:
                    ax.legend(fontsize=6)
            ax.set_title(f"{model}: {scenario}", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    return buf.getvalue()
