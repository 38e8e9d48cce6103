"""The benchmark harness: case selection, its arithmetic, device synchronization, and a real run."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

import cnnbench
from cnnbench.core.specs import get_spec
from cnnbench.harness.cases import PROFILES, build_cases, parse_world_sizes, tta_cases
from conftest import HARNESS_BESIDE_XDIST

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ case selection
def test_default_profile_covers_its_models_both_frameworks_both_modes():
    """The default profile names its models (`make bench` of two processes a case within 15 minutes: issue
    #37), each registered, every family but MNASNet's and Inception v3's (GoogLeNet has the Inception modules), with VGG-11 and -13 for the plausibility rule that
    compares like-built siblings; the full profile has every model."""
    cases = build_cases(profile="default", device="cpu")
    assert {(c.model, c.framework, c.mode) for c in cases} == {
        (m, f, mode) for m in PROFILES["default"].models for f in ("torch", "tf") for mode in ("inference", "train")
    }
    assert {c.runtime for c in cases} == {"torch", "keras-tf"}  # Keras on TensorFlow unless asked
    # #30: the default profile adds the newer families' smallest members; the full profile has every model
    assert set(PROFILES["default"].models) <= set(cnnbench.list_models())
    assert {"resnet50", "mobilenet_v2", "efficientnet_b0", "regnet_y_400mf", "convnext_tiny"} <= set(
        PROFILES["default"].models)
    assert {"efficientnet_b3", "efficientnet_v2_s"}.isdisjoint(PROFILES["default"].models)  # 1.8 and 8.4 GMACs
    assert {"vgg11", "vgg13", "resnet18", "resnet50"} <= set(PROFILES["default"].models)
    families = {get_spec(m).family for m in cnnbench.list_models()} - {"mnasnet", "inception"}
    assert {get_spec(m).family for m in PROFILES["default"].models} == families
    assert PROFILES["full"].models == tuple(cnnbench.list_models())


def test_ids_and_groups_are_stable():
    cases = build_cases(profile="default", models="resnet50", batch_sizes="8", device="cpu")
    by_id = {c.id: c for c in cases}
    assert set(by_id) == {"resnet50-torch-train-bs8-cpu", "resnet50-tf-train-bs8-cpu",
                          "resnet50-torch-inference-bs8-cpu", "resnet50-tf-inference-bs8-cpu"}
    # both frameworks share a group, so pytest-benchmark puts them side by side
    assert by_id["resnet50-torch-train-bs8-cpu"].group == by_id["resnet50-tf-train-bs8-cpu"].group \
        == "train:resnet50:bs8:cpu"


def test_flags_appear_in_ids_only_where_they_apply():
    cases = build_cases(models="lenet5", modes="inference", device="cpu", layout="nhwc", precision="bf16",
                        tf_jit=True, torch_compile=True, keras_backends="tensorflow,jax,torch")
    assert sorted(c.id for c in cases) == [
        "lenet5-keras_jax-inference-bs1-cpu-bf16", "lenet5-keras_torch-inference-bs1-cpu-bf16-compiled",
        "lenet5-tf-inference-bs1-cpu-bf16-xla", "lenet5-torch-inference-bs1-cpu-bf16-nhwc-compiled"]
    assert sorted(c.runtime for c in cases) == ["keras-jax", "keras-tf", "keras-torch", "torch"]


def test_world_sizes_make_data_parallel_training_cases():
    cases = build_cases(profile="smoke", models="lenet5", device="cpu", world_sizes=[1, 2],
                        keras_backends="tensorflow,jax")
    ids = sorted(c.id for c in cases)
    assert "lenet5-torch-train-bs2-cpu-ws1" in ids and "lenet5-tf-train-bs2-cpu-ws2" in ids
    assert "lenet5-torch-inference-bs2-cpu" in ids  # inference stays single-device
    assert "lenet5-keras_jax-train-bs2-cpu" in ids  # DDP and tf.distribute only
    assert all(c.distributed == (c.mode == "train" and c.runtime in ("torch", "keras-tf")) for c in cases)
    assert tta_cases(cases) == []  # no single-device LeNet-5 training selected


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
        (dict(models=""), "--models: no value given"),
        (dict(frameworks="jax"), "--frameworks: unknown value(s) jax; choose from torch, tf"),
        (dict(modes="eval"), "--modes: unknown value(s) eval; choose from inference, train"),
        (dict(keras_backends="mxnet"), "--keras-backends: unknown value(s) mxnet; choose from tensorflow, jax, torch"),
        (dict(batch_sizes="8,0"), "batch size must be a positive integer, got 0"),
        (dict(batch_sizes="eight"), "'eight' is not an integer"),
        (dict(profile="huge"), "unknown profile 'huge'; choose from smoke, default, full"),
        (dict(input_size=-5), "--input-size must be a positive integer"),
        (dict(batch_sizes="1,1,1"), "--batch-sizes: 1 given 3 times, which would collect the same cases again; "
                                    "give each once: --batch-sizes 1"),
        (dict(batch_sizes="8,1,08,1"), "8 given 2 times, 1 given 2 times, which would collect the same cases again; "
                                       "give each once: --batch-sizes 8,1"),
        (dict(modes="train,train"), "--modes: train given 2 times"),
        (dict(frameworks="tf,torch,tf"), "give each once: --frameworks tf,torch"),
        (dict(keras_backends="jax,jax"), "--keras-backends: jax given 2 times"),
        (dict(models="lenet5,resnet18,lenet5"), "give each once: --models lenet5,resnet18"),
    ],
)
def test_bad_options_say_what_would_be_right(kwargs, message):
    with pytest.raises((ValueError, KeyError)) as err:
        build_cases(device="cpu", **kwargs)
    assert message in str(err.value)


@pytest.mark.parametrize("value,message", [("0", "positive number of workers, got 0"), ("two", "'two' is not an integer"),
                                           ("", "no value given"), ("3", "more than this machine allows (2"),
                                           ("2,1,2", "2 given 2 times, which would collect the same cases "
                                                     "again; give each once: --world-sizes 2,1")])
def test_bad_world_sizes(value, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        parse_world_sizes(value, limit=2)


def test_profiles_are_sane():
    assert PROFILES["smoke"].min_rounds >= 5  # enough rounds for a rank test on CI runs
    assert set(PROFILES["full"].batch_sizes["cpu"]) > set(PROFILES["default"].batch_sizes["cpu"])


def test_time_to_accuracy_cases_follow_lenet5_training():
    smoke = build_cases(profile="smoke", device="cpu")
    assert [c.id for c in tta_cases(smoke)] == ["lenet5-torch-time_to_accuracy-bs32-cpu",
                                                "lenet5-tf-time_to_accuracy-bs32-cpu"]
    assert tta_cases(build_cases(profile="smoke", device="cpu", modes="inference")) == []
    assert tta_cases(build_cases(profile="smoke", device="cpu", models="resnet18")) == []
    assert tta_cases(smoke, enabled=False) == []


# ------------------------------------------------------------------ arithmetic of the harness
def test_step_cost_rule():
    from cnnbench.core.flops import step_cost

    inf = step_cost("resnet50", "inference", 4)
    train = step_cost("resnet50", "train", 4)
    # torchvision's ResNet-50: 4.09 GMACs a 224x224 image (conv + fc: 4,089,184,256)
    assert inf.macs == 4 * 4_089_184_256 and inf.flops == 2 * inf.macs
    assert train.macs == 3 * inf.macs
    aux_inf = step_cost("googlenet", "inference", 1, aux_logits=True)
    aux_train = step_cost("googlenet", "train", 1, aux_logits=True)
    assert aux_inf.macs == step_cost("googlenet", "inference", 1).macs  # aux heads count in training only
    assert aux_train.macs > 3 * aux_inf.macs


def test_worker_clock_replays_the_worker_times_exactly():
    """pytest-benchmark's statistics are of the worker-measured steps, unchanged (a fake benchmark
    loop with pytest-benchmark's read-call-read pattern)."""
    from cnnbench.harness.harness import WorkerClock

    times = [0.125, 0.25, 1e-6, 3.0]
    clock = WorkerClock(times)
    seen = []
    for _ in times:
        start = clock()
        clock.advance()
        seen.append(clock() - start)
    assert seen == times


_CLOCK_TESTS = """
import pytest
from cnnbench.harness.harness import WORKER_CLOCK, replay

@pytest.mark.benchmark(timer=WORKER_CLOCK)
def test_with_the_marker(benchmark):
    replay(benchmark, [0.5, 0.25, 2.0], "g")

def test_without_it(benchmark):
    replay(benchmark, [0.5, 0.25, 2.0], "g")
"""


def test_pytest_benchmark_takes_the_worker_clock_through_its_public_marker(tmp_path):
    """What the harness needs of pytest-benchmark beyond its statistics: a timer given through the
    documented ``@pytest.mark.benchmark(timer=...)`` is the one its pedantic runner reads, and the saved
    JSON names it. Without the marker, replay refuses loudly rather than save the parent's clock."""
    (tmp_path / "test_clock.py").write_text(_CLOCK_TESTS)
    out = tmp_path / "out.json"
    proc = subprocess.run([sys.executable, "-m", "pytest", "test_clock.py", "-q", "-p", "no:cacheprovider",
                           f"--benchmark-json={out}"], capture_output=True, text=True, cwd=tmp_path)
    assert "1 failed, 1 passed" in proc.stdout, proc.stdout + proc.stderr
    assert "pytest-benchmark did not time the rounds with WORKER_CLOCK" in proc.stdout
    (row,) = json.loads(out.read_text())["benchmarks"]
    assert row["name"] == "test_with_the_marker" and row["options"]["timer"] == "perf_counter_in_the_worker_process"
    assert row["stats"]["data"] == [0.5, 0.25, 2.0] and row["stats"]["median"] == 0.5


def test_memory_precheck_arithmetic(monkeypatch):
    """VGG-11 at 32 px: 531,453,344 weight bytes + 327,680 a sample (stage1.pool); with 1 GiB free,
    (1,073,741,824 - 531,453,344) // 327,680 = 1,654 samples fit (hand arithmetic)."""
    from cnnbench.harness import harness, machine
    from cnnbench.core.case import Case

    monkeypatch.setattr(machine, "available_bytes", lambda: 2**30)
    assert harness.too_big_for_the_cpu(Case("vgg11", "torch", "inference", 1654, "cpu", 32)) is None
    reason = harness.too_big_for_the_cpu(Case("vgg11", "tf", "train", 1655, "cpu", 32, layout="nhwc"))
    assert reason.startswith("out of memory at batch 1655 on cpu (checked before running)")
    assert "1.0 GiB is available; batch 1654 or less might fit" in reason
    assert harness.too_big_for_the_cpu(Case("vgg11", "torch", "inference", 10**6, "cuda", 32)) is None  # GPUs raise
    monkeypatch.setattr(machine, "available_bytes", lambda: 100 * 2**20)  # less than the weights
    assert "not even batch 1 fits" in harness.too_big_for_the_cpu(Case("vgg11", "torch", "inference", 1, "cpu", 32))
    with pytest.raises(cnnbench.InputTooSmallError, match="minimum input size is 32"):
        harness.too_big_for_the_cpu(Case("vgg11", "torch", "inference", 1, "cpu", 28))


def test_pct_of_peak_above_100_is_flagged_not_shown():
    from cnnbench.harness.harness import apply_peak

    info = {"gflops_per_s": 150.0}
    apply_peak(info, 100e9)  # 150 GFLOP/s against a 100 GFLOP/s peak
    assert info["pct_of_peak"] is None and info["pct_of_peak_raw"] == pytest.approx(150.0)
    assert "above the measured GEMM peak (150%" in info["pct_of_peak_flag"]
    info = {"gflops_per_s": 25.0}
    apply_peak(info, 100e9)
    assert info["pct_of_peak"] == pytest.approx(25.0) and info["pct_of_peak_flag"] is None


def test_scaling_efficiency_against_world_size_1_of_the_same_run():
    from cnnbench.harness.scaling import apply_scaling

    base = {"model": "lenet5", "runtime": "torch", "mode": "train", "per_worker_batch": 2, "device": "cpu",
            "input_size": 28, "precision": "fp32", "layout": "nchw", "compiled": False, "options": {},
            "dist_backend": "gloo"}
    rows = [{"extra_info": {**base, "world_size": 1, "images_per_s": 100.0}},
            {"extra_info": {**base, "world_size": 2, "images_per_s": 150.0}},
            {"extra_info": {**base, "runtime": "keras-tf", "world_size": 2, "images_per_s": 90.0}}]
    apply_scaling(rows)
    assert rows[1]["extra_info"]["scaling_efficiency"] == pytest.approx(150 / (2 * 100))  # 0.75
    assert rows[0]["extra_info"]["scaling_efficiency"] == pytest.approx(1.0)
    assert "scaling_efficiency" not in rows[2]["extra_info"]  # no world-size-1 row of its runtime


@pytest.mark.parametrize("seconds,shown", [(0.4, "0 s"), (59.4, "59 s"), (59.6, "1 min 00 s"), (359.4, "5 min 59 s"),
                                            (359.5, "6 min 00 s"), (3599.4, "59 min 59 s"), (3599.7, "1 h 00 min"),
                                            (3629.0, "1 h 00 min"), (3631.0, "1 h 01 min")])
def test_duration_rounds_once_then_splits(seconds, shown):
    from cnnbench.harness.progress import _duration

    assert _duration(seconds) == shown  # never "5 min 60 s" (359.5 s used to print that)


class _Report:
    """What pytest hands pytest_runtest_logreport, as far as the progress line reads it."""

    def __init__(self, case_id: str, duration: float):
        self.nodeid, self.duration = f"bench/test_step.py::test_step[{case_id}]", duration
        self.skipped = self.failed = False


class _Terminal:
    def __init__(self):
        self.lines = []

    def ensure_newline(self):
        pass

    def write_line(self, line, **_):
        self.lines.append(line)


def _state(cases, tta, profile, processes: int = 1):
    from cnnbench.core.settings import Settings
    from cnnbench.harness.state import HarnessState

    return HarnessState(cases=cases, tta_cases=tta, profile=profile, settings=Settings(), device="cpu",
                        device_note="--device cpu", worker_timeout=60.0, rendezvous={"nnodes": 1, "node_rank": 0},
                        threads_per_worker=1, processes_wanted=processes, max_processes=processes + 2)


# analytic FLOPs of one step at the smoke profile's sizes (bs2; LeNet-5 at 28 px, ResNet-18 at 64 px), as
# bench/baselines/smoke/run1.json records them
_FLOPS = {"lenet5-inference": 1_666_080, "lenet5-train": 4_998_240,
          "resnet18-inference": 594_231_296, "resnet18-train": 1_782_693_888}


def _fake_machine():
    """The fake machine of the ETA tests: a torch step takes 1 ms plus 1 ns a FLOP and a worker 4 s to start,
    a Keras-on-TensorFlow step 2 ms plus 0.5 ns a FLOP and 8 s; every case 2 warm-up + 10 timed + 1 memory
    steps. Returns (profile, the smoke cases of LeNet-5 and ResNet-18, step seconds, wall seconds of a case)."""
    from cnnbench.harness.cases import Profile

    profile = Profile("fixed", ("lenet5", "resnet18"), {"cpu": (2,)}, 64, min_rounds=10, max_rounds=10,
                      target_seconds=1.0, warmup_rounds=2, warmup_seconds=0.0)
    cases = build_cases(profile="smoke", models="lenet5,resnet18", device="cpu")
    fixed_s, ns_per_flop, start_s = {"torch": 1e-3, "keras-tf": 2e-3}, {"torch": 1.0, "keras-tf": 0.5}, \
        {"torch": 4.0, "keras-tf": 8.0}

    def step_s(c):
        return fixed_s[c.runtime] + ns_per_flop[c.runtime] * 1e-9 * _FLOPS[f"{c.model}-{c.mode}"]

    def wall_s(c):
        return start_s[c.runtime] + 13 * step_s(c)

    return profile, cases, step_s, wall_s


def test_eta_is_what_the_cases_left_are_expected_to_cost():
    """A fake machine whose cost is known: a torch step takes 1 ms plus 1 ns a FLOP and a worker 4 s to
    start, a Keras-on-TensorFlow step 2 ms plus 0.5 ns a FLOP and 8 s; every case takes 2 warm-up + 10
    timed + 1 memory steps; the GEMM peaks measured in the first workers are 5 and 10 GFLOP/s, so the
    prior rate (20% of the peak, progress.PRIOR_FRACTION) is the true one. After three LeNet-5 cases the
    time left is the five cases still to run, ResNet-18's among them: within 1% of the truth (the fixed
    cost is read from LeNet-5 inference, whose step also computes a little), where the first three
    cases' average said 5 x 5.4 s and LeNet-5's speed per FLOP, taken as the rate, several times the truth."""
    from cnnbench.harness.progress import PRIOR_FRACTION, Progress

    profile, cases, step_s, wall_s = _fake_machine()
    assert [c.id for c in cases][:3] == ["lenet5-torch-inference-bs2-cpu", "lenet5-tf-inference-bs2-cpu",
                                         "lenet5-torch-train-bs2-cpu"]

    state = _state(cases, [], profile)
    state.gemm_peak.update({"torch:cpu:tf32": 5e9, "keras-tf:cpu:tf32": 10e9})
    assert PRIOR_FRACTION * 5e9 == 1e9 and PRIOR_FRACTION * 10e9 == 2e9  # 1 and 0.5 ns a FLOP
    progress, terminal = Progress(state), _Terminal()
    progress.start([c.id for c in cases], terminal)
    assert progress.eta() is None  # nothing to go by yet
    for c in cases[:3]:
        state.results[c.id] = {"median_s": step_s(c), "images_per_s": 2 / step_s(c), "stepping_s": 13 * step_s(c)}
        progress.case_done(_Report(c.id, wall_s(c)))
    left = cases[3:]
    truth = sum(wall_s(c) for c in left)
    # by hand, the rule: each runtime's fixed cost is its shortest step so far, LeNet-5 inference's
    # (torch 1 ms + 1,666,080 ns; Keras 2 ms + 833,040 ns), the rate its prior (1 and 2 GFLOP/s)
    fixed_torch, fixed_tf = 1e-3 + 1e-9 * 1_666_080, 2e-3 + 0.5e-9 * 1_666_080
    by_hand = (8 + 13 * (fixed_tf + 0.5e-9 * 4_998_240)
               + 2 * 4 + 13 * (2 * fixed_torch + 1e-9 * (594_231_296 + 1_782_693_888))
               + 2 * 8 + 13 * (2 * fixed_tf + 0.5e-9 * (594_231_296 + 1_782_693_888)))
    assert progress.eta() == pytest.approx(by_hand)
    assert truth == pytest.approx(by_hand, rel=0.01)  # 78.5 s left
    assert terminal.lines[-1].startswith("[3/8] lenet5-torch-train-bs2-cpu")
    assert terminal.lines[-1].endswith("ETA 1 min 19 s")


def test_eta_does_not_take_a_small_models_speed_per_flop_for_a_large_ones():
    """After LeNet-5's cases only, a VGG-16 training step is predicted from the GEMM peak, not from LeNet-5's
    speed per FLOP (a 0.5 ms step for 1.7 MFLOP is dispatch, not arithmetic): on a machine whose GEMM
    peak is 100 GFLOP/s, VGG-16's 3 x 2 x 15.47 GMACs (torchvision's cost) at 20 GFLOP/s is 4.6 s a
    step, where LeNet-5's rate would say 56 s. Once a FLOP-bound case has finished, its rate is used."""
    from cnnbench.harness.progress import Progress

    cases = build_cases(profile="default", models="lenet5,vgg16", frameworks="torch", device="cpu")
    state = _state(cases, [], PROFILES["default"])
    state.gemm_peak["torch:cpu:tf32"] = 100e9
    progress = Progress(state)
    progress.start([c.id for c in cases])
    lenet = next(c for c in cases if c.model == "lenet5" and c.mode == "inference")
    vgg_train = next(c for c in cases if c.model == "vgg16" and c.mode == "train")
    lenet_flops = progress._flops(lenet.id)
    state.results[lenet.id] = {"median_s": 5e-4, "images_per_s": 2e3, "stepping_s": 1.0}
    progress.case_done(_Report(lenet.id, 3.0))
    fixed, rate = progress.step_model(vgg_train)
    assert (fixed, rate) == (5e-4, 20e9)
    vgg_flops = progress._flops(vgg_train.id)
    assert vgg_flops == pytest.approx(3 * 2 * 15.47e9, rel=1e-3)
    assert fixed + vgg_flops / rate == pytest.approx(4.6, rel=0.01)
    assert 5e-4 / lenet_flops * vgg_flops > 50  # what LeNet-5's speed per FLOP would have said
    vgg_inf = next(c for c in cases if c.model == "vgg16" and c.mode == "inference")
    state.results[vgg_inf.id] = {"median_s": 0.5, "images_per_s": 2.0, "stepping_s": 5.0}
    progress.case_done(_Report(vgg_inf.id, 12.0))
    assert progress.step_model(vgg_train)[1] == pytest.approx(progress._flops(vgg_inf.id) / (0.5 - 5e-4))


def test_eta_borrows_from_other_runtimes_and_predicts_time_to_accuracy():
    """A runtime with no finished case yet takes the others' speed and start-up; a time-to-accuracy case
    costs at most every step of its trainings (30 epochs x 43 batches of 32 of the 1,347 training digits)."""
    from cnnbench.core.flops import step_cost
    from cnnbench.harness.cases import PROFILES
    from cnnbench.harness.progress import Progress

    cases = build_cases(profile="smoke", models="lenet5", modes="train", device="cpu")
    tta = tta_cases(cases)
    state = _state(cases, tta, PROFILES["smoke"])
    progress = Progress(state)
    progress.start(list(state.by_id))
    first = cases[0]  # torch: 1 ns a FLOP, 3 s to start; no GEMM peak known, so its own rate
    step = 1e-9 * _FLOPS["lenet5-train"]
    state.results[first.id] = {"median_s": step, "images_per_s": 1.0, "stepping_s": 1.0}
    progress.case_done(_Report(first.id, 4.0))
    assert progress.expected_s(cases[1].id) == pytest.approx(progress.expected_s(first.id))  # tf borrows torch's
    tta_step = step + 1e-9 * step_cost("lenet5", "train", 32).flops  # the fixed cost (its one step) + FLOPs
    assert progress.expected_s(tta[0].id) == pytest.approx(3.0 + 1 * 30 * 43 * tta_step)  # smoke: one round


def test_inject_delay_forms():
    from cnnbench.harness.plugin import delay_for, parse_delay
    from cnnbench.core.case import Case

    entries = parse_delay("resnet18=15%,lenet5-tf-*=0.002")
    assert entries == [("resnet18", 0.15, "fraction"), ("lenet5-tf-*", 0.002, "s")]
    assert delay_for(entries, Case("resnet18", "torch", "train", 2, "cpu", 64)) == (0.15, "fraction")
    assert delay_for(entries, Case("lenet5", "tf", "inference", 2, "cpu", 28, layout="nhwc")) == (0.002, "s")
    assert delay_for(entries, Case("lenet5", "torch", "inference", 2, "cpu", 28)) is None
    for bad in ("resnet18", "resnet18=abc", "resnet18=-1", "resnet18=nan%"):
        with pytest.raises(ValueError, match="--inject-delay"):
            parse_delay(bad)


# ------------------------------------------------------------------ device synchronization (logic, on the CPU)
def test_torch_sync_calls_cuda_synchronize_only_on_cuda(monkeypatch, torch_mod):
    from cnnbench.models_torch import backend

    calls = []
    monkeypatch.setattr(torch_mod.cuda, "synchronize", lambda *a: calls.append("sync"))
    backend.sync("cpu")
    assert calls == []
    backend.sync("cuda")
    assert calls == ["sync"]


def test_keras_tf_sync_uses_sync_devices_on_gpu_and_host_read_on_cpu(monkeypatch, keras_mod):
    import tensorflow as tf

    from cnnbench.models_tf import backend

    calls = []
    monkeypatch.setattr(tf.test.experimental, "sync_devices", lambda: calls.append("sync_devices"))

    class Result:
        def numpy(self):
            calls.append("numpy")

    backend.sync("cpu", Result())
    backend.sync("cuda", Result())
    assert calls == ["numpy", "sync_devices"]


@pytest.mark.parametrize("mode", ["inference", "train"])
def test_a_torch_step_ends_with_a_device_sync(monkeypatch, mode, torch_mod):
    from cnnbench.core.case import Case
    from cnnbench.models_torch import backend

    events = []
    real = backend.sync
    monkeypatch.setattr(backend, "sync", lambda device: (events.append(device), real(device)))
    prep = backend.prepare(Case("lenet5", "torch", mode, 2, "cpu", 28))
    events.clear()
    prep.step()
    assert events == ["cpu"]  # exactly one sync, at the end of the step
    prep.cleanup()


@pytest.mark.parametrize("framework", ["torch", "tf"])
def test_cuda_without_a_gpu_is_a_clear_error(framework, torch_mod, keras_mod):
    from cnnbench.harness import machine
    from cnnbench.core.case import NATIVE_LAYOUT, Case
    from cnnbench.models_tf import backend as keras_backend
    from cnnbench.models_torch import backend as torch_backend

    if machine.cuda_available():
        pytest.skip("this machine has a GPU")
    backend = torch_backend if framework == "torch" else keras_backend
    with pytest.raises(RuntimeError, match="--device cuda was asked for"):
        backend.prepare(Case("lenet5", framework, "inference", 1, "cuda", 28, layout=NATIVE_LAYOUT[framework]))


def test_nan_loss_is_reported(torch_mod):
    from cnnbench.core.case import Case
    from cnnbench.core.step import NonFiniteLoss
    from cnnbench.models_torch import backend

    prep = backend.prepare(Case("lenet5", "torch", "train", 2, "cpu", 28))
    with pytest.raises(NonFiniteLoss, match="training loss is nan"):
        prep.check(torch_mod.tensor(math.nan))
    prep.cleanup()


def test_out_of_memory_is_recognised_in_every_framework(torch_mod, keras_mod):
    """Real allocation failures (a single 48 GiB tensor, more than this machine's RAM and TF's
    allocator limit: refused at once, nothing is allocated), CUDA's error type, and a non-OOM error."""
    import numpy as np
    import tensorflow as tf

    from cnnbench.core.errors import is_out_of_memory, out_of_memory_reason

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
    reason = out_of_memory_reason(4096, "cpu", type(caught[0]).__name__, str(caught[0]))
    assert reason.startswith("out of memory at batch 4096 on cpu: RuntimeError:") and "can't allocate memory" in reason


# ------------------------------------------------------------------ real runs, in a subprocess
def _bench(tmp_path, *args, name="run.json"):
    out = tmp_path / name
    cmd = [sys.executable, "-m", "pytest", "bench", "--benchmark-only", "-p", "no:cacheprovider",
           "--bench-profile", "smoke", f"--benchmark-json={out}", *(args or ()), *(() if "--processes" in args else ("--fast",)),
           *HARNESS_BESIDE_XDIST]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT), out


@pytest.fixture(scope="module")
def small_run(tmp_path_factory, torch_mod):
    """One real run: LeNet-5 measured, VGG-11 skipped (28 px is below its minimum), a batch that cannot
    fit skipped before anything is built."""
    tmp = tmp_path_factory.mktemp("bench")
    big = 10**7  # VGG-11 at 32 px: 10 million images need 3.3 TB (327,680 bytes each)
    proc, out = _bench(tmp, "--models", "lenet5,vgg11", "--frameworks", "torch", "--modes", "inference",
                       "--input-size", "28", "--batch-sizes", f"2,{big}")
    return proc, out, big


def test_a_run_saves_plain_json_and_records_every_skip(small_run):
    proc, out, big = small_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(out.read_text())
    assert [b["name"] for b in data["benchmarks"]] == ["test_step[lenet5-torch-inference-bs2-cpu]"]
    row = data["benchmarks"][0]
    # plain params: pytest-benchmark's own tools can group on them
    assert row["params"] == {"model": "lenet5", "framework": "torch", "runtime": "torch", "mode": "inference",
                             "batch": 2, "device": "cpu", "input_size": 28, "precision": "fp32",
                             "layout": "nchw", "compile": False, "options": ""}
    info = row["extra_info"]
    assert info["params"] == 61_706 and info["macs"] == 2 * 416_520  # seed 000 summary; hand MACs of LeNet-5
    assert len(row["stats"]["data"]) == row["stats"]["rounds"] >= 10  # every raw round kept
    assert row["options"]["timer"] == "perf_counter_in_the_worker_process"  # not the parent's clock
    assert info["peak_memory_method"] == "rss_delta" and info["peak_memory_bytes"] > 0
    assert info["setting_intra_op_threads"] >= 1 and info["setting_onednn"] is True
    assert info["gemm_peak_math"] == "fp32" and 0 < info["pct_of_peak"] <= 100
    assert "torch:cpu:fp32" in data["machine_info"]["gemm_peak_flops"]
    run = data["cnnbench"]
    assert run["complete"] is True and run["unfinished"] == [] and run["settings"]["onednn"] is True
    skipped = {s["id"]: s["reason"] for s in run["skipped"]}
    assert "minimum input size is 32" in skipped["vgg11-torch-inference-bs2-cpu"]
    assert skipped[f"lenet5-torch-inference-bs{big}-cpu"].startswith(
        f"out of memory at batch {big} on cpu (checked before running)")
    # one progress line per case, then the closing summary with the saved path and the report command
    assert "[1/4] lenet5-torch-inference-bs2-cpu" in proc.stdout and "ETA" in proc.stdout
    assert f"saved: {out}" in proc.stdout and f"cnnbench report {out}" in proc.stdout


def test_pytest_benchmark_compare_groups_our_runs_by_framework(small_run):
    proc, out, _ = small_run
    cli = [str(Path(sys.executable).parent / "pytest-benchmark"), "compare", str(out), "--group-by=param:framework",
           "--columns=min,median,rounds"]  # pytest-benchmark's own command line
    done = subprocess.run(cli, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "benchmark 'framework=torch'" in done.stdout and "lenet5-torch-inference-bs2-cpu" in done.stdout


def test_a_run_where_every_case_is_skipped_is_still_saved(tmp_path):
    """pytest-benchmark saves nothing when no benchmark ran; the harness saves the skips instead."""
    proc, out = _bench(tmp_path, "--models", "inception_v3", "--frameworks", "torch", "--modes", "inference",
                       "--input-size", "32", "--bench-profile", "default")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data["benchmarks"] == []
    assert [s["id"] for s in data["cnnbench"]["skipped"]] == ["inception_v3-torch-inference-bs1-cpu"]
    assert "minimum input size is 75" in data["cnnbench"]["skipped"][0]["reason"]
    assert "machine_info" in data and "commit_info" in data


def test_eta_counts_every_later_process_and_survives_a_slow_first_case():
    """Issue #37 item 5: with two processes per case the time left after the fifth case is the first pass's
    cases still to run plus a second process of every case; within 30% of the truth, also when the first case
    ran while the machine was busy (its worker start and its steps 5x slower, and the GEMM peak measured in its
    worker a fifth of the true one). The fake machine is the one above; the second pass runs on a quiet machine."""
    from cnnbench.harness.progress import Progress

    profile, cases, step_s, wall_s = _fake_machine()
    for slow_first in (1.0, 5.0):
        state = _state(cases, [], profile, processes=2)
        state.gemm_peak.update({"torch:cpu:tf32": 5e9 / slow_first, "keras-tf:cpu:tf32": 10e9})
        progress = Progress(state)
        progress.start([c.id for c in cases])
        for i, c in enumerate(cases[:5]):
            slow = slow_first if i == 0 else 1.0
            state.results[c.id] = {"median_s": slow * step_s(c), "images_per_s": 1.0, "stepping_s": slow * 13 * step_s(c)}
            progress.case_done(_Report(c.id, slow * wall_s(c)))
        truth = sum(wall_s(c) for c in cases[5:]) + sum(wall_s(c) for c in cases)
        assert progress.eta() == pytest.approx(truth, rel=0.3), slow_first


def test_collect_only_lists_the_cases_and_calls_none_unfinished(tmp_path):
    """`pytest bench --collect-only` runs nothing, so no case "did not finish" (it once listed every case
    as "not run: the session ended first")."""
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-m", "pytest", str(root / "bench"), "--collect-only", "-q",
                           "--bench-profile", "smoke", "-p", "no:cacheprovider", "--rootdir", str(root)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "test_step[lenet5-torch-inference-bs2-cpu]" in done.stdout
    assert "did not finish" not in done.stdout + done.stderr
