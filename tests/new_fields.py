"""Runs with the fields of the new harness (docs/benchmarks.md, "How a case is measured"), built from the real
saved runs in tests/data.

The harness that writes runtime, setting_*, peak_memory_method, pct_of_peak_flag, world_size and paired
A/B files is being rewritten; until real runs of it are saved here, the tests take a real run
(tests/data/runs/cpu_smoke_2core.json: PyTorch and Keras-on-TensorFlow on the 2-core CI machine) and
ADD the documented fields to it. Where a runtime or a variant that was not measured is needed
(keras-jax, keras-torch, bf16, world size 2 and 4), its rows are copies of real rows with every raw
round multiplied by a stated factor, and its statistics recomputed from those rounds. Every such
number is synthetic and says so here; the tests check the reports' arithmetic on them, never
claim them as measurements.
"""
from __future__ import annotations

import copy
import json
import statistics
from pathlib import Path

from conftest import reference_params

from saved_runs import CPU

EQUAL = {"setting_math_matmul": "fp32", "setting_math_conv": "fp32", "setting_autotune": None,
         "setting_intra_op_threads": 2, "setting_inter_op_threads": 2, "setting_onednn": True,
         "setting_cpu_affinity": 2}
TAG = {"torch": "torch", "keras-tf": "tf", "keras-jax": "keras_jax", "keras-torch": "keras_torch"}
BACKEND = {"torch": None, "keras-tf": "tensorflow", "keras-jax": "jax", "keras-torch": "torch"}
# synthetic runtimes: copies of real rows, every round multiplied by this factor
SYNTHETIC = {"keras-jax": ("keras-tf", 0.8), "keras-torch": ("torch", 1.25)}
FLAG = "above the measured GEMM peak (123% of 157.8 GFLOP/s, re-measured): a measurement error, not shown"


def load(path: Path = CPU) -> dict:
    return json.loads(path.read_text())


def write(doc: dict, path: Path) -> Path:
    path.write_text(json.dumps(doc))
    return path


def restat(bench: dict) -> None:
    """Statistics of a row recomputed from its (changed) raw rounds, as pytest-benchmark defines them."""
    data = bench["stats"]["data"]
    q = statistics.quantiles(data, n=4, method="inclusive")
    st = bench["stats"]
    st.update(median=statistics.median(data), min=min(data), max=max(data), mean=statistics.fmean(data),
              stddev=statistics.stdev(data), q1=q[0], q3=q[2], iqr=q[2] - q[0], ops=1 / statistics.fmean(data),
              rounds=len(data))
    info = bench["extra_info"]
    info["images_per_s"] = info.get("global_batch", info["batch"]) / st["median"]
    info["gflops_per_s"] = info["flops"] / st["median"] / 1e9  # as the harness derives them from the median
    if info.get("pct_of_peak") is not None:
        info["pct_of_peak"] = info["pct_of_peak_raw"] = 100 * info["gflops_per_s"] / info["gemm_peak_gflops_per_s"]


def case_id(info: dict, suffix: str = "") -> str:
    return f"{info['model']}-{TAG[info['runtime']]}-{info['mode']}-bs{info['batch']}-{info['device']}{suffix}"


def rename(bench: dict, suffix: str = "") -> None:
    cid = case_id(bench["extra_info"], suffix)
    bench["param"] = cid
    bench["name"] = f"test_step[{cid}]"
    bench["fullname"] = f"bench/test_step.py::test_step[{cid}]"


def scaled(bench: dict, factor: float, runtime: str | None = None, suffix: str = "", **fields) -> dict:
    """A copy of a real row with every round multiplied by ``factor`` (synthetic), as ``runtime``."""
    b = copy.deepcopy(bench)
    b["stats"]["data"] = [t * factor for t in b["stats"]["data"]]
    info = b["extra_info"]
    if runtime:
        info.update(runtime=runtime, keras_backend=BACKEND[runtime], framework="torch" if runtime == "torch" else "tf")
        if runtime.startswith("keras"):  # the Keras models are channels-last on every backend
            info.update(layout="nhwc")
    info.update(fields)
    restat(b)
    rename(b, suffix)
    return b


def add_new_fields(doc: dict, settings: dict | None = None, per_runtime: dict | None = None) -> dict:
    """The documented fields added to every row of a real run (their values: equal settings, as the
    new harness enforces; memory method as the new harness names it on a CPU)."""
    for b in doc["benchmarks"]:
        info = b["extra_info"]
        rt = "torch" if info["framework"] == "torch" else "keras-tf"
        info.update(runtime=rt, keras_backend=BACKEND[rt], world_size=1, compiled=False,
                    backend_version="torch 2.13.0+cpu" if rt == "torch" else "tensorflow 2.21.0",
                    peak_memory_method="rss_delta",
                    peak_memory_kind="process peak RSS during one steady step minus the runtime's RSS before the "
                                     "model was built (fresh worker per case)",
                    pct_of_peak_flag=None, pct_of_peak_raw=info.get("pct_of_peak"))
        info.update(settings or EQUAL)
        info.update((per_runtime or {}).get(rt, {}))
    doc["cnnbench"]["settings"] = {"math": "fp32", "autotune": None, "threads": 2, "interop_threads": 2,
                                   "onednn": True}
    doc["cnnbench"].update(complete=True, unfinished=[], interrupted=None)
    return doc


def four_runtimes() -> dict:
    """The CPU run with keras-jax (keras-tf rounds x 0.8) and keras-torch (torch rounds x 1.25) added,
    and one row's % of peak flagged as the harness flags it (keras-jax resnet18 train)."""
    doc = add_new_fields(load())
    extra = []
    for b in doc["benchmarks"]:
        for rt, (source, factor) in SYNTHETIC.items():
            if b["extra_info"]["runtime"] == source:
                extra.append(scaled(b, factor, rt, backend_version=f"{BACKEND[rt]} synthetic"))
    for b in extra:
        info = b["extra_info"]
        if info["runtime"] == "keras-jax" and info["model"] == "resnet18" and info["mode"] == "train":
            info.update(pct_of_peak=None, pct_of_peak_raw=123.0, pct_of_peak_flag=FLAG)
    doc["benchmarks"] += extra
    for b in doc["benchmarks"]:  # the fields of several processes a case (issue #37) and of --instructions (#38)
        info = b["extra_info"]
        if info["runtime"] == "torch" and info["mode"] == "inference":
            info.update(REPLICATED, step_peak_memory_bytes=info["peak_memory_bytes"] // 2, **INSTRUCTIONS)
    return doc


# synthetic: two counted processes 4.3% apart, one measured again, and a count of LeNet-5's forward (issue #38)
REPLICATED = {"processes_counted": 2, "process_spread": 0.043,
              "remeasured": ["timed while busy: 1.1 other cores (first process)"]}
INSTRUCTIONS = {"instructions": 31_650_000, "instructions_steps": 20, "instructions_valgrind": "valgrind-3.19.0"}


def scaling_run() -> dict:
    """The CPU run's training rows at world sizes 2 and 4 (synthetic: rounds x 1.1 and x 1.3, so
    images/s of the job = 2 or 4 x batch / median); efficiency recorded as the harness defines it,
    except on torch resnet18 at 4 workers, where it is left out for the report to compute."""
    doc = add_new_fields(load())
    doc["benchmarks"] = [b for b in doc["benchmarks"] if b["extra_info"]["mode"] == "train"]
    base = {(b["extra_info"]["model"], b["extra_info"]["runtime"]): b["extra_info"]["images_per_s"]
            for b in doc["benchmarks"]}
    for b in doc["benchmarks"]:
        b["extra_info"].update(world_size=1, per_worker_batch=2, global_batch=2)
    extra = []
    for b in list(doc["benchmarks"]):
        info = b["extra_info"]
        for ws, factor in ((2, 1.1), (4, 1.3)):
            c = scaled(b, factor, None, f"-ws{ws}", world_size=ws, per_worker_batch=2, global_batch=2 * ws,
                       dist_backend="gloo" if info["runtime"] == "torch" else "tf-collective-ring")
            ci = c["extra_info"]
            ci["scaling_efficiency"] = ci["images_per_s"] / (ws * base[(ci["model"], ci["runtime"])])
            if ci["model"] == "resnet18" and ci["runtime"] == "torch" and ws == 4:
                del ci["scaling_efficiency"]
            extra.append(c)
    doc["benchmarks"] += extra
    return doc


def variants_run() -> dict:
    """A second run on the same machine: torch in bf16 (rounds x 0.7) and keras-tf with XLA (rounds x 0.9)."""
    doc = add_new_fields(load())
    out = []
    for b in doc["benchmarks"]:
        if b["extra_info"]["runtime"] == "torch":
            out.append(scaled(b, 0.7, None, "-bf16", precision="bf16"))
        else:
            out.append(scaled(b, 0.9, None, "-xla", tf_jit=True, compiled=True))
    doc["benchmarks"] = out
    doc["datetime"] = "2026-11-23T09:00:00.000000+00:00"  # after the CPU run
    return doc


def ab_frameworks(decision: str = "tie") -> dict:
    """A paired A/B file (the format of cnnbench/ab/output.py) deciding resnet18 inference, torch (A) vs keras-tf (B),
    on the CPU run's machine. Its rounds are the CPU run's own rounds; its ratio, interval and
    decision are CONSTRUCTED (not measured) so that the report's override is visible."""
    run = load()
    by = {b["param"]: b for b in run["benchmarks"]}
    a, b = by["resnet18-torch-inference-bs2-cpu"], by["resnet18-tf-inference-bs2-cpu"]  # b: its case id
    return {
        "cnnbench_ab": 1, "datetime": "2026-11-23T10:00:00+00:00", "machine_info": run["machine_info"],
        "commit_info": run["commit_info"], "kind": "frameworks", "a_label": "torch", "b_label": "keras-tf",
        "method": "interleaved rounds, fresh worker per side; bootstrap of the ratio of medians",
        "thresholds": {"time": 0.05, "confidence": 0.95},
        "cases": [{
            "pair_id": "resnet18-inference-bs2-cpu", "model": "resnet18", "mode": "inference", "batch": 2,
            "device": "cpu", "input_size": 64, "precision": "fp32", "a_case": a["param"], "b_case": b["param"],
            "a_runtime": "torch", "b_runtime": "keras-tf", "rounds": 20, "steps_per_round": 5,
            "a_median_s": a["stats"]["median"], "b_median_s": a["stats"]["median"] * 1.02, "ratio": 1.02,
            "ci_low": 0.97, "ci_high": 1.08, "p_value": 0.4, "stopped": "budget", "seconds": 12.5,
            "decision": decision, "a_rounds_s": a["stats"]["data"][:20],
            "b_rounds_s": [t * 1.02 for t in a["stats"]["data"][:20]],
            "injected_delay_s": None,
        }],
    }


def ab_interrupted() -> dict:
    """A paired A/B file of two commits (kind "baseline": the runtimes table takes no verdict from it) stopped by
    Ctrl-C after its first pair, as cnnbench/ab/cli.py writes one: its measured case is ab_frameworks()' (numbers
    CONSTRUCTED, decision "no change"), the pair it did not reach is listed as not measured."""
    doc = ab_frameworks()
    doc.update(kind="baseline", a_label="HEAD~1", b_label="HEAD", interrupted="SIGINT",
               unfinished=[{"pair_id": "resnet18-train-bs2-cpu", "reason": "not measured: the run was interrupted (SIGINT)"}])
    doc["cases"][0]["decision"] = "no change"
    return doc


MiB = 2**20
# issue #30 item 7's figures (tests/test_plausibility.py says where each comes from): PyTorch VGG training
# steps at batch 1, 224 px, in ms, with torchvision's GMACs; Keras VGG-11 inference's peak memory and bound
# VGG-16 at VGG-13's time per FLOP (741 x 15.470 / 11.308): the third like-built sibling (tests/test_plausibility.py)
IMPLAUSIBLE_TRAIN = (("vgg11", 7.609, 1592.0), ("vgg13", 11.308, 741.0), ("vgg16", 15.470, 1014.0))
IMPLAUSIBLE_MEMORY = {"peak_memory_bytes": 1352 * MiB, "analytic_memory_bytes": 540 * MiB}


def implausible_run() -> dict:
    """A run whose figures cnnbench.reports.plausibility flags: three PyTorch VGG training rows (copies of
    the CPU run's resnet18 training row, rounds scaled to the issue's medians: VGG-11's time per FLOP is
    3.2x its like-built siblings') and one Keras-on-TensorFlow VGG-11 inference row (a copy of resnet18's, rounds scaled
    by the FLOPs ratio, its peak memory set to the issue's 1,352 MiB against a 540 MiB bound). Synthetic
    rows with real figures."""
    doc = add_new_fields(load())
    by = {b["param"]: b for b in doc["benchmarks"]}
    train, infer = by["resnet18-torch-train-bs2-cpu"], by["resnet18-tf-inference-bs2-cpu"]
    rows = [scaled(train, ms / 1e3 / train["stats"]["median"], model=model, batch=1, global_batch=1, input_size=224,
                   params=reference_params(model), macs=int(3 * gmacs * 1e9), flops=int(3 * 2 * gmacs * 1e9))
            for model, gmacs, ms in IMPLAUSIBLE_TRAIN]
    per_flop = 2 * 7.609e9 / infer["extra_info"]["flops"]  # rounds at resnet18's real time per FLOP
    rows.append(scaled(infer, per_flop, model="vgg11", batch=1, global_batch=1, input_size=224, params=reference_params("vgg11"),
                       macs=int(7.609e9),
                       flops=int(2 * 7.609e9), **IMPLAUSIBLE_MEMORY))
    doc["benchmarks"] = rows
    return doc
