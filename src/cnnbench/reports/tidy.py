"""Saved runs -> one tidy pandas row per benchmark case (results.csv), and one row per skipped case."""
from __future__ import annotations

import hashlib
import json
import math

import pandas as pd

from cnnbench.reports.load import Run
from cnnbench.reports.plausibility import SEPARATOR, of_benchmarks
from cnnbench.reports.rows import MEASURED, parse_case_id, problems, runtime_of

# Case parameters, in the order they appear in results.csv (documented in docs/reports.md).
CASE_COLUMNS = [
    "model", "runtime", "framework", "keras_backend", "mode", "batch", "device", "device_name", "input_size",
    "precision", "layout", "tf_jit", "torch_compile", "compiled", "options", "world_size",
]
# pytest-benchmark statistics, converted to seconds-named columns.
STAT_COLUMNS = ["min", "max", "mean", "median", "stddev", "iqr", "q1", "q3"]
MEASURE_COLUMNS = [
    "flags", "plausibility", "params", "params_with_buffers", "macs", "flops", "flops_rule", "peak_memory_bytes",
    "peak_memory_method", "peak_memory_kind", "images_per_s", "gflops_per_s", "gemm_peak_gflops_per_s",
    "gemm_peak_math", "pct_of_peak", "pct_of_peak_flag", "build_s", "first_step_s", "compile_s",
    "global_batch", "scaling_efficiency", "dist_backend",
]
ENV_COLUMNS = [
    "machine", "machine_id", "cpu_model", "cpu_logical_cores", "cpu_threads_available", "ram_bytes",
    "gpu_name", "gpu_count", "python_version", "torch_version", "tf_version", "keras_version",
    "cuda_version", "cudnn_version", "commit", "commit_dirty", "branch", "run_datetime",
]

# machine_info keys that identify hardware; the rest (versions, node name) may change on the same box
_MACHINE_IDENTITY = ("system", "machine", "cpu_model", "cpu_logical_cores", "ram_bytes", "gpu_name", "gpu_count")


def machine_id(machine_info: dict) -> str:
    """A short stable hash of the hardware described by machine_info."""
    ident = {k: machine_info.get(k) for k in _MACHINE_IDENTITY}
    if not ident.get("cpu_model"):
        ident["cpu_model"] = (machine_info.get("cpu") or {}).get("brand_raw")
    return hashlib.sha1(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:10]


def machine_label(machine_info: dict) -> str:
    cpu = machine_info.get("cpu_model") or (machine_info.get("cpu") or {}).get("brand_raw") or "unknown CPU"
    cores = machine_info.get("cpu_logical_cores")
    label = f"{cpu}" + (f" ({cores} cores)" if cores else "")
    if machine_info.get("gpu_name"):
        label += f" + {machine_info['gpu_name']}"
    return label


def _env(run: Run) -> dict:
    mi = run.data.get("machine_info") or {}
    ci = run.data.get("commit_info") or {}
    return {
        "run": run.name,
        "run_path": str(run.path),
        "run_datetime": run.datetime,
        "bench_profile": run.cnnbench.get("profile"),
        "machine": machine_label(mi),
        "machine_id": machine_id(mi),
        "node": mi.get("node"),
        "cpu_model": mi.get("cpu_model") or (mi.get("cpu") or {}).get("brand_raw"),
        "cpu_logical_cores": mi.get("cpu_logical_cores"),
        "ram_bytes": mi.get("ram_bytes"),
        "gpu_name": mi.get("gpu_name"),
        "gpu_count": mi.get("gpu_count"),
        "cuda_version": mi.get("cuda_version"),
        "cudnn_version": mi.get("cudnn_version"),
        "torch_version": mi.get("torch_version"),
        "tf_version": mi.get("tf_version"),
        "keras_version": mi.get("keras_version"),
        "commit": ci.get("id"),
        "commit_dirty": ci.get("dirty"),
        "branch": ci.get("branch"),
        "injected_delay": json.dumps(run.cnnbench.get("injected_delay")) if run.cnnbench.get("injected_delay") else None,
    }


def bench_rows(run: Run) -> list[dict]:
    """One dict per benchmark of a validated run. A NaN/inf figure is blanked and named in ``flags``;
    a row whose timing is unusable (``timing_ok`` False) keeps no timing at all, so nothing downstream
    can rate, rank or plot it. A figure that looks implausible (cnnbench.reports.plausibility) is kept,
    and ``plausibility`` says why (empty when nothing is doubted)."""
    env = _env(run)
    doubts = of_benchmarks(run.data["benchmarks"])  # the rule compares the rows of one run
    rows = []
    for bench in run.data["benchmarks"]:
        info = dict(bench.get("extra_info") or {})
        stats = bench["stats"]
        case_id = bench.get("param") if isinstance(bench.get("param"), str) else bench["name"]
        row = {"case_id": case_id, "group": bench.get("group"), "name": bench.get("fullname", bench["name"])}
        row.update(env)
        for key, value in info.items():
            row[key] = json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value
        # fields that runs saved before the runtime redesign lack (docs/keras-runtimes.md)
        row["runtime"] = runtime_of(info)
        row["framework"] = info.get("framework") or ("torch" if row["runtime"] == "torch" else "tf")
        if row["framework"] == "tf" and not info.get("keras_backend"):
            row["keras_backend"] = {"keras-jax": "jax", "keras-torch": "torch"}.get(row["runtime"], "tensorflow")
        row["world_size"] = info.get("world_size") or 1
        if info.get("global_batch") is None:
            row["global_batch"] = info["batch"] * row["world_size"]
        found, timing_bad = problems(bench)
        for key in MEASURED:
            if key in row and row[key] is not None and not _finite(row[key]):
                row[key] = None
        if timing_bad:  # figures derived from the step time are as broken as the time itself
            for key in ("images_per_s", "gflops_per_s", "pct_of_peak", "pct_of_peak_raw", "scaling_efficiency"):
                if key in row:
                    row[key] = None
        for key in STAT_COLUMNS:
            value = stats.get(key)
            row[f"{key}_s"] = None if timing_bad or (value is not None and not _finite(value)) else value
        row["rounds"] = stats.get("rounds")
        row["iterations"] = stats.get("iterations")
        row["ops"] = None if timing_bad else stats.get("ops")
        data = stats.get("data")
        # raw per-round times (kept for statistics); none where the timing is unusable
        row["data_s"] = json.dumps(data) if data is not None and not timing_bad else None
        row["timing_ok"] = not timing_bad
        row["flags"] = "; ".join(found)
        row["plausibility"] = SEPARATOR.join(doubts.get(case_id, []))
        rows.append(row)
    return rows


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def results_frame(runs: list[Run]) -> pd.DataFrame:
    """One row per benchmark case per run, known columns first, every other extra_info key after."""
    rows = [row for run in runs for row in bench_rows(run)]
    df = pd.DataFrame(rows)
    for col in CASE_COLUMNS + MEASURE_COLUMNS:  # every documented column, empty where old runs lack the field
        if col not in df.columns:
            df[col] = None
    first = (["run", "run_datetime", "case_id", "group"] + CASE_COLUMNS
             + [f"{k}_s" for k in STAT_COLUMNS] + ["rounds", "iterations", "ops"] + MEASURE_COLUMNS + ENV_COLUMNS)
    ordered = [c for c in dict.fromkeys(first) if c in df.columns]
    rest = sorted(c for c in df.columns if c not in ordered and c != "data_s")
    return df[ordered + rest + (["data_s"] if "data_s" in df.columns else [])]


SKIPPED_COLUMNS = ["run", "case_id", "group", "model", "runtime", "framework", "mode", "batch", "device",
                   "precision", "layout", "compiled", "world_size", "reason"]


def skipped_frame(runs: list[Run]) -> pd.DataFrame:
    rows = []
    for run in runs:
        for s in run.skipped:
            row = {"run": run.name, "case_id": s.get("id"), "group": s.get("group"), "reason": s.get("reason")}
            row.update(parse_case_id(s.get("id", "")))
            rows.append(row)
    return pd.DataFrame(rows, columns=SKIPPED_COLUMNS)


def raw_rounds(value) -> list[float]:
    """The raw per-round times of a row (the data_s column), or [] when the run did not keep them."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return []
    return list(json.loads(value)) if isinstance(value, str) else list(value)


RUN_ORDER = ["run_datetime", "run"]  # runs in the order they were measured (name breaks ties)


def runs_in_order(results: pd.DataFrame) -> list[str]:
    """The run names of a results frame, oldest first."""
    return list(dict.fromkeys(results.sort_values(RUN_ORDER)["run"]))


def newest_per_case(results: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """One row per ``key``: the newest run's, where several runs measured it."""
    return results.sort_values(RUN_ORDER).drop_duplicates(key, keep="last")
