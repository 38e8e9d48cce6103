"""LoadGen scenario runs (``pytest bench --scenarios``) as a result file: per model, runtime and scenario, LoadGen's
validity and figures, the queries run, the Server search's chosen rate and p99, and each runtime's memory.

    python tools/loadgen_results.py RUN.json [RUN2.json ...] --command "pytest bench ..." --wall "23 min" \\
        --out results/loadgen-DATE.json
    python tools/results_pages.py            # then render its page

Everything is read from the runs' own rows (nothing typed). Exit 2 on a file that is not such a run.
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

ORDER = ("single-stream", "multi-stream", "offline", "server")


def _ms(seconds) -> str:
    return "-" if seconds is None else f"{1e3 * seconds:,.1f}"


def _mib(value) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f}"


def _plan(lg: dict) -> str:
    """One run's LoadGen settings, as its saved ``cnnbench.loadgen`` block states them."""
    text = (f"{', '.join(lg['scenarios'])}: at least {lg['min_duration_s']:g} s and "
            + ", ".join(f"{n} queries ({s})" for s, n in lg["min_queries"].items()) + f" ({lg['query_counts']})")
    if "server" in lg["scenarios"]:
        bounds = lg["server_bounds_ms"]
        text += f", {lg['server_trials']} Server trials, " + (
            f"bounds {bounds} ms" if bounds else "each model's default bound (its rows say which)")
    if "offline" in lg["scenarios"]:
        text += f", Offline batches {', '.join(map(str, lg['offline_batches']))}"
    return text


def rows_of(runs: list[dict]) -> tuple[list[list[str]], list[list[str]]]:
    from cnnbench.reports.rows import RUNTIMES

    infos = [b["extra_info"] for run in runs for b in run["benchmarks"] if "scenario" in b["extra_info"]]
    if not infos:
        raise ValueError("no LoadGen scenario row")
    order = {r: i for i, r in enumerate(RUNTIMES)}
    infos.sort(key=lambda i: (i["model"], order.get(i["runtime"], 99), ORDER.index(i["scenario"])))
    scenario_rows, memory = [], {}
    for i in infos:
        lat = i.get("loadgen_latency_s") or {}
        if i["scenario"] == "server":
            figure = (f"{i['server_rate_qps']:.3g} q/s, p99 {_ms(i['server_p99_s'])} ms (bound {_ms(i['server_bound_s'])})"
                      if i.get("server_rate_qps") else f"none VALID (bound {_ms(i.get('server_bound_s'))})")
            trials = "; ".join(f"{t['rate']:.3g}: {'VALID' if t['valid'] else 'INVALID'}"
                               for t in i.get("server_trials") or [])
        elif i["scenario"] == "offline":
            figure = f"{i['loadgen_samples_per_s']:,.1f} samples/s (batch {i['offline_batch']})"
            trials = ", ".join(f"bs{b}: {v:,.1f}/s" for b, v in (i.get("offline_sweep_images_per_s") or {}).items())
        else:
            figure = f"p{'90' if i['scenario'] == 'single-stream' else '99'} {_ms(i['loadgen_metric_value'])} ms"
            trials = ""
        scenario_rows.append([i["model"], i["runtime"], i["scenario"], i["loadgen_validity"], figure,
                              _ms(lat.get("p50")), _ms(lat.get("p90")), _ms(lat.get("p99")),
                              f"{i['loadgen_query_count']:,} ({i['loadgen_sample_count']:,})",
                              f"{i['loadgen_run_s']:.0f}", trials])
    steps = [b["extra_info"] for run in runs for b in run["benchmarks"]
             if "scenario" not in b["extra_info"] and b["extra_info"].get("mode") == "inference"]
    steps.sort(key=lambda i: (i["model"], order.get(i["runtime"], 99)))
    memory_rows = [[i["model"], i["runtime"], _mib(i.get("runtime_rss_bytes")), _mib(i.get("peak_memory_bytes")),
                    _mib(i.get("process_peak_rss_bytes")),
                    "the engine only (exported by a child process)" if "child" in str(i.get("export_process"))
                    else "the engine and the source framework (exported in the worker)" if "-from-" in i["runtime"]
                    else "the framework"] for i in steps]
    return scenario_rows, memory_rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python tools/loadgen_results.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+")
    p.add_argument("--command", required=True, action="append", help="a command that made a run, as run")
    p.add_argument("--wall", required=True, help="the commands' wall time, as measured")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    try:
        runs = [json.loads(Path(r).read_text()) for r in a.runs]
        scenario_rows, memory_rows = rows_of(runs)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"loadgen_results: not a pytest bench --scenarios run ({exc})", file=sys.stderr)
        return 2
    first, last = runs[0], runs[-1]
    mi, ci = first["machine_info"], first["commit_info"]
    info = next(b["extra_info"] for run in runs for b in run["benchmarks"] if "scenario" in b["extra_info"])
    versions = {"Python": mi.get("python_version"), "LoadGen": info.get("loadgen_version")}
    for run in runs:
        for b in run["benchmarks"]:
            e = b["extra_info"]
            for label, key in (("PyTorch", "torch_version"), ("TensorFlow", "tf_version"), ("Keras", "keras_version"),
                               ("ONNX Runtime", "onnxruntime_version"), ("OpenVINO", "openvino_version"),
                               ("LiteRT", "litert_version")):
                if e.get(key):
                    versions.setdefault(label, e[key])
    dates = sorted({datetime.fromisoformat(r["datetime"]).date().isoformat() for r in runs})
    result = {
        "format": 1,
        "title": "LoadGen scenarios (unofficial, not MLPerf results): ResNet-50 and MobileNetV2 in five runtimes",
        "dates": dates,
        "time": f"ended {datetime.fromisoformat(last['datetime']):%H:%M} UTC",
        "machine": {"description": "the 2-core VM of this project, shared with other work", "cpu": mi.get("cpu_model"),
                    "cores": mi.get("cpu_logical_cores"), "ram": f"{round((mi.get('ram_bytes') or 0) / 2**30)} GiB",
                    "gpu": None},
        "versions": {k: v for k, v in versions.items() if v},
        "settings": f"--threads {info.get('setting_intra_op_threads')} in every runtime; " + "; ".join(
            _plan(run["cnnbench"]["loadgen"]) for run in runs if run["cnnbench"].get("loadgen")),
        "commit": (ci.get("id") or "")[:7] or None,
        "commands": [{"as_run": c, "now": None} for c in a.command]
        + [{"as_run": f"python tools/loadgen_results.py {' '.join(a.runs)} --command ... --wall \"{a.wall}\" "
                      f"--out {a.out}", "now": None}],
        "source": "the runs' JSON (pytest-benchmark's, with cnnbench's extra_info) and LoadGen's logs beside them, "
                  "read by tools/loadgen_results.py",
        "raw_files": [],
        "tables": [
            {"caption": "Each scenario's LoadGen run (Server: the search's chosen trial); latencies in ms",
             "columns": ["model", "runtime", "scenario", "LoadGen", "figure", "p50", "p90", "p99",
                         "queries (samples)", "run s", "sweep (samples/s) / Server trials (q/s)"],
             "align": ["left", "left", "left", "left", "left", "right", "right", "right", "right", "right", "left"],
             "rows": scenario_rows},
            {"caption": "Memory, from the step cases of the same runtimes (batch 1, the suite's method): the "
                        "worker's own RSS before the model is built (the runtime), the peak RSS of one steady step "
                        "above it, and the process's peak RSS",
             "columns": ["model", "runtime", "runtime MiB", "step peak above it MiB", "process peak MiB",
                         "the worker holds"],
             "align": ["left", "left", "right", "right", "right", "left"],
             "rows": memory_rows}][: 2 if memory_rows else 1],  # no memory table without step cases
        "facts": {"wall time": a.wall},
        "notes": [],
    }
    from provenance import write  # tools/provenance.py: every measuring tool's result file, written one way

    write(result, a.out)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    sys.exit(main())
