"""What one benchmark row of a saved run means, in plain Python (no pandas: the terminal verdict uses it).

A row is one entry of a pytest-benchmark JSON's ``benchmarks`` list, already validated
(cnnbench.reports.schema). Runs saved before the runtime field existed are read the same way:
their runtime is derived from the framework (docs/keras-runtimes.md).
"""
from __future__ import annotations

import math

# the export runtimes (docs/deploy.md): an engine running one zoo's exported model, inference only
EXPORT_RUNTIMES = ("ort-from-torch", "ort-from-keras", "openvino-from-torch", "openvino-from-keras",
                   "litert-from-keras")
RUNTIMES = ("torch", "keras-tf", "keras-jax", "keras-torch") + EXPORT_RUNTIMES
# the runtime's part of a case id ("resnet50-keras_jax-train-bs8-cpu"); "tf" is Keras on TensorFlow
ID_TAGS = {"torch": "torch", "tf": "keras-tf", "keras_jax": "keras-jax", "keras_torch": "keras-torch",
           **{rt.replace("-from-", "_"): rt for rt in EXPORT_RUNTIMES}}
_KERAS_BACKENDS = {"tensorflow": "keras-tf", "jax": "keras-jax", "torch": "keras-torch"}
NATIVE_LAYOUT = {"torch": "nchw", "keras-tf": "nhwc", "keras-jax": "nhwc", "keras-torch": "nhwc",
                 **{rt: "nchw" if rt.endswith("-from-torch") else "nhwc" for rt in EXPORT_RUNTIMES}}
# an export's parity and graph facts (each export runtime's row; docs/deploy.md)
EXPORT_FIELDS = ("export_parity_rel", "export_parity_ok", "export_nodes", "export_file_bytes", "export_s",
                 "export_opset")
REFERENCE_RUNTIME = "torch"

# timing statistics whose non-finite value makes a row's timing unusable
TIMING_STATS = ("median", "min", "max", "mean", "q1", "q3")
# measured figures that are shown or plotted: a NaN or inf here is flagged, never shown as a number
MEASURED = ("images_per_s", "gflops_per_s", "gemm_peak_gflops_per_s", "pct_of_peak", "pct_of_peak_raw",
            "peak_memory_bytes", "runtime_rss_bytes", "process_peak_rss_bytes", "build_s", "first_step_s",
            "compile_s", "scaling_efficiency")


def finite(value) -> bool:
    """A real, finite number (bools are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def run_spread(info: dict) -> tuple[float, float] | None:
    """The run's spread between the worker processes of a case that a row records (``run_process_sd``,
    ``run_process_df``: cnnbench.core.stats.process_spread), the prior by which the verdict's interval
    moderates each side's own spread; None for a run saved before it, a run of one process a case, or too
    few cases."""
    sd, df = info.get("run_process_sd"), info.get("run_process_df")
    return (float(sd), float(df)) if finite(sd) and finite(df) and sd > 0 and df > 0 else None


def pair_spread(a: tuple[float, float] | None, b: tuple[float, float] | None) -> tuple[float, float] | None:
    """The spread for comparing two rows (``run_spread`` of each): where both record one, the larger (the
    same, from one run); None where either lacks it (the interval is then a bootstrap)."""
    return max(a, b) if a and b else None


def spread_text(sd: float) -> str:
    """A log standard deviation as the share by which one process typically differs: "6.8% a process"."""
    return f"{100 * (math.exp(sd) - 1):.1f}% a process"


def runtime_of(info: dict) -> str | None:
    """The row's runtime; old runs have none recorded: torch -> torch, tf -> keras-tf (or its keras_backend)."""
    if info.get("runtime"):
        return info["runtime"]
    fw = info.get("framework")
    if fw == "torch":
        return "torch"
    if fw == "tf":
        return _KERAS_BACKENDS.get(info.get("keras_backend") or "tensorflow")
    return None


def case_id(bench: dict) -> str:
    return bench["param"] if isinstance(bench.get("param"), str) else bench["name"]


def parse_case_id(cid: str) -> dict:
    """The fields a case id spells: ``resnet18-keras_jax-train-bs8-cuda-bf16-ws2`` ->
    model, runtime, framework, mode, batch, device, precision, layout, compiled, world_size.
    Used for skipped cases and paired A/B cases, which carry no extra_info. {} if it is not a case id."""
    inner = cid[cid.find("[") + 1: cid.rfind("]")] if "[" in cid else cid
    parts = inner.split("-")
    if len(parts) < 5 or not parts[3].startswith("bs") or not parts[3][2:].isdigit():
        return {}
    runtime = ID_TAGS.get(parts[1])
    framework = "torch" if parts[1] == "torch" or (runtime or "").endswith("-from-torch") else "tf"  # the zoo
    out = {"model": parts[0], "framework": framework,
           "runtime": runtime or parts[1], "mode": parts[2], "batch": int(parts[3][2:]), "device": parts[4],
           "precision": "fp32", "layout": NATIVE_LAYOUT.get(runtime or "", None), "compiled": False,
           "world_size": 1}
    for part in parts[5:]:
        if part in ("bf16", "fp16"):
            out["precision"] = part
        elif part in ("nchw", "nhwc"):
            out["layout"] = part
        elif part in ("xla", "compiled"):
            out["compiled"] = True
        elif part.startswith("ws") and part[2:].isdigit():
            out["world_size"] = int(part[2:])
    return out


def compile_requested(info: dict) -> bool:
    """Whether the row's case asked for compilation (torch.compile, XLA). Keras on JAX always runs a
    jax.jit-compiled step; that is its plain case, not a variant, so it does not count here."""
    return info.get("torch_compile") is True or info.get("tf_jit") is True


def problems(bench: dict) -> tuple[list[str], bool]:
    """(what is non-finite in a row, whether its timing is unusable). A timing is unusable when a
    statistic or a raw round is NaN/inf or the median is not positive; a measurement is flagged alone."""
    stats, info = bench.get("stats") or {}, bench.get("extra_info") or {}
    found, timing_bad = [], False
    for key in TIMING_STATS:
        v = stats.get(key)
        if v is not None and not finite(v):
            found.append(f"{key} time is {v}")
            timing_bad = True
    median = stats.get("median")
    if finite(median) and median <= 0:
        found.append(f"median time is {median} (not positive)")
        timing_bad = True
    data = stats.get("data")
    if isinstance(data, list):
        bad = [x for x in data if not finite(x) or x <= 0]
        if bad:
            found.append(f"{len(bad)} of {len(data)} rounds are not finite positive times ({bad[0]})")
            timing_bad = True
    for key in MEASURED:
        v = info.get(key)
        if v is not None and not finite(v):
            found.append(f"{key} is {v}")
    return found, timing_bad


def fmt_num(value, spec: str, missing: str = "-") -> str:
    """A number for display; None/NaN -> ``missing``, inf never shown as a number."""
    if value is None or isinstance(value, bool):
        return missing
    if isinstance(value, (int, float)) and not math.isfinite(value):
        return "invalid" if not math.isnan(value) else missing
    return format(value, spec)
