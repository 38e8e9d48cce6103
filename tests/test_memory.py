"""Peak memory: one kind for every framework, on any x86 CPU (oneDNN on or off, each set through its
worker's settings), independent of what ran before. Both tests are in the slow tier (three fresh workers,
then a harness run and four more: about 40 s and 90 s); the quick tier's harness runs read the same figure."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cnnbench.harness.cases import PROFILES
from cnnbench.core.case import NATIVE_LAYOUT, Case
from cnnbench.core.memory import analytic_memory
from cnnbench.core.settings import Settings
from cnnbench.worker.client import Worker

ROOT = Path(__file__).resolve().parents[1]


CONFIGS = {"torch": ("torch", True), "keras-tf-onednn-on": ("keras-tf", True),
           "keras-tf-onednn-off": ("keras-tf", False)}


@pytest.fixture(scope="module")
def alone(torch_mod, keras_mod):
    """ResNet-18 at 64 px, batch 2, in a fresh worker per runtime and oneDNN setting: inference first (the
    first case of its process, as every case is in the harness, with the smoke profile's warm-up), then
    training in the same worker. Per configuration: the settings in force and both figures."""
    out = {}
    smoke = PROFILES["smoke"]
    for key, (runtime, onednn) in CONFIGS.items():
        framework = "torch" if runtime == "torch" else "tf"
        figures = {}
        with Worker(runtime, "cpu", Settings(onednn=onednn)) as w:
            for mode in ("inference", "train"):
                case = Case("resnet18", framework, mode, 2, "cpu", 64, layout=NATIVE_LAYOUT[framework])
                w.call("prepare", case=case.to_dict())
                w.call("warmup", rounds=smoke.warmup_rounds, seconds=smoke.warmup_seconds)
                figures[mode] = w.call("memory")
            out[key] = {"settings": w.info["settings"], "figures": figures}
    return out


def inference_alone(config: str, alone: dict, processes: int = 3) -> list[float]:
    """The process figure of ResNet-18 inference as the first case of ``processes`` fresh workers (the
    ``alone`` fixture's, then more): one Keras process's figure differs from the next one's by up to
    ~20% (97 to 118 MB over 15 processes on 2026-12-06, fresh or forked alike: which thread's malloc arena
    and which large block holds what), so one process against one other cannot bound an order effect."""
    runtime, onednn = CONFIGS[config]
    framework = "torch" if runtime == "torch" else "tf"
    smoke = PROFILES["smoke"]
    figures = [alone[config]["figures"]["inference"]["peak_memory_bytes"]]
    case = Case("resnet18", framework, "inference", 2, "cpu", 64, layout=NATIVE_LAYOUT[framework])
    for _ in range(processes - 1):
        with Worker(runtime, "cpu", Settings(onednn=onednn)) as w:
            w.call("prepare", case=case.to_dict())
            w.call("warmup", rounds=smoke.warmup_rounds, seconds=smoke.warmup_seconds)
            figures.append(w.call("memory")["peak_memory_bytes"])
    return figures


@pytest.mark.slow  # three fresh workers, TensorFlow imported in two
@pytest.mark.parametrize("config", CONFIGS)
def test_every_runtime_has_a_peak_of_the_same_kind(config, alone):
    """TensorFlow's own CPU allocator statistics exist only with oneDNN on (AMD CPUs have it off by
    default): the figure must not depend on them. Lower bounds by hand arithmetic from the weights:
    ResNet-18 at 64 px has 11,689,512 parameters (torchvision), float32; a training step holds the
    weights, their gradients and the momentum buffer (3 x 46,758,048 bytes), inference the weights."""
    runtime, onednn = CONFIGS[config]
    settings, figures = alone[config]["settings"], alone[config]["figures"]
    assert settings["setting_onednn"] is onednn or runtime == "torch"  # TF reads it back
    weights = 4 * 11_689_512
    for mode, m in figures.items():
        assert m["peak_memory_method"] == "rss_delta"
        assert m["peak_memory_bytes"] >= (3 * weights if mode == "train" else weights)
        assert m["runtime_rss_bytes"] > 0  # reported apart, not in the figure
    # and the figure is a step's: within reach of the analytic estimate (activations + weights, float32)
    budget = analytic_memory("resnet18", 2, input_size=64)["train_total_bytes_sgd_momentum"]
    assert figures["train"]["peak_memory_bytes"] < 8 * budget


@pytest.mark.slow  # a harness run of four cases, three processes each, and four more fresh workers
def test_the_figure_does_not_depend_on_the_cases_before_it(tmp_path, alone):
    """The same case alone (the first case of three fresh workers) and in a harness run after a bigger
    one (ResNet-34), in both frameworks, under the same settings (the harness's defaults, oneDNN on:
    checked field by field), three processes a side. Every case has its own worker process, so the order
    cannot enter; what remains is the spread between processes of the same case. One Keras process
    against one other differed by 19% and 32% in two clean-clone CI runs (2026-12-05 and -06), within the
    range that 15 processes of this case showed alone on 2026-12-06 (97 to 118 MB): the row's figure is
    the median of its processes' (``process_median_memory``), and so is the side it is compared with here.
    The bound, 15%, is above the spread of such medians and far below what an order-dependent figure did
    before (a process high-water mark: 11.8 GB for ResNet-50 inference at batch 1 after other cases,
    against about 100 MB). No re-measurement (``--max-processes 3``, and ``--busy-cores 2``: no process counts
    as busy): this is about memory, and beside the other xdist worker, which keeps the machine busy, the
    timing rules asked for up to five processes a case (256 s in CI), then busy processes replaced up to six a
    case (223 s in `make test-slow` on the 2-core Zen 3 VM, 2026-12-07)."""
    import statistics

    out = tmp_path / "after.json"
    cmd = [sys.executable, "-m", "pytest", "bench", "--benchmark-only", "-q", "-p", "no:cacheprovider",
           "--bench-profile", "smoke", "--models", "resnet34,resnet18", "--modes", "inference", "--input-size", "64",
           "--no-time-to-accuracy", "--processes", "3", "--max-processes", "3", "--busy-cores", "2",
           f"--benchmark-json={out}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = list(json.loads(out.read_text())["benchmarks"])
    assert [b["param"] for b in rows] == ["resnet34-torch-inference-bs2-cpu", "resnet34-tf-inference-bs2-cpu",
                                          "resnet18-torch-inference-bs2-cpu", "resnet18-tf-inference-bs2-cpu"]
    after = {b["param"]: b["extra_info"] for b in rows}
    for case_id, config in (("resnet18-torch-inference-bs2-cpu", "torch"),
                            ("resnet18-tf-inference-bs2-cpu", "keras-tf-onednn-on")):
        first = alone[config]
        row = after[case_id]
        assert {k: row[k] for k in first["settings"]} == first["settings"], case_id  # threads, oneDNN, ...
        # every worker forked, with the server's library pages mapped again before its baseline (fork server)
        assert all(p["forked"] and p["populated_bytes"] > 50 * 2**20 for p in row["processes"]), case_id
        counted = [p["peak_memory_bytes"] for p in row["processes"] if p["counted"]]
        assert len(counted) >= 3 and row["peak_memory_bytes"] == statistics.median(counted), case_id
        a, b = statistics.median(inference_alone(config, alone)), row["peak_memory_bytes"]
        assert abs(a - b) <= 0.15 * a, (case_id, a, b, counted)
        assert row["peak_memory_method"] == "rss_delta"
    assert after["resnet34-torch-inference-bs2-cpu"]["peak_memory_bytes"] > 4 * 21_797_672  # its own weights
