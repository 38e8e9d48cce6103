"""Check a saved JSON document before anything reads it (issue #14): never trust a file.

Two kinds of document reach the reports: a pytest-benchmark run written by ``pytest bench`` and a
paired A/B result written by ``cnnbench ab --format json`` (top-level key ``cnnbench_ab``; format:
cnnbench/ab/output.py). Every field the reports compute with is checked for presence and type here, so
the code after this point can rely on it. A problem raises ReportError with one line: the file, where in it,
what was found and what would be right.

NaN and inf are not rejected in timings and measured figures: a real run can hold them (a broken
clock, a zero-time step). They are flagged row by row later (cnnbench.reports.rows.problems), never
shown as numbers. A finite time no clock could measure (1e308 s, 1e-300 s) is a damaged file: refused. Identity fields (batch, input size, world size) and exact metrics (params, MACs,
FLOPs, analytic memory) must be finite whole numbers.
"""
from __future__ import annotations

from pathlib import Path

from cnnbench.reports.errors import ReportError
from cnnbench.reports.rows import RUNTIMES, TIMING_STATS, case_id, finite

_MISSING = object()


def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "not finite" if not finite(value) else "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _whole(v) -> bool:
    return _is_num(v) and finite(v) and float(v).is_integer()


# (test, what would be right) per type name; None passes wherever a field is optional
CHECKS = {
    "str": (lambda v: isinstance(v, str), "a string"),
    "name": (lambda v: isinstance(v, str) and v.strip() != "", "a non-empty string"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "pos_int": (lambda v: _whole(v) and v >= 1, "a whole number >= 1"),
    "count": (lambda v: _whole(v) and v >= 0, "a whole number >= 0"),
    "number": (_is_num, "a number"),  # NaN/inf allowed: flagged per row, not fatal
    "finite": (lambda v: _is_num(v) and finite(v), "a finite number"),
    "positive": (lambda v: _is_num(v) and finite(v) and v > 0, "a finite number > 0"),
    "nonneg": (lambda v: _is_num(v) and finite(v) and v >= 0, "a finite number >= 0"),
    "probability": (lambda v: _is_num(v) and finite(v) and 0 <= v <= 1, "a number between 0 and 1"),
    "object": (lambda v: isinstance(v, dict), "an object"),
    "list": (lambda v: isinstance(v, list), "a list"),
    "options": (lambda v: isinstance(v, (dict, str, list)), "an object or a 'k=v,k=v' string"),
    "scalar": (lambda v: isinstance(v, (str, int, float, bool)), "a string or a number"),
    "runtime": (lambda v: v in RUNTIMES, "one of " + ", ".join(RUNTIMES)),
    "framework": (lambda v: v in ("torch", "tf"), "'torch' or 'tf'"),
    "keras_backend": (lambda v: v in ("tensorflow", "jax", "torch"), "'tensorflow', 'jax' or 'torch'"),
    "numbers": (lambda v: isinstance(v, list) and all(_is_num(x) for x in v), "a list of numbers"),
    "positive_numbers": (lambda v: isinstance(v, list) and all(_is_num(x) and finite(x) and x > 0 for x in v),
                         "a list of finite times > 0"),
}

# extra_info of a benchmark row: the fields the reports compute with (docs/benchmarks.md, "How a case is
# measured"), optional unless REQUIRED
ROW_FIELDS = {
    "model": "name", "mode": "name", "batch": "pos_int", "device": "name",
    "framework": "framework", "runtime": "runtime", "keras_backend": "keras_backend",
    "backend_version": "str", "device_name": "scalar", "input_size": "pos_int", "precision": "name",
    "layout": "name", "tf_jit": "bool", "torch_compile": "bool", "compiled": "bool", "options": "options",
    "params": "count", "params_with_buffers": "count", "macs": "count", "flops": "count",
    "analytic_memory_bytes": "count",
    "peak_memory_bytes": "number", "peak_memory_method": "str", "peak_memory_kind": "str",
    "runtime_rss_bytes": "number", "process_peak_rss_bytes": "number",
    "images_per_s": "number", "gflops_per_s": "number", "gemm_peak_gflops_per_s": "number",
    "gemm_peak_math": "str", "pct_of_peak": "number", "pct_of_peak_raw": "number", "pct_of_peak_flag": "str",
    "build_s": "number", "first_step_s": "number", "compile_s": "number",
    "world_size": "pos_int", "per_worker_batch": "pos_int", "global_batch": "pos_int",
    "scaling_efficiency": "number", "dist_backend": "str", "placement": "object",
    "setting_math_matmul": "str", "setting_math_conv": "str", "setting_autotune": "bool",
    "setting_intra_op_threads": "count", "setting_inter_op_threads": "count", "setting_onednn": "bool",
    "setting_cpu_affinity": "count", "injected_delay_s": "number", "keras_xla_grouped_convs": "count",
}
ROW_REQUIRED = ("model", "mode", "batch", "device")
STAT_FIELDS = {"median": "number", "min": "number", "max": "number", "mean": "number", "stddev": "number",
               "iqr": "number", "q1": "number", "q3": "number", "ops": "number", "rounds": "pos_int",
               "iterations": "pos_int", "data": "numbers"}

RUN_FIELDS = {"machine_info": "object", "benchmarks": "list", "commit_info": "object", "datetime": "str",
              "cnnbench": "object", "version": "scalar"}
MACHINE_FIELDS = {"cpu": "object", "cpu_logical_cores": "pos_int", "ram_bytes": "nonneg", "gpu_count": "count",
                  "gemm_peak_flops": "object", "node": "scalar", "cpu_model": "scalar", "gpu_name": "scalar"}
COMMIT_FIELDS = {"id": "str", "dirty": "bool", "branch": "scalar"}
CNNBENCH_FIELDS = {"profile": "scalar", "device": "scalar", "device_note": "scalar", "flops_rule": "scalar",
                   "skipped": "list", "unfinished": "list", "injected_delay": "list", "settings": "object",
                   "complete": "bool", "interrupted": "str"}

AB_KINDS = {"baseline": ("regression", "improvement", "no change", "inconclusive"),
            "setting": ("regression", "improvement", "no change", "inconclusive"),
            "frameworks": ("a faster", "b faster", "tie")}
AB_FIELDS = {"cnnbench_ab": "pos_int", "kind": "name", "a_label": "name", "b_label": "name", "cases": "list",
             "datetime": "str", "machine_info": "object", "commit_info": "object", "method": "str",
             "thresholds": "object"}
AB_CASE_FIELDS = {
    "pair_id": "name", "model": "name", "mode": "name", "batch": "pos_int", "device": "name",
    "input_size": "pos_int", "precision": "name", "a_case": "name", "b_case": "name", "a_runtime": "runtime",
    "b_runtime": "runtime", "rounds": "pos_int", "steps_per_round": "pos_int", "a_median_s": "positive",
    "b_median_s": "positive", "ratio": "positive", "ci_low": "positive", "ci_high": "positive",
    "p_value": "probability", "stopped": "name", "seconds": "nonneg", "decision": "name",
    "a_rounds_s": "positive_numbers", "b_rounds_s": "positive_numbers", "injected_delay_s": "nonneg",
    "pooled_ratio": "positive",  # `cnnbench ab --confirm N`: every pair of processes' ratio, pooled
    "first_decision": "name",  # ... and the first pair's own decision
}
AB_CASE_REQUIRED = ("pair_id", "model", "mode", "batch", "device", "input_size", "precision", "a_runtime",
                    "b_runtime", "rounds", "ratio", "stopped", "decision")
AB_STOPPED = ("precision", "budget", "max_rounds")


def _check(path: Path, where: str, doc: dict, fields: dict, required=()) -> None:
    for key, kind in fields.items():
        value = doc.get(key, _MISSING)
        if value is _MISSING or value is None:
            if key in required:
                raise ReportError(f"{path}: {where}{key} is {'missing' if value is _MISSING else 'null'}; "
                                  f"it must be {CHECKS[kind][1]}")
            continue
        test, right = CHECKS[kind]
        if not test(value):
            raise ReportError(f"{path}: {where}{key} is {_shown(value)} ({_kind(value)}); it must be {right}")


def _entries(path: Path, where: str, items: list, keys: tuple[str, ...]) -> None:
    for i, item in enumerate(items):
        if not isinstance(item, dict) or any(not isinstance(item.get(k), str) for k in keys):
            raise ReportError(f"{path}: {where}[{i}] is {_shown(item)}; each entry must be an object with "
                              + " and ".join(f"'{k}' (a string)" for k in keys))


def check_run(path: Path, data) -> None:
    """Raise ReportError unless ``data`` is a cnnbench pytest-benchmark run whose fields have the right types."""
    if not isinstance(data, dict) or "machine_info" not in data or "benchmarks" not in data:
        missing = [k for k in ("machine_info", "benchmarks") if not isinstance(data, dict) or k not in data]
        raise ReportError(f"{path}: JSON but not a pytest-benchmark run (missing {', '.join(missing)}); "
                          "give a file written by pytest --benchmark-json or --benchmark-autosave")
    _check(path, "", data, RUN_FIELDS)
    _check(path, "machine_info.", data["machine_info"], MACHINE_FIELDS)
    for key, value in (data["machine_info"].get("gemm_peak_flops") or {}).items():
        if not _is_num(value):
            raise ReportError(f"{path}: machine_info.gemm_peak_flops.{key} is {_shown(value)} ({_kind(value)}); "
                              "it must be a number (FLOP/s)")
    _check(path, "commit_info.", data.get("commit_info") or {}, COMMIT_FIELDS)
    meta = data.get("cnnbench") or {}
    _check(path, "cnnbench.", meta, CNNBENCH_FIELDS)
    _entries(path, "cnnbench.skipped", meta.get("skipped") or [], ("id", "reason"))
    _entries(path, "cnnbench.unfinished", meta.get("unfinished") or [], ("id", "reason"))
    for i, bench in enumerate(data["benchmarks"]):
        check_row(path, i, bench)


def check_row(path: Path, index: int, bench) -> None:
    if not isinstance(bench, dict) or not isinstance(bench.get("name"), str) or not isinstance(bench.get("stats"), dict):
        raise ReportError(f"{path}: benchmark #{index} has no name/stats; the file is not a pytest-benchmark run")
    cid = case_id(bench)
    info = bench.get("extra_info")
    if not isinstance(info, dict) or not any(k in info for k in ("model", "framework", "runtime")):
        what = "no extra_info" if info is None or info == {} else f"extra_info {_shown(info)}"
        raise ReportError(f"{path}: benchmark {cid!r} has {what} with the cnnbench fields (model, runtime or "
                          "framework, mode, batch, device): a pytest-benchmark run of another project? "
                          "give a run written by `pytest bench`")
    where = f"benchmark {cid!r}: extra_info."
    _check(path, where, info, ROW_FIELDS, ROW_REQUIRED)
    if info.get("framework") is None and info.get("runtime") is None:
        raise ReportError(f"{path}: {where}runtime and framework are both missing; one of them must say which "
                          f"runtime ran the case ({', '.join(RUNTIMES)})")
    fw, rt = info.get("framework"), info.get("runtime")
    # an export runtime's framework is the zoo it exported from: "torch" for *-from-torch, "tf" for *-from-keras
    torch_runtime = rt == "torch" or str(rt).endswith("-from-torch")
    if fw is not None and rt is not None and (fw == "torch") != torch_runtime:
        raise ReportError(f"{path}: {where}framework {fw!r} and runtime {rt!r} contradict each other; "
                          "framework 'torch' runs as runtime 'torch', framework 'tf' as a keras-* runtime"
                          " (an export runtime: its source, *-from-torch or *-from-keras)")
    stats = bench["stats"]
    _check(path, f"benchmark {cid!r}: stats.", stats, STAT_FIELDS, ("median",))
    _check_magnitudes(path, cid, stats)


# a finite time outside these bounds is no measurement but a damaged file: no step takes a picosecond or
# four months, and figures derived from such a time (images/s, FLOP/s, plot scales) overflow or underflow
MIN_TIME_S, MAX_TIME_S = 1e-12, 1e7


def _check_magnitudes(path: Path, cid: str, stats: dict) -> None:
    for key in TIMING_STATS:
        v = stats.get(key)
        if _is_num(v) and finite(v) and v > 0 and not MIN_TIME_S <= v <= MAX_TIME_S:
            raise ReportError(f"{path}: benchmark {cid!r}: stats.{key} is {v!r} s, not a plausible time (expected "
                              f"{MIN_TIME_S:g} to {MAX_TIME_S:g} s): a damaged file?")
    data = stats.get("data")
    for i, v in enumerate(data if isinstance(data, list) else ()):
        if _is_num(v) and finite(v) and v > 0 and not MIN_TIME_S <= v <= MAX_TIME_S:
            raise ReportError(f"{path}: benchmark {cid!r}: stats.data[{i}] is {v!r} s, not a plausible time "
                              f"(expected {MIN_TIME_S:g} to {MAX_TIME_S:g} s): a damaged file?")


def check_ab(path: Path, data: dict) -> None:
    """Raise ReportError unless ``data`` is a paired A/B result of the format of cnnbench/ab/output.py."""
    version = data.get("cnnbench_ab")
    if version != 1:
        raise ReportError(f"{path}: cnnbench_ab is {_shown(version)}; this cnnbench reads paired A/B files "
                          "of format 1 (written by `cnnbench ab --format json`)")
    _check(path, "", data, AB_FIELDS, ("kind", "a_label", "b_label", "cases"))
    kind = data["kind"]
    if kind not in AB_KINDS:
        raise ReportError(f"{path}: kind is {_shown(kind)}; it must be one of {', '.join(AB_KINDS)}")
    if not data["cases"]:
        raise ReportError(f"{path}: the paired A/B file holds no case; nothing to report")
    for i, case in enumerate(data["cases"]):
        if not isinstance(case, dict):
            raise ReportError(f"{path}: cases[{i}] is {_shown(case)} ({_kind(case)}); each case must be an object")
        where = f"cases[{i}] ({case.get('pair_id', '?')}): "
        _check(path, where, case, AB_CASE_FIELDS, AB_CASE_REQUIRED)
        if case["stopped"] not in AB_STOPPED:
            raise ReportError(f"{path}: {where}stopped is {_shown(case['stopped'])}; it must be one of "
                              f"{', '.join(AB_STOPPED)}")
        if case["decision"] not in AB_KINDS[kind]:
            raise ReportError(f"{path}: {where}decision is {_shown(case['decision'])}; a {kind!r} file decides "
                              f"one of {', '.join(AB_KINDS[kind])}")
        again = case.get("confirmations", [])  # `cnnbench ab --confirm N`: re-measurements of a possible regression
        if not isinstance(again, list) or any(not isinstance(c, dict) or not _is_num(c.get("ratio"))
                                              or c.get("decision") not in AB_KINDS[kind] for c in again):
            raise ReportError(f"{path}: {where}confirmations is {_shown(again)}; it must be a list of objects, each "
                              f"with a number 'ratio' and a 'decision' ({', '.join(AB_KINDS[kind])})")
        low, high = case.get("ci_low"), case.get("ci_high")
        if (low is None) != (high is None) or (low is not None and low > high):
            raise ReportError(f"{path}: {where}ci_low {_shown(low)} and ci_high {_shown(high)} are not an "
                              "interval; both must be numbers with ci_low <= ci_high (or both null)")
