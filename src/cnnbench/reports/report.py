"""Build the report: results.csv, comparison.csv, skipped.csv (+ modes.csv, Parquet) and a self-contained report.html."""
from __future__ import annotations

import base64
import importlib.util
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from cnnbench.reports import plots
from cnnbench.reports.atomic import ensure_writable_dir, write_all_atomic
from cnnbench.reports.compare import Thresholds, regressions_between_consecutive_runs
from cnnbench.reports.diagrams import Diagrams
from cnnbench.reports.errors import ReportError
from cnnbench.reports.frameworks import comparison_frame, headline, ratio_col, runtimes_present
from cnnbench.reports.load import PairedResult, Run
from cnnbench.reports.modes import mode_frame, variant_label
from cnnbench.reports.paired_rows import display_rows, paired_frame
from cnnbench.reports.plausibility import MEMORY_FIGURE, TIME_FIGURE, doubted, reasons
from cnnbench.reports.rows import NATIVE_LAYOUT, REFERENCE_RUNTIME, fmt_num
from cnnbench.reports.scaling import scaling_frame
from cnnbench.reports.settings import SETTINGS, settings_by_run
from cnnbench.reports.tidy import newest_per_case, results_frame, skipped_frame

# settings recorded by runs made before the setting_* fields (shown as they were saved, per runtime)
LEGACY_FAIRNESS_KEYS = [
    "precision", "layout", "tf_jit", "torch_compile", "torch_intra_op_threads", "torch_inter_op_threads",
    "tf_intra_op_threads", "tf_inter_op_threads", "cpu_threads_available", "cudnn_benchmark", "tf32_matmul",
    "tf32_cudnn", "matmul_precision", "tf32_execution", "tf_onednn_opts",
]
VERSION_KEYS = ["python_version", "torch_version", "tf_version", "keras_version", "cuda_version", "cudnn_version"]
NOT_RECORDED = "not recorded"


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
    modes_csv: Path | None = None
    messages: list[str] = field(default_factory=list)  # what the command prints: flagged rows, unequal settings


def _absent(v) -> bool:
    return v is None or (not isinstance(v, str) and pd.isna(v))


def _memory_key(row) -> str:
    """How a row's peak memory was measured: the method where recorded, else the kind sentence."""
    if not _absent(row.get("peak_memory_method")):
        return str(row["peak_memory_method"])
    return str(row.get("peak_memory_kind")) if not _absent(row.get("peak_memory_kind")) else NOT_RECORDED


def _with_bar_labels(df: pd.DataFrame) -> pd.DataFrame:
    """Bars are grouped per model and batch (and input size, where a model ran at several); a variant
    of a runtime (bf16, XLA, torch.compile, a non-native layout) is a bar of its own, never a
    second value in the same slot."""
    df = df.copy()
    df["bar_variant"] = [_variant_of(r) for r in df.to_dict("records")]
    several_inputs = df.groupby("model")["input_size"].transform("nunique") > 1
    df["bar_group"] = [f"{r['model']}\nbs{r['batch']}" + (f"\n{r['input_size']} px" if many else "")
                       for r, many in zip(df.to_dict("records"), several_inputs)]
    return df


def flops_points(single: pd.DataFrame) -> tuple[pd.DataFrame, int, int]:
    """(rows the FLOPs-vs-time plot may show, how many are left out as flagged, how many as variants).

    A % of peak the harness flagged is a measurement error: never plotted. A bf16 or compiled variant
    runs against another GEMM peak than the plain case's line: it is in the mode view instead."""
    plain = single[single["bar_variant"] == ""]
    flagged = plain["pct_of_peak_flag"].notna()
    return plain[~flagged], int(flagged.sum()), len(single) - len(plain)


def memory_groups(single: pd.DataFrame) -> list[tuple[str | None, str, pd.DataFrame]]:
    """(method or None where not recorded, kind sentences, rows) per way peak memory was measured:
    each gets its own chart, so two kinds are never drawn side by side as if equal."""
    rows = single[single["peak_memory_bytes"].notna()].copy()
    rows["_memory"] = [_memory_key(r) for r in rows.to_dict("records")]
    out = []
    for _, g in sorted(rows.groupby("_memory"), key=lambda kv: kv[0]):
        method = None if _absent(g["peak_memory_method"].iloc[0]) else str(g["peak_memory_method"].iloc[0])
        out.append((method, "; ".join(sorted(set(g["peak_memory_kind"].dropna()))), g))
    return out


def figures(results: pd.DataFrame) -> list[Figure]:
    figs = []
    # each machine's newest measurement of every case: what the bar charts show (the trend shows history)
    latest = newest_per_case(results, ["machine_id", "case_id", "input_size"])
    latest = latest[latest["timing_ok"].fillna(True).astype(bool)]
    for machine_id, df in latest.groupby("machine_id"):
        where = f"{df['machine'].iloc[0]}, newest of run(s) {', '.join(sorted(set(df['run'])))}"
        sfx = f"-{machine_id}"
        single = _with_bar_labels(df[df["world_size"] == 1])  # data-parallel rows: the scaling chart
        if single.empty:
            continue
        figs.append(Figure(f"step-time{sfx}", f"Step time per model and runtime ({where})",
                           "Median of the timed rounds; bars missing where a case was skipped, not run or its "
                           "timing is not a finite number.", plots.step_time_bars(single)))
        if plots.has_batch_sweep(single):
            figs.append(Figure(f"throughput{sfx}", f"Throughput vs batch size ({where})",
                               "images/s = batch / median step time.", plots.throughput_vs_batch(single)))
        usable, n_flagged, n_variants = flops_points(single)
        if usable["flops"].notna().any():
            left = (f" {n_flagged} case(s) left out: their % of the GEMM peak is flagged as a measurement "
                    "error (listed in the measurements table)." if n_flagged else "")
            if n_variants:
                left += (f" {n_variants} variant case(s) (bf16, XLA, torch.compile, other layouts) left out: they run "
                         "against another GEMM peak than the line's.")
            figs.append(Figure(f"flops{sfx}", f"FLOPs vs step time ({where})",
                               "Each dashed line is the time a step would take at the runtime's measured GEMM "
                               "peak; the gap to a point is what the model loses to memory traffic and overhead. "
                               "Points are numbered by model (key beside the plot)." + left,
                               plots.flops_vs_time(usable)))
        for i, (method, kinds, g) in enumerate(memory_groups(single)):
            figs.append(Figure(f"memory{sfx}-{i}", f"Peak memory, {method or 'method not recorded'} ({where})",
                               f"Measured as: {kinds}. One figure per measurement method: peaks measured "
                               "differently are never drawn side by side.", plots.memory_bars(g, method)))
        if single["compile_s"].notna().any():
            figs.append(Figure(f"compile{sfx}", f"Compile and first-call overhead ({where})",
                               "First step minus a steady step: tf.function tracing, XLA, jax.jit, torch.compile, "
                               "cuDNN autotuning, lazy allocation.", plots.compile_bars(single)))
    return figs


def trend_figure(results: pd.DataFrame, thresholds: Thresholds) -> tuple[Figure | None, set]:
    usable = results[results["timing_ok"].fillna(True).astype(bool)]
    runs_per_case = usable.groupby(["machine_id", "case_id"])["run"].transform("nunique")
    history = usable[runs_per_case > 1]
    if history.empty:
        return None, set()
    flagged = regressions_between_consecutive_runs(history, thresholds)
    fig = Figure("trend", "Trend across runs",
                 "Median step time with its interquartile range, per benchmark measured in more than one run, "
                 "oldest run first. A red ring marks a run that `cnnbench compare` flags as a regression against "
                 "the previous run on the same machine.",
                 plots.trend(history, flagged))
    return fig, flagged


MAX_HISTORY_FIGURES = 48  # the series with steps first; a store of many cases must not make the page unreadable


def history_figures(view: list[dict]) -> list[dict]:
    """The history view (``cnnbench report --store``): one figure per series, with its steps. ``view`` is
    plain data made by cnnbench.history.series.trend_view (the reports never import the history layer)."""
    ordered = sorted(view, key=lambda s: (not s["steps"], s["title"]))[:MAX_HISTORY_FIGURES]
    return [{"figure": Figure(s["id"], s["title"], f"{len(s['values'])} commits", plots.history_series(
                s["labels"], s["values"], s["steps"])), "steps": s["steps"]} for s in ordered]


def _shown(v) -> str:
    if _absent(v):
        return NOT_RECORDED
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _runs_table(runs: list[Run], results: pd.DataFrame, settings: dict) -> list[dict]:
    out = []
    for i, run in enumerate(runs, 1):
        mi, ci = run.data.get("machine_info") or {}, run.data.get("commit_info") or {}
        rows = results[results["run"] == run.name]
        first = rows.iloc[0].to_dict() if not rows.empty else {}
        meta = run.cnnbench
        st = settings.get(run.name)
        recorded = st is not None and st.status != NOT_RECORDED
        per_runtime = {}
        for rt in [r for r in plots.RUNTIME_COLORS if r in set(rows["runtime"])]:
            r = rows[rows["runtime"] == rt].iloc[0].to_dict()
            per_runtime[rt] = {
                "version": _shown(r.get("backend_version")),
                "memory": f"{_shown(r.get('peak_memory_method'))}: {_shown(r.get('peak_memory_kind'))}",
                # before setting_* existed, each framework saved its own settings fields: shown as saved
                "legacy": {} if recorded else {k: _shown(r.get(k)) for k in LEGACY_FAIRNESS_KEYS
                                               if not _absent(r.get(k))},
            }
        out.append({
            "number": i, "name": run.name, "path": str(run.path), "datetime": run.datetime,
            "profile": meta.get("profile"), "device": meta.get("device"),
            "device_note": meta.get("device_note"), "machine": first.get("machine"),
            "node": mi.get("node"), "commit": (ci.get("id") or "")[:10], "dirty": ci.get("dirty"),
            "branch": ci.get("branch"), "cases": len(rows), "skipped": len(run.skipped),
            "injected_delay": _delays(meta.get("injected_delay")),
            "flops_rule": meta.get("flops_rule"), "gemm_peak": {k: fmt_num(v / 1e9 if isinstance(v, (int, float)) else v,
                                                                           ",.1f") for k, v in
                                                                (mi.get("gemm_peak_flops") or {}).items()},
            "requested": meta.get("settings") or {},
            "settings_status": st.status if st else NOT_RECORDED,
            "settings_sentence": st.sentence if st else "",
            "settings_differences": st.differences if st else [],
            "settings_table": _settings_table(st),
            "per_runtime": per_runtime,
            "versions": {k: _shown(first.get(k)) for k in VERSION_KEYS if not _absent(first.get(k))},
            "unfinished": meta.get("unfinished") or [],
            "interrupted": meta.get("interrupted"),
            "complete": meta.get("complete"),
            "incomplete": run.incomplete,
        })
    return out


def incomplete_paired(paired: list[PairedResult]) -> list[dict]:
    """The paired A/B files that are not whole (interrupted, pairs not measured): {file, why, unfinished}, the
    report's warning of each, as a run's (a file interrupted before any pair measured holds no case and is
    refused when read)."""
    return [{"file": p.path.name, "why": p.incomplete, "unfinished": p.data.get("unfinished") or []}
            for p in paired if p.incomplete]


def _settings_table(st) -> dict:
    """{"runtimes": [...], "rows": [[label, value per runtime, ...], ...]} of the setting_* fields."""
    if st is None or not st.by_runtime:
        return {"runtimes": [], "rows": []}
    runtimes = list(st.by_runtime)
    return {"runtimes": runtimes,
            "rows": [[label] + [st.by_runtime[rt].get(label, "n/a") for rt in runtimes] for _, label in SETTINGS]}


def _delays(value) -> list:
    """Injected delays as a list of [target, amount, unit]; early runs saved one bare [model, seconds]."""
    if not value:
        return []
    return [value] if isinstance(value[0], str) else list(value)


def _ms(row: dict, rt: str) -> str:
    v = row.get(f"{rt}_median_s")
    if not _absent(v):
        return f"{1e3 * v:.3f}"
    measured_but_broken = not _absent(row.get(f"{rt}_flags")) and row.get(f"{rt}_flags")
    return "invalid" if measured_but_broken else ""


def _display_table(comparison: pd.DataFrame, runtimes: list[str], reference: str) -> dict:
    others = [rt for rt in runtimes if rt != reference]
    show_ws = bool((comparison["world_size"].fillna(1) > 1).any())
    rows = []
    for r in comparison.to_dict("records"):
        def num(v, spec=",.0f"):
            return "" if _absent(v) else format(v, spec)

        cells = {"ms": [_ms(r, rt) for rt in runtimes], "pairs": [],
                 # the time of a runtime whose time per FLOP looks implausible: marked "!" (the reason: its row)
                 "doubt": [TIME_FIGURE in doubted(r.get(f"{rt}_plausibility")) for rt in runtimes]}
        for rt in others:
            col = ratio_col(rt, reference)
            ratio = r.get(col)
            ci = "" if _absent(r.get(f"{col}_ci_low")) else f" [{r[f'{col}_ci_low']:.2f}, {r[f'{col}_ci_high']:.2f}]"
            winner = r.get(f"faster_{rt}_vs_{reference}")
            by = r.get(f"faster_by_{rt}_vs_{reference}")
            verdict = r.get(f"verdict_{rt}_vs_{reference}")
            paired = isinstance(verdict, str) and verdict.startswith("paired")
            text = "" if _absent(winner) else winner + ("" if winner == "tie" or _absent(by) else f" ({by:.2f}x)")
            cells["pairs"].append({"ratio": "" if _absent(ratio) else f"{ratio:.2f}{ci}", "winner": text,
                                   "css": "" if _absent(winner) or winner == "tie" else f"rt-{winner}",
                                   "paired": paired, "verdict": verdict if isinstance(verdict, str) else ""})
        params = next((r.get(f"{rt}_params") for rt in runtimes if not _absent(r.get(f"{rt}_params"))), None)
        macs = next((r.get(f"{rt}_macs") for rt in runtimes if not _absent(r.get(f"{rt}_macs"))), None)
        rows.append({
            "run": r["run"], "model": r["model"], "mode": r["mode"], "batch": r["batch"], "device": r["device"],
            "input": "" if _absent(r["input_size"]) else int(r["input_size"]),
            "ws": "" if _absent(r.get("world_size")) else int(r["world_size"]),
            "variant": " ".join(x for x in ((r.get("precision") or "") if r.get("precision") != "fp32" else "",
                                            "compiled" if r.get("compiled") is True else "") if x),
            "cells": cells, "params": num(params), "macs": num(macs),
            "agree": "" if _absent(r["params_agree"]) else ("yes" if r["params_agree"] and r["macs_agree"] else "NO (bug)"),
            "note": r["note"] if isinstance(r["note"], str) else "",
        })
    return {"runtimes": runtimes, "others": others, "reference": reference, "show_ws": show_ws, "rows": rows}


def _measurements_table(results: pd.DataFrame) -> dict:
    """One row per runtime per case: the figures that differ in kind per runtime (memory, % of peak)."""
    show_ws = bool((results["world_size"] > 1).any())
    rows = []
    order = {rt: i for i, rt in enumerate(plots.RUNTIME_COLORS)}
    df = results.assign(_o=results["runtime"].map(order).fillna(99)).sort_values(
        ["run", "model", "mode", "batch", "world_size", "_o"])
    for r in df.to_dict("records"):
        flag = r.get("pct_of_peak_flag")
        if not _absent(flag):
            pct = "flagged"
        else:
            pct = fmt_num(None if _absent(r.get("pct_of_peak")) else r["pct_of_peak"], ".1f", "")
        mem, doubts = r.get("peak_memory_bytes"), doubted(r.get("plausibility"))
        rows.append({
            "run": r["run"], "model": r["model"], "mode": r["mode"], "batch": r["batch"], "device": r["device"],
            "runtime": r["runtime"], "variant": _variant_of(r),
            "ms": "invalid" if not r.get("timing_ok", True) else fmt_num(1e3 * r["median_s"], ".3f", ""),
            "ips": "invalid" if not r.get("timing_ok", True) else fmt_num(
                None if _absent(r.get("images_per_s")) else r["images_per_s"], ",.1f", ""),
            "mem": _mib(mem),
            "step_mem": _mib(r.get("step_peak_memory_bytes")),
            **_process_cells(r), "instructions": _instructions_cell(r),
            "method": _shown(r.get("peak_memory_method")), "kind": _shown(r.get("peak_memory_kind")),
            "pct": pct, "pct_flag": "" if _absent(flag) else str(flag),
            "compile": fmt_num(None if _absent(r.get("compile_s")) else r["compile_s"], ".2f", ""),
            "ws": int(r["world_size"]), "global_batch": "" if _absent(r.get("global_batch")) else int(r["global_batch"]),
            "efficiency": fmt_num(None if _absent(r.get("scaling_efficiency")) else r["scaling_efficiency"], ".2f", ""),
            "dist_backend": "" if _absent(r.get("dist_backend")) else r["dist_backend"],
            "flags": r.get("flags") or "",
            "doubts": reasons(r.get("plausibility")), "doubt_time": TIME_FIGURE in doubts,
            "doubt_memory": MEMORY_FIGURE in doubts,
            **_export_cells(r),
        })
    show_export = "export_parity_rel" in results.columns and results["export_parity_rel"].notna().any()
    return {"show_ws": show_ws, "rows": rows, "show_export": bool(show_export),
            "show_step_mem": any(r["step_mem"] for r in rows), "show_processes": any(r["processes"] for r in rows),
            "show_instructions": any(r["instructions"] for r in rows)}


def _mib(value) -> str:
    return "" if _absent(value) else f"{float(value) / 2**20:,.1f}"


def _process_cells(r: dict) -> dict:
    """How many worker processes a row's figures come from, and how far their medians spread
    (docs/benchmarks.md, several processes per case); blank for a run saved before the field existed."""
    counted, spread = r.get("processes_counted"), r.get("process_spread")
    if _absent(counted):
        return {"processes": "", "spread": "", "remeasured": ""}
    again = r.get("remeasured")
    again = json.loads(again) if isinstance(again, str) else again
    return {"processes": str(int(counted)), "spread": "" if _absent(spread) else f"{100 * float(spread):.1f}%",
            "remeasured": "; ".join(map(str, again)) if isinstance(again, list) else ""}


def _instructions_cell(r: dict) -> str:
    """Callgrind's instructions a step (pytest bench --instructions, docs/instructions.md), in millions."""
    counted = r.get("instructions")
    if _absent(counted):
        return "" if _absent(r.get("instructions_error")) else "not counted"
    return f"{float(counted) / 1e6:,.2f} M"


def _export_cells(r: dict) -> dict:
    """An export runtime's parity with its framework and what the export made (docs/deploy.md); blank otherwise."""
    rel = r.get("export_parity_rel")
    if _absent(rel):
        return {"parity": "", "parity_bad": False, "export": ""}
    size = r.get("export_file_bytes")
    opset = "" if _absent(r.get("export_opset")) else f", opset {int(r['export_opset'])}"
    made = (f"{r.get('export_format')}{opset}: {int(r['export_nodes'])} nodes, "
            f"{'' if _absent(size) else f'{size / 2**20:,.1f} MiB, '}{r['export_s']:.1f} s")
    return {"parity": f"{rel:.1e}", "parity_bad": not r.get("export_parity_ok", True), "export": made}


def _variant_of(r: dict) -> str:
    v = variant_label(r["runtime"], r.get("precision"), r.get("layout"),
                      r.get("torch_compile") is True or r.get("tf_jit") is True, 1)
    return "" if v.startswith("plain") else v


def _modes_table(frame: pd.DataFrame) -> list[dict]:
    out = []
    for r in frame.to_dict("records"):
        sp = "" if _absent(r["speedup"]) else f"{r['speedup']:.2f}x"
        ci = "" if _absent(r["speedup_ci_low"]) else f"[{r['speedup_ci_low']:.2f}, {r['speedup_ci_high']:.2f}]"
        marks = []
        if r.get("fastest_of_model") is True:
            marks.append("fastest of the model")
        elif r.get("fastest_of_runtime") is True:
            marks.append(f"fastest of {r['runtime']}")
        if marks and not _absent(r["speedup_ci_low"]) and not r["plain"] and r["speedup_ci_low"] <= 1 <= r["speedup_ci_high"]:
            marks.append("but within noise of the plain case")
        out.append({"model": r["model"], "mode": r["mode"], "batch": r["batch"], "device": r["device"],
                    "machine": r["machine"], "runtime": r["runtime"], "variant": r["variant"], "run": r["run"],
                    "ms": f"{1e3 * r['median_s']:.3f}", "ips": f"{r['images_per_s']:,.1f}", "speedup": sp,
                    "ci": ci, "winner": ", ".join(marks), "note": r["note"] if isinstance(r["note"], str) else ""})
    return out


def _scaling_table(frame: pd.DataFrame) -> list[dict]:
    return [{"run": r["run"], "model": r["model"], "runtime": r["runtime"], "mode": r["mode"], "batch": r["batch"],
             "world_size": int(r["world_size"]), "global_batch": "" if _absent(r["global_batch"]) else int(r["global_batch"]),
             "ips": fmt_num(None if _absent(r["images_per_s"]) else r["images_per_s"], ",.1f", ""),
             "efficiency": fmt_num(None if _absent(r["scaling_efficiency"]) else r["scaling_efficiency"], ".2f", ""),
             "source": r["efficiency_source"] or "", "backend": "" if _absent(r["dist_backend"]) else r["dist_backend"]}
            for r in frame.to_dict("records")]


def _used_pairs(comparison: pd.DataFrame) -> set[tuple[str, str]]:
    used = set()
    for col in [c for c in comparison.columns if c.startswith("verdict_")]:
        for v in comparison[col].dropna():
            m = re.match(r"paired A/B (\S+) \((.+?)\):", str(v))
            if m:
                used.add((m.group(1), m.group(2)))
    return used


def render_html(runs: list[Run], results: pd.DataFrame, comparison: pd.DataFrame, skipped: pd.DataFrame,
                *, thresholds: Thresholds = Thresholds(), diagrams: Diagrams | None = None,
                history: pd.DataFrame | None = None, paired: pd.DataFrame | None = None,
                reference: str = REFERENCE_RUNTIME, settings: dict | None = None,
                scaling: pd.DataFrame | None = None, modes: pd.DataFrame | None = None,
                history_view: dict | None = None, paired_incomplete: list[dict] | None = None) -> str:
    """``history``: results of every run to chart the trend from (default: the report's own runs);
    ``history_view``: {"store", "series", "note"} of the results store (cnnbench.history.series.trend_view);
    ``paired_incomplete``: the paired A/B files that are not whole (``incomplete_paired``)."""
    env = Environment(loader=PackageLoader("cnnbench.reports", "templates"), autoescape=select_autoescape(["html", "j2"]))
    settings = settings if settings is not None else settings_by_run(results)
    scaling = scaling if scaling is not None else scaling_frame(results)
    modes = modes if modes is not None else mode_frame(results)
    paired = paired if paired is not None else pd.DataFrame()
    figs = figures(results)
    trend, flagged = trend_figure(results if history is None else history, thresholds)
    extra = []
    if not scaling.empty:
        extra.append(("scaling", Figure("scaling", "Data-parallel scaling",
                                        "images/s of the whole job (solid) against ideal weak scaling (dotted), and "
                                        "scaling efficiency = images/s at N workers / (N x images/s at 1 worker, "
                                        "same run).", plots.scaling(scaling))))
    if not modes.empty and modes["speedup"].notna().any():
        extra.append(("modes", Figure("modes", "Modes side by side",
                                      "Speed-up of each variant over the plain fp32 case of the same runtime "
                                      "(no compilation requested, native layout, one worker), with its 95% "
                                      "bootstrap interval.", plots.mode_view(modes))))
    machines = sorted(set(results["machine"]))
    runtimes = runtimes_present(results, skipped)
    if reference not in runtimes:
        runtimes = [reference] + runtimes
    flagged_rows = results[results["flags"].fillna("") != ""][["run", "case_id", "flags"]].to_dict("records")
    implausible_rows = sorted(_implausible_rows(results), key=lambda f: (f["run"], f["case_id"]))
    return env.get_template("report.html.j2").render(
        runs=_runs_table(runs, results, settings),
        machines=machines,
        models=sorted(set(results["model"].dropna())),
        runtimes=runtimes,
        reference=reference,
        n_cases=len(results),
        headline=headline(comparison, reference),
        comparison=_display_table(comparison, runtimes, reference),
        measurements=_measurements_table(results),
        figures=figs,
        scaling_fig=dict(extra).get("scaling"),
        scaling_rows=_scaling_table(scaling),
        modes_fig=dict(extra).get("modes"),
        modes_rows=_modes_table(modes),
        paired=display_rows(paired, _used_pairs(comparison)) if not paired.empty else [],
        paired_incomplete=paired_incomplete or [],
        trend=trend,
        history=history_figures(history_view["series"]) if history_view else [],
        history_store=history_view["store"] if history_view else "",
        history_note=history_view.get("note", "") if history_view else "",
        history_total=len(history_view["series"]) if history_view else 0,
        flagged=sorted(flagged),
        flagged_rows=flagged_rows,
        implausible_rows=implausible_rows,
        skipped=skipped.to_dict("records"),
        diagrams=_diagram_uris(diagrams.files if diagrams is not None else {}),
        diagrams_left_out=diagrams.left_out if diagrams is not None else "",
        colors=plots.RUNTIME_COLORS,
        native=NATIVE_LAYOUT,
        scenarios=_scenarios(runs),
    )


def step_rows(results: pd.DataFrame) -> pd.DataFrame:
    """The step cases' rows: LoadGen scenario rows (a ``scenario`` column) have their own section."""
    if "scenario" not in results.columns:
        return results
    return results[results["scenario"].isna()].reset_index(drop=True)


def _scenarios(runs: list[Run]) -> dict | None:
    """The LoadGen scenario rows of the runs, side by side per model, and their latency figure (None: none)."""
    from cnnbench.reports import loadgen

    rows = [b for run in runs for b in run.data["benchmarks"] if loadgen.is_scenario(b)]
    if not rows:
        return None
    head, by_model = loadgen.table(rows)
    svg = loadgen.latency_figure(rows)
    fig = Figure("loadgen", "LoadGen latency percentiles", "Per model and scenario, each runtime's latency at "
                 "LoadGen's percentiles (log scale; dotted: an INVALID run; dashed: the Server bound); Offline: "
                 "samples/s.", svg) if svg else None
    return {"note": loadgen.NOTE, "head": head, "models": list(by_model.items()), "fig": fig}


def _diagram_uris(diagrams: dict[str, Path]) -> list[dict]:
    out = []
    for model, path in sorted(diagrams.items()):
        mime = {"svg": "image/svg+xml", "png": "image/png"}.get(path.suffix.lstrip("."), None)
        if mime:
            out.append({"model": model, "file": path.name,
                        "uri": f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")})
    return out


def _implausible_rows(results: pd.DataFrame) -> list[dict]:
    """The rows whose plausibility column doubts a figure, in the frame's order, each with its reasons."""
    rows = ({"run": r["run"], "case_id": r["case_id"], "reasons": reasons(r["plausibility"])}
            for r in results.to_dict("records"))
    return [f for f in rows if f["reasons"]]


def _messages(results: pd.DataFrame, settings: dict) -> list[str]:
    lines = []
    for run, st in settings.items():
        lines.append(f"{run}: {st.sentence}")
    bad = results[results["flags"].fillna("") != ""]
    for r in bad.head(10).to_dict("records"):
        lines.append(f"flagged: {r['run']}: {r['case_id']}: {r['flags']}"
                     + ("" if r["timing_ok"] else " (timing left out of every ratio, plot and verdict)"))
    if len(bad) > 10:
        lines.append(f"flagged: ... and {len(bad) - 10} more row(s) (the 'flags' column of results.csv)")
    doubted_rows = _implausible_rows(results)
    for r in doubted_rows[:10]:
        lines += [f"implausible: {r['run']}: {r['case_id']}: {why}" for why in r["reasons"]]
    if len(doubted_rows) > 10:
        lines.append(f"implausible: ... and {len(doubted_rows) - 10} more row(s) (the 'plausibility' column of "
                     "results.csv)")
    return lines


def build_report(runs: list[Run], out_dir: str | Path, *, thresholds: Thresholds = Thresholds(),
                 diagrams: Diagrams | None = None, history: list[Run] | None = None,
                 paired: list[PairedResult] | None = None, reference: str = REFERENCE_RUNTIME,
                 history_view: dict | None = None) -> ReportFiles:
    """Write the report of ``runs``; ``history`` (e.g. every run in the storage) adds to the trend chart;
    ``paired``: paired A/B results to list and to take framework verdicts from; ``history_view``: the
    results store's series and steps, as plain data (render_html)."""
    out = ensure_writable_dir(Path(out_dir))
    results = step_rows(results_frame(runs))
    skipped = skipped_frame(runs)
    present = runtimes_present(results)
    if reference not in present and not (results.empty and _scenarios(runs)):  # a scenarios-only run has no steps
        raise ReportError(f"--reference {reference}: no {reference} case in the runs (runtimes measured: "
                          f"{', '.join(present)}); give --reference with one of them")
    paired_df = paired_frame(paired or [])
    comparison = comparison_frame(results, skipped, reference=reference, paired=paired_df)
    settings = settings_by_run(results)
    scaling = scaling_frame(results)
    modes = mode_frame(results)
    past = None
    if history:
        known = {r.path.resolve() for r in runs}
        extra = [r for r in history if r.path.resolve() not in known and r.data["benchmarks"]]
        past = pd.concat([step_rows(results_frame(extra)), results], ignore_index=True) if extra else None
    html = render_html(runs, results, comparison, skipped, thresholds=thresholds, diagrams=diagrams, history=past,
                       paired=paired_df, reference=reference, settings=settings, scaling=scaling, modes=modes,
                       history_view=history_view, paired_incomplete=incomplete_paired(paired or []))

    def csv(df: pd.DataFrame) -> str:
        buf = io.StringIO()
        df.to_csv(buf, index=False)
        return buf.getvalue()

    contents = {out / "results.csv": csv(results.drop(columns=["timing_ok"])),
                out / "comparison.csv": csv(comparison), out / "skipped.csv": csv(skipped)}
    if not modes.empty:
        contents[out / "modes.csv"] = csv(modes)
    if importlib.util.find_spec("pyarrow") is not None:
        buf = io.BytesIO()
        results.drop(columns=["timing_ok"]).to_parquet(buf, index=False)
        contents[out / "results.parquet"] = buf.getvalue()
    contents[out / "report.html"] = html  # last: a report.html always sits beside the tables it shows
    write_all_atomic(contents)  # all of them or, on a full disk or a read-only folder, none (the old ones kept)
    written = lambda name: out / name if out / name in contents else None  # noqa: E731
    return ReportFiles(results_csv=out / "results.csv", comparison_csv=out / "comparison.csv",
                       skipped_csv=out / "skipped.csv", parquet=written("results.parquet"), html=out / "report.html",
                       rows=len(results), messages=_messages(results, settings), modes_csv=written("modes.csv"))
