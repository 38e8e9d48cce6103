"""The benchmark harness's logic, checked on the CPU without timing anything."""
from __future__ import annotations

import json
import math

import pytest

import cnnbench
from cnnbench.bench.cases import PROFILES, build_cases


# ------------------------------------------------------------------ case selection
def test_default_profile_covers_every_model_both_frameworks_both_modes():
    cases = build_cases(profile="default", device="cpu")
    assert {(c.model, c.framework, c.mode) for c in cases} == {
        (m, f, mode) for m in cnnbench.list_models() for f in ("torch", "tf") for mode in ("inference", "train")
    }


def test_ids_and_groups_are_stable():
    cases = build_cases(profile="default", models="resnet50", batch_sizes="8", device="cpu")
    ids = [c.id for c in cases]
    assert "resnet50-torch-train-bs8-cpu" in ids and "resnet50-tf-inference-bs8-cpu" in ids
    by_id = {c.id: c for c in cases}
    assert by_id["resnet50-torch-train-bs8-cpu"].group == "train:resnet50:bs8:cpu"
    # both frameworks share a group, so pytest-benchmark puts them side by side
    assert by_id["resnet50-tf-train-bs8-cpu"].group == "train:resnet50:bs8:cpu"


def test_flags_appear_in_ids_only_where_they_apply():
    cases = build_cases(models="lenet5", modes="inference", device="cpu", layout="nhwc", precision="bf16",
                        tf_jit=True, torch_compile=True)
    ids = sorted(c.id for c in cases)
    assert ids == ["lenet5-tf-inference-bs1-cpu-bf16-xla", "lenet5-torch-inference-bs1-cpu-bf16-nhwc-compiled"]


def test_wildcards_and_profile_inputs():
    cases = build_cases(profile="smoke", models="resnet1*,vgg1?", frameworks="torch", modes="train", device="cpu")
    assert sorted({c.model for c in cases}) == ["resnet101", "resnet152", "resnet18", "vgg11", "vgg13", "vgg16", "vgg19"]
    assert {c.input_size for c in cases} == {64}  # the smoke profile's small input
    smoke = build_cases(profile="smoke", models="inception_v3,lenet5", device="cpu")
    assert {c.model: c.input_size for c in smoke} == {"inception_v3": 75, "lenet5": 28}  # raised to the minimum / native


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(models="resnet05"), "Did you mean 'resnet50'"),
        (dict(frameworks="jax"), "--frameworks: unknown value(s) jax; choose from torch, tf"),
        (dict(modes="eval"), "--modes: unknown value(s) eval; choose from inference, train"),
        (dict(batch_sizes="8,0"), "batch size must be a positive integer, got 0"),
        (dict(batch_sizes="eight"), "'eight' is not an integer"),
        (dict(profile="huge"), "unknown profile 'huge'; choose from smoke, default, full"),
        (dict(input_size=-5), "--input-size must be a positive integer"),
    ],
)
def test_bad_options_say_what_would_be_right(kwargs, message):
    with pytest.raises((ValueError, KeyError)) as err:
        build_cases(device="cpu", **kwargs)
    assert message in str(err.value)


def test_profiles_are_sane():
    assert PROFILES["smoke"].min_rounds >= 5  # enough rounds for a rank test on CI runs
    assert set(PROFILES["full"].batch_sizes["cpu"]) > set(PROFILES["default"].batch_sizes["cpu"])


# ------------------------------------------------------------------ analytic step cost
def test_step_cost_rule():
    from cnnbench.core.flops import step_cost

    inf = step_cost("resnet50", "inference", 4)
    train = step_cost("resnet50", "train", 4)
    assert inf.macs == 4 * 4_089_184_256 and inf.flops == 2 * inf.macs
    assert train.macs == 3 * inf.macs
    # aux heads count in training only
    aux_inf = step_cost("googlenet", "inference", 1, aux_logits=True)
    aux_train = step_cost("googlenet", "train", 1, aux_logits=True)
    assert aux_inf.macs == step_cost("googlenet", "inference", 1).macs
    assert aux_train.macs > 3 * aux_inf.macs
    with pytest.raises(ValueError, match="batch must be a positive integer"):
        step_cost("resnet50", "train", 0)


# ------------------------------------------------------------------ device synchronization
def test_torch_sync_calls_cuda_synchronize_only_on_cuda(monkeypatch, torch_mod):
    from cnnbench.bench import torch_runner

    calls = []
    monkeypatch.setattr(torch_mod.cuda, "synchronize", lambda *a: calls.append("sync"))
    torch_runner.sync("cpu")
    assert calls == []
    torch_runner.sync("cuda")
    assert calls == ["sync"]


def test_tf_sync_uses_sync_devices_on_gpu_and_host_read_on_cpu(monkeypatch, keras_mod):
    import tensorflow as tf

    from cnnbench.bench import tf_runner

    calls = []
    monkeypatch.setattr(tf.test.experimental, "sync_devices", lambda: calls.append("sync_devices"))

    class Result:
        def numpy(self):
            calls.append("numpy")

    tf_runner.sync("cpu", Result())
    tf_runner.sync("cuda", Result())
    assert calls == ["numpy", "sync_devices"]


@pytest.mark.parametrize("mode", ["inference", "train"])
def test_timed_torch_step_ends_with_a_device_sync(monkeypatch, mode, torch_mod):
    from cnnbench.bench import torch_runner
    from cnnbench.bench.cases import Case

    events = []
    real_sync = torch_runner.sync
    monkeypatch.setattr(torch_runner, "sync", lambda device: (events.append(device), real_sync(device)))
    prep = torch_runner.prepare(Case("lenet5", "torch", mode, 2, "cpu", 28))
    events.clear()
    prep.step()
    assert events == ["cpu"]  # exactly one sync, at the end of the step
    prep.cleanup()


@pytest.mark.parametrize("framework", ["torch", "tf"])
def test_cuda_without_a_gpu_is_a_clear_error(framework, torch_mod, keras_mod):
    from cnnbench.bench import tf_runner, torch_runner
    from cnnbench.bench.cases import Case
    from cnnbench.bench.machine import cuda_available

    if cuda_available():
        pytest.skip("this machine has a GPU")
    runner = torch_runner if framework == "torch" else tf_runner
    layout = "nchw" if framework == "torch" else "nhwc"
    with pytest.raises(RuntimeError, match="--device cuda was asked for"):
        runner.prepare(Case("lenet5", framework, "inference", 1, "cuda", 28, layout=layout))


def test_nan_loss_is_reported(torch_mod):
    from cnnbench.bench import torch_runner
    from cnnbench.bench.cases import Case
    from cnnbench.bench.common import NonFiniteLoss

    prep = torch_runner.prepare(Case("lenet5", "torch", "train", 2, "cpu", 28))
    with pytest.raises(NonFiniteLoss, match="training loss is nan"):
        prep.check(torch_mod.tensor(math.nan))
    prep.cleanup()


def test_out_of_memory_is_recognised_in_every_framework(torch_mod, keras_mod):
    """Real allocation failures (a single 48 GiB tensor, more than this machine's RAM and TF's
    allocator limit: refused at once, nothing is allocated), CUDA's error type, and a non-OOM error."""
    import numpy as np
    import tensorflow as tf

    from cnnbench.bench.common import is_out_of_memory, out_of_memory_reason

    caught = []
    for make in (lambda: torch_mod.empty(13_000_000_000),  # "DefaultCPUAllocator: can't allocate memory"
                 lambda: np.empty(13_000_000_000, "float32"),  # numpy's MemoryError
                 lambda: tf.zeros((13_000_000_000,))):  # ResourceExhaustedError "OOM when allocating"
        with pytest.raises(Exception) as info:
            make()
        caught.append(info.value)
    caught.append(torch_mod.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert [is_out_of_memory(e) for e in caught] == [True] * 4
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"))
    reason = out_of_memory_reason(4096, "cpu", caught[0])
    assert reason.startswith("out of memory at batch 4096 on cpu: RuntimeError:") and "can't allocate memory" in reason
    assert "smaller batch" in reason


# ------------------------------------------------------------------ a real harness run, in a subprocess
def test_harness_run_saves_json_records_skips_and_keeps_going(tmp_path, torch_mod):
    """A tiny real run: a too-small input is skipped with the minimum, other cases are saved."""
    import subprocess
    import sys

    out = tmp_path / "run.json"
    cmd = [
        sys.executable, "-m", "pytest", "bench", "--benchmark-only", "-q", "-p", "no:cacheprovider",
        "--models", "lenet5,vgg11", "--frameworks", "torch", "--modes", "inference",
        "--input-size", "28", "--bench-profile", "smoke", f"--benchmark-json={out}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=_repo_root())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(out.read_text())
    names = [b["name"] for b in data["benchmarks"]]
    assert names == ["test_step[lenet5-torch-inference-bs2-cpu]"]
    skipped = data["cnnbench"]["skipped"]
    assert skipped[0]["id"] == "vgg11-torch-inference-bs2-cpu"
    assert "minimum input size is 32" in skipped[0]["reason"]
    row = data["benchmarks"][0]
    assert row["extra_info"]["params"] == 61_706 and row["extra_info"]["macs"] == 2 * 416_520
    assert len(row["stats"]["data"]) == row["stats"]["rounds"] >= 10  # raw rounds kept
    assert "gemm_peak_flops" in data["machine_info"]


def test_memory_precheck_arithmetic(monkeypatch):
    """VGG-11 at 32 px: 531,453,344 weight bytes + 327,680 a sample (stage1.pool); with 1 GiB free,
    (1,073,741,824 - 531,453,344) // 327,680 = 1,654 samples fit (hand arithmetic)."""
    from cnnbench.bench import machine
    from cnnbench.bench import test_step as ts
    from cnnbench.bench.cases import Case

    monkeypatch.setattr(machine, "available_bytes", lambda: 2**30)
    assert ts._too_big_for_the_cpu(Case("vgg11", "torch", "inference", 1654, "cpu", 32)) is None
    reason = ts._too_big_for_the_cpu(Case("vgg11", "tf", "train", 1655, "cpu", 32))
    assert reason.startswith("out of memory at batch 1655 on cpu (checked before running)")
    assert "1.0 GiB is available; batch 1654 or less might fit" in reason
    assert ts._too_big_for_the_cpu(Case("vgg11", "torch", "inference", 10**6, "cuda", 32)) is None  # GPUs raise
    monkeypatch.setattr(machine, "available_bytes", lambda: 100 * 2**20)  # less than the weights
    assert "not even batch 1 fits" in ts._too_big_for_the_cpu(Case("vgg11", "torch", "inference", 1, "cpu", 32))
    with pytest.raises(cnnbench.InputTooSmallError, match="minimum input size is 32"):
        ts._too_big_for_the_cpu(Case("vgg11", "torch", "inference", 1, "cpu", 28))


def _oom_batch() -> int:
    """A VGG-11 batch at 32 px whose first activation (64 x 32 x 32 floats an image) needs twice this
    machine's RAM: the allocator refuses it at once, nothing is touched. Skips where that is unsafe."""
    import os

    try:
        overcommit = open("/proc/sys/vm/overcommit_memory").read().strip()
    except OSError:
        pytest.skip("needs Linux's /proc/sys/vm/overcommit_memory to know a huge allocation is refused")
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if overcommit == "1":
        pytest.skip("vm.overcommit_memory=1 grants any allocation: the OOM killer, not an error, would answer")
    if ram > 64 * 2**30:
        pytest.skip(f"{ram / 2**30:.0f} GiB of RAM: the input alone for a failing batch would be too large")
    return 2 * ram // (64 * 32 * 32 * 4) + 1


def test_out_of_memory_is_skipped_with_its_reason_and_the_run_goes_on(tmp_path, torch_mod, keras_mod):
    """A batch that cannot fit: skipped before anything is built (TensorFlow's CPU convolution would
    crash the process), the other batch measured and saved; and with the check off, PyTorch's real
    allocator error recorded. (A GPU's OOM takes the same path: is_out_of_memory, tested above.)"""
    import subprocess
    import sys

    big = _oom_batch()

    def run(*extra):
        out = tmp_path / f"run{len(extra)}.json"
        cmd = [sys.executable, "-m", "pytest", "bench", "--benchmark-only", "-q", "-p", "no:cacheprovider",
               "--models", "vgg11", "--modes", "inference", "--input-size", "32", "--bench-profile", "smoke",
               "--device", "cpu", f"--benchmark-json={out}", *extra]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=_repo_root())
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        data = json.loads(out.read_text())
        return data, {s["id"]: s["reason"] for s in data["cnnbench"]["skipped"]}

    data, skipped = run("--batch-sizes", f"2,{big}")
    assert sorted(b["param"] for b in data["benchmarks"]) == ["vgg11-tf-inference-bs2-cpu", "vgg11-torch-inference-bs2-cpu"]
    assert set(skipped) == {f"vgg11-torch-inference-bs{big}-cpu", f"vgg11-tf-inference-bs{big}-cpu"}
    for reason in skipped.values():
        assert reason.startswith(f"out of memory at batch {big} on cpu (checked before running)")
        assert "stage1.pool's inputs and output" in reason and "might fit (--batch-sizes)" in reason

    data, skipped = run("--batch-sizes", str(big), "--frameworks", "torch", "--no-memory-check")
    assert data["benchmarks"] == [] and list(skipped) == [f"vgg11-torch-inference-bs{big}-cpu"]
    reason = skipped[f"vgg11-torch-inference-bs{big}-cpu"]
    assert reason.startswith(f"out of memory at batch {big} on cpu: RuntimeError") and "can't allocate memory" in reason


def _repo_root():
    from pathlib import Path

    return Path(__file__).resolve().parents[1]


def test_a_run_where_every_case_is_skipped_is_still_saved(tmp_path, torch_mod):
    """pytest-benchmark saves nothing when no benchmark ran; the harness saves the skips instead."""
    import subprocess
    import sys

    out = tmp_path / "run.json"
    cmd = [sys.executable, "-m", "pytest", "bench", "--benchmark-only", "-q", "-p", "no:cacheprovider",
           "--models", "inception_v3", "--frameworks", "torch", "--modes", "inference", "--input-size", "32",
           f"--benchmark-json={out}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=_repo_root())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data["benchmarks"] == []
    assert [s["id"] for s in data["cnnbench"]["skipped"]] == ["inception_v3-torch-inference-bs1-cpu"]
    assert "minimum input size is 75" in data["cnnbench"]["skipped"][0]["reason"]
    assert "machine_info" in data and "commit_info" in data


def test_inject_delay_forms():
    import pytest as _pytest

    from cnnbench.bench.cases import Case
    from cnnbench.bench.plugin import _parse_delay, delay_for

    entries = _parse_delay("resnet18=15%,lenet5-tf-*=0.002")
    assert entries == [("resnet18", 0.15, "fraction"), ("lenet5-tf-*", 0.002, "s")]
    state = {"delay": entries}
    assert delay_for(state, Case("resnet18", "torch", "train", 2, "cpu", 64)) == (0.15, "fraction")
    assert delay_for(state, Case("lenet5", "tf", "inference", 2, "cpu", 28)) == (0.002, "s")
    assert delay_for(state, Case("lenet5", "torch", "inference", 2, "cpu", 28)) is None
    for bad in ("resnet18", "resnet18=abc", "resnet18=-1"):
        with _pytest.raises(_pytest.UsageError):
            _parse_delay(bad)


def test_injected_delay_wraps_the_step(monkeypatch):
    """A fixed delay waits that long after each step; a share waits that share of the warm step's
    median (probe times given here, not measured: this checks the arithmetic, not a clock)."""
    import types

    from cnnbench.bench import test_step as ts

    waits, probes = [], iter([0.004, 0.010, 0.002, 0.003, 0.005])
    monkeypatch.setattr(ts, "busy_wait", waits.append)
    monkeypatch.setattr(ts, "timed", lambda fn: (fn(), next(probes)))
    calls = []
    prep = types.SimpleNamespace(step=lambda: calls.append(1) or "out")
    assert ts._inject_delay(prep, 0.002, "s") == 0.002
    assert prep.step() == "out" and waits == [0.002] and calls == [1]
    prep = types.SimpleNamespace(step=lambda: "out")
    assert ts._inject_delay(prep, 0.15, "fraction") == pytest.approx(0.15 * 0.004)  # median of the 5 probes
    prep.step()
    assert waits[-1] == pytest.approx(0.0006)


def test_time_to_accuracy_cases_follow_lenet5_training():
    from cnnbench.bench.cases import build_cases, tta_cases

    smoke = build_cases(profile="smoke", device="cpu")
    assert [c.id for c in tta_cases(smoke)] == ["lenet5-torch-time_to_accuracy-bs32-cpu",
                                                "lenet5-tf-time_to_accuracy-bs32-cpu"]
    assert tta_cases(build_cases(profile="smoke", device="cpu", modes="inference")) == []
    assert tta_cases(build_cases(profile="smoke", device="cpu", models="resnet18")) == []
    assert tta_cases(smoke, enabled=False) == []


def test_gemm_peak_is_measured_in_the_convolutions_math_mode(monkeypatch, torch_mod):
    """On CUDA, PyTorch convolves float32 in TF32 by default; the peak must use the same mode."""
    from cnnbench.models_torch import profile

    assert profile.gemm_math_mode("cpu") == "fp32"
    monkeypatch.setattr(torch_mod.backends.cudnn, "allow_tf32", True)
    assert profile.gemm_math_mode("cuda") == "tf32"
    monkeypatch.setattr(torch_mod.backends.cudnn, "allow_tf32", False)
    assert profile.gemm_math_mode("cuda") == "fp32"
    before = torch_mod.backends.cuda.matmul.allow_tf32
    profile.gemm_peak_flops("cpu", n=64, repeats=2)
    assert torch_mod.backends.cuda.matmul.allow_tf32 == before  # restored
