"""Saved runs -> one tidy pandas row per benchmark case (results.csv), and one row per skipped case."""
from __future__ import annotations

import hashlib
import json

import pandas as pd

from cnnbench.reports.load import Run

# Case parameters, in the order they appear in results.csv (documented in the README).
CASE_COLUMNS = [
    "model", "framework", "mode", "batch", "device", "device_name", "input_size", "precision", "layout",
    "tf_jit", "torch_compile", "options",
]
# pytest-benchmark statistics, converted to seconds-named columns.
STAT_COLUMNS = ["min", "max", "mean", "median", "stddev", "iqr", "q1", "q3"]
MEASURE_COLUMNS = [
    "params", "params_with_buffers", "macs", "flops", "flops_rule", "peak_memory_bytes", "peak_memory_kind",
    "images_per_s", "gflops_per_s", "gemm_peak_gflops_per_s", "pct_of_peak", "build_s", "first_step_s",
    "compile_s",
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


def _name_params(name: str) -> dict:
    """Parameters parsed from a case id (``resnet18-torch-train-bs8-cuda``) for runs lacking extra_info."""
    inner = name[name.find("[") + 1: name.rfind("]")] if "[" in name else name
    parts = inner.split("-")
    if len(parts) < 5 or not parts[3].startswith("bs"):
        return {}
    return {"model": parts[0], "framework": parts[1], "mode": parts[2], "batch": int(parts[3][2:]),
            "device": parts[4]}


def bench_rows(run: Run) -> list[dict]:
    env = _env(run)
    rows = []
    for bench in run.data["benchmarks"]:
        info = dict(bench.get("extra_info") or {})
        stats = bench["stats"]
        case_id = bench.get("param") if isinstance(bench.get("param"), str) else bench["name"]
        row = {"case_id": case_id, "group": bench.get("group"), "name": bench.get("fullname", bench["name"])}
        row.update(_name_params(case_id))
        row.update(env)
        for key, value in info.items():
            row[key] = json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value
        for key in STAT_COLUMNS:
            row[f"{key}_s"] = stats.get(key)
        row["rounds"] = stats.get("rounds")
        row["iterations"] = stats.get("iterations")
        row["ops"] = stats.get("ops")
        data = stats.get("data")
        row["data_s"] = json.dumps(data) if data is not None else None  # raw per-round times (kept for statistics)
        rows.append(row)
    return rows


def results_frame(runs: list[Run]) -> pd.DataFrame:
    """One row per benchmark case per run, known columns first, every other extra_info key after."""
    rows = [row for run in runs for row in bench_rows(run)]
    df = pd.DataFrame(rows)
    first = (["run", "run_datetime", "case_id", "group"] + CASE_COLUMNS
             + [f"{k}_s" for k in STAT_COLUMNS] + ["rounds", "iterations", "ops"] + MEASURE_COLUMNS + ENV_COLUMNS)
    ordered = [c for c in dict.fromkeys(first) if c in df.columns]
    rest = sorted(c for c in df.columns if c not in ordered and c != "data_s")
    return df[ordered + rest + (["data_s"] if "data_s" in df.columns else [])]


def skipped_frame(runs: list[Run]) -> pd.DataFrame:
    rows = []
    for run in runs:
        for s in run.skipped:
            row = {"run": run.name, "case_id": s.get("id"), "group": s.get("group"), "reason": s.get("reason")}
            row.update(_name_params(s.get("id", "")))
            rows.append(row)
    return pd.DataFrame(rows, columns=["run", "case_id", "group", "model", "framework", "mode", "batch",
                                       "device", "reason"])


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
