"""Build the report: results.csv, comparison.csv, skipped.csv (+ Parquet) and a self-contained report.html."""
from __future__ import annotations

import base64
import importlib.util
import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from cnnbench.reports import plots
from cnnbench.reports.atomic import ensure_writable_dir, write_atomic
from cnnbench.reports.compare import Thresholds, regressions_between_consecutive_runs
from cnnbench.reports.frameworks import comparison_frame, headline
from cnnbench.reports.load import Run
from cnnbench.reports.tidy import newest_per_case, results_frame, skipped_frame

FAIRNESS_KEYS = [
    "precision", "layout", "tf_jit", "torch_compile", "torch_intra_op_threads", "torch_inter_op_threads",
    "tf_intra_op_threads", "tf_inter_op_threads", "cpu_threads_available", "cudnn_benchmark", "tf32_matmul",
    "tf32_cudnn", "matmul_precision", "torch_version", "tf_version", "keras_version", "cuda_version",
    "cudnn_version", "python_version",
]


@dataclass
class Figure:
    id: str
    title: str
    caption: str
    svg: bytes

    @property
    def data_uri(self) -> str:
        return "data:image/svg+xml;base64," + base64.b64encode(self.svg).decode("ascii")


@dataclass
class ReportFiles:
    results_csv: Path
    comparison_csv: Path
    skipped_csv: Path
    html: Path
    parquet: Path | None
    rows: int


def figures(results: pd.DataFrame) -> list[Figure]:
    figs = []
    # each machine's newest measurement of every case: what the bar charts show (the trend shows history)
    latest = newest_per_case(results, ["machine_id", "case_id", "input_size"])
    for machine_id, df in latest.groupby("machine_id"):
        where = f"{df['machine'].iloc[0]}, newest of run(s) {', '.join(sorted(set(df['run'])))}"
        sfx = f"-{machine_id}"
        figs.append(Figure(f"step-time{sfx}", f"Step time per model and framework ({where})",
                           "Median of the timed rounds; bars missing where a case was skipped or not run.",
                           plots.step_time_bars(df)))
        if plots.has_batch_sweep(df):
            figs.append(Figure(f"throughput{sfx}", f"Throughput vs batch size ({where})",
                               "images/s = batch / median step time.", plots.throughput_vs_batch(df)))
        figs.append(Figure(f"flops{sfx}", f"FLOPs vs step time ({where})",
                           "Each line is the time a step would take at the framework's measured float32 GEMM "
                           "peak; the gap to a point is what the model loses to memory traffic and overhead.",
                           plots.flops_vs_time(df)))
        if df["peak_memory_bytes"].notna().any():
            kinds = "; ".join(sorted(set(df["peak_memory_kind"].dropna())))
            figs.append(Figure(f"memory{sfx}", f"Peak memory per model and framework ({where})",
                               f"Measured as: {kinds}. Different kinds are not directly comparable.",
                               plots.memory_bars(df)))
        if df["compile_s"].notna().any():
            figs.append(Figure(f"compile{sfx}", f"Compile and first-call overhead ({where})",
                               "First step minus a steady step: tf.function tracing, XLA, torch.compile, "
                               "cuDNN autotuning, lazy allocation.", plots.compile_bars(df)))
    return figs


def trend_figure(results: pd.DataFrame, thresholds: Thresholds) -> tuple[Figure | None, set]:
    runs_per_case = results.groupby(["machine_id", "case_id"])["run"].transform("nunique")
    history = results[runs_per_case > 1]
    if history.empty:
        return None, set()
    flagged = regressions_between_consecutive_runs(history, thresholds)
    fig = Figure("trend", "Trend across runs",
                 "Median step time with its interquartile range, per benchmark measured in more than one run, oldest run first. A red ring marks "
                 "a run that `cnnbench compare` flags as a regression against the previous run on the same machine.",
                 plots.trend(history, flagged))
    return fig, flagged


def _runs_table(runs: list[Run], results: pd.DataFrame) -> list[dict]:
    out = []
    for i, run in enumerate(runs, 1):
        mi, ci = run.data.get("machine_info") or {}, run.data.get("commit_info") or {}
        rows = results[results["run"] == run.name]
        first = rows.iloc[0].to_dict() if not rows.empty else {}
        by_fw = {fw: g.iloc[0].to_dict() for fw, g in rows.groupby("framework")}
        settings = {}
        for fw, r in sorted(by_fw.items()):
            for key in FAIRNESS_KEYS:
                v = r.get(key)
                if v is not None and not (isinstance(v, float) and pd.isna(v)):
                    settings[f"{fw}: {key}"] = v
        out.append({
            "number": i, "name": run.name, "path": str(run.path), "datetime": run.datetime,
            "profile": run.cnnbench.get("profile"), "device": run.cnnbench.get("device"),
            "device_note": run.cnnbench.get("device_note"), "machine": first.get("machine"),
            "node": mi.get("node"), "commit": (ci.get("id") or "")[:10], "dirty": ci.get("dirty"),
            "branch": ci.get("branch"), "cases": len(rows), "skipped": len(run.skipped),
            "injected_delay": _delays(run.cnnbench.get("injected_delay")),
            "flops_rule": run.cnnbench.get("flops_rule"), "settings": settings,
            "gemm_peak": mi.get("gemm_peak_flops") or {},
        })
    return out


def _delays(value) -> list:
    """Injected delays as a list of [target, amount, unit]; early runs saved one bare [model, seconds]."""
    if not value:
        return []
    return [value] if isinstance(value[0], str) else list(value)


def _display_table(comparison: pd.DataFrame) -> list[dict]:
    rows = []
    for r in comparison.to_dict("records"):
        def ms(v):
            return "" if pd.isna(v) else f"{1e3 * v:.3f}"

        def num(v, spec=",.0f"):
            return "" if v is None or pd.isna(v) else format(v, spec)

        ci = "" if pd.isna(r["ratio_ci_low"]) else f"[{r['ratio_ci_low']:.2f}, {r['ratio_ci_high']:.2f}]"
        winner = {"torch": "PyTorch", "tf": "TensorFlow", "tie": "tie"}.get(r["faster"], "")
        rows.append({
            "run": r["run"], "model": r["model"], "mode": r["mode"], "batch": r["batch"], "device": r["device"],
            "input": r["input_size"], "torch_ms": ms(r["torch_median_s"]), "tf_ms": ms(r["tf_median_s"]),
            "torch_ips": num(r["torch_images_per_s"], ",.1f"), "tf_ips": num(r["tf_images_per_s"], ",.1f"),
            "ratio": num(r["ratio_tf_over_torch"], ".2f"), "ci": ci,
            "winner": winner + (f" ({r['faster_by']:.2f}x)" if winner and winner != "tie" else ""),
            "params": num(r["torch_params"] if not pd.isna(r["torch_params"]) else r["tf_params"]),
            "macs": num(r["torch_macs"] if not pd.isna(r["torch_macs"]) else r["tf_macs"]),
            "agree": "" if pd.isna(r["params_agree"]) else ("yes" if r["params_agree"] and r["macs_agree"]
                                                            else "NO (bug)"),
            "torch_mem": num(None if pd.isna(r["torch_peak_memory_bytes"]) else r["torch_peak_memory_bytes"] / 2**20,
                             ",.1f"),
            "tf_mem": num(None if pd.isna(r["tf_peak_memory_bytes"]) else r["tf_peak_memory_bytes"] / 2**20, ",.1f"),
            "torch_compile": num(r["torch_compile_s"], ".2f"), "tf_compile": num(r["tf_compile_s"], ".2f"),
            "note": r["note"] or "",
        })
    return rows


def render_html(runs: list[Run], results: pd.DataFrame, comparison: pd.DataFrame, skipped: pd.DataFrame,
                *, thresholds: Thresholds = Thresholds(), diagrams: dict[str, Path] | None = None,
                history: pd.DataFrame | None = None) -> str:
    """``history``: results of every run to chart the trend from (default: the report's own runs)."""
    env = Environment(loader=PackageLoader("cnnbench.reports", "templates"), autoescape=select_autoescape(["html", "j2"]))
    figs = figures(results)
    trend, flagged = trend_figure(results if history is None else history, thresholds)
    machines = sorted(set(results["machine"]))
    return env.get_template("report.html.j2").render(
        runs=_runs_table(runs, results),
        machines=machines,
        models=sorted(set(results["model"].dropna())),
        frameworks=sorted(set(results["framework"].dropna())),
        n_cases=len(results),
        headline=headline(comparison),
        comparison=_display_table(comparison),
        figures=figs,
        trend=trend,
        flagged=sorted(flagged),
        skipped=skipped.to_dict("records"),
        diagrams=_diagram_uris(diagrams or {}),
    )


def _diagram_uris(diagrams: dict[str, Path]) -> list[dict]:
    out = []
    for model, path in sorted(diagrams.items()):
        mime = {"svg": "image/svg+xml", "png": "image/png"}.get(path.suffix.lstrip("."), None)
        if mime:
            out.append({"model": model, "file": path.name,
                        "uri": f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")})
    return out


def build_report(runs: list[Run], out_dir: str | Path, *, thresholds: Thresholds = Thresholds(),
                 diagrams: dict[str, Path] | None = None, history: list[Run] | None = None) -> ReportFiles:
    """Write the report of ``runs``; ``history`` (e.g. every run in the storage) adds to the trend chart."""
    out = ensure_writable_dir(Path(out_dir))
    results = results_frame(runs)
    skipped = skipped_frame(runs)
    comparison = comparison_frame(results, skipped)
    past = None
    if history:
        known = {r.path.resolve() for r in runs}
        extra = [r for r in history if r.path.resolve() not in known and r.data["benchmarks"]]
        past = pd.concat([results_frame(extra), results], ignore_index=True) if extra else None
    html = render_html(runs, results, comparison, skipped, thresholds=thresholds, diagrams=diagrams, history=past)

    def csv(df: pd.DataFrame) -> str:
        buf = io.StringIO()
        df.to_csv(buf, index=False)
        return buf.getvalue()

    files = ReportFiles(
        results_csv=write_atomic(out / "results.csv", csv(results)),
        comparison_csv=write_atomic(out / "comparison.csv", csv(comparison)),
        skipped_csv=write_atomic(out / "skipped.csv", csv(skipped)),
        parquet=None,
        html=write_atomic(out / "report.html", html),
        rows=len(results),
    )
    if importlib.util.find_spec("pyarrow") is not None:
        buf = io.BytesIO()
        results.to_parquet(buf, index=False)
        files.parquet = write_atomic(out / "results.parquet", buf.getvalue())
    return files
