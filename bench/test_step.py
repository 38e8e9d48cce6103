"""The benchmark: one timed step (inference or training) per model x framework x mode x batch x device."""
from __future__ import annotations

import math
import platform
import time

import pytest

from cnnbench.bench import machine
from cnnbench.bench.cases import Case
from cnnbench.bench.common import NonFiniteLoss, busy_wait, cpu_threads, is_out_of_memory, out_of_memory_reason, timed
from cnnbench.bench.plugin import delay_for, gemm_peak
from cnnbench.core.errors import InputTooSmallError
from cnnbench.core.flops import step_cost
from cnnbench.profile import analytic_memory
from cnnbench.registry import check_build_args

_FRAMEWORK_MODULE = {"torch": "torch", "tf": "tensorflow"}


def _runner(case: Case, state: dict):
    module = _FRAMEWORK_MODULE[case.framework]
    if not machine.installed(module):
        _skip(case, state, f"{case.framework}: {module} is not installed (pip install -e '.[{case.framework}]')")
    if case.framework == "torch":
        from cnnbench.bench import torch_runner as runner
    else:
        from cnnbench.bench import tf_runner as runner
    return runner


def _skip(case: Case, state: dict, reason: str):
    state["skipped"].append({"id": case.id, "group": case.group, "reason": reason})
    pytest.skip(reason)


def _rounds(profile, seconds_per_step: float) -> int:
    wanted = math.ceil(profile.target_seconds / max(seconds_per_step, 1e-9))
    return max(profile.min_rounds, min(profile.max_rounds, wanted))


def _warm_up(step, rounds: int, seconds: float) -> float:
    """Untimed steps until both ``rounds`` steps and ``seconds`` have passed; returns the last step's time.

    A fixed count is not enough for millisecond steps: on the reference VM the first case of a
    session (LeNet-5, under 1 ms a step) ran 25x slower through most of its rounds after two
    warm-up steps, while thread pools and clocks were still settling.
    """
    start = time.perf_counter()
    done, last = 0, 0.0
    while done < max(1, rounds) or time.perf_counter() - start < seconds:
        _, last = timed(step)
        done += 1
    return last


def _inject_delay(prep, amount: float, unit: str, probes: int = 5) -> float:
    """TEST ONLY: make ``prep.step`` slower by ``amount`` seconds, or (unit "fraction") by that share
    of its median steady step time, as a busy wait after each step; returns the delay in seconds."""
    if unit == "fraction":
        steady = sorted(timed(prep.step)[1] for _ in range(probes))[probes // 2]
        delay_s = amount * steady
    else:
        delay_s = amount
    inner = prep.step

    def slowed():
        out = inner()  # returns after the device is synchronized, so the wait adds wall time 1:1
        busy_wait(delay_s)
        return out

    prep.step = slowed
    return delay_s


def _too_big_for_the_cpu(case: Case) -> str | None:
    """Why ``case`` cannot fit in this machine's free memory, or None; checked before anything is built.

    On the CPU a step that does not fit is not always an error: TensorFlow 2.21's convolution crashes
    the process (SIGSEGV) when its allocation fails, losing every result measured so far, and an
    allocation that the kernel grants but cannot back ends in the OOM killer. So a case whose
    analytic lower bound (weights + the widest layer's inputs and output) exceeds MemAvailable is
    skipped with the numbers. GPUs raise a clean out-of-memory error and are not pre-checked.
    """
    free = machine.available_bytes()
    if case.device != "cpu" or free is None:
        return None
    check_build_args(case.model, None, case.input_size, dict(case.options))  # too small an input: its own message
    one = analytic_memory(case.model, 1, input_size=case.input_size, **dict(case.options))
    fixed = one["param_bytes"] + one["buffer_bytes"]
    per_sample = one["min_step_bytes"] - fixed  # the bound is linear in the batch
    need = fixed + per_sample * case.batch
    if need <= free:
        return None
    fits = (free - fixed) // per_sample
    advice = (f"batch {fits} or less might fit (--batch-sizes)" if fits >= 1
              else "not even batch 1 fits: free memory or use a smaller --input-size")
    return (f"out of memory at batch {case.batch} on cpu (checked before running): a step needs at least "
            f"{need / 2**30:.1f} GiB (weights + {one['min_step_layer']}'s inputs and output), "
            f"{free / 2**30:.1f} GiB is available; {advice}")


def test_step(benchmark, case: Case, bench_state):
    runner = _runner(case, bench_state)
    try:
        too_big = None if bench_state["no_memory_check"] else _too_big_for_the_cpu(case)
    except InputTooSmallError as exc:
        _skip(case, bench_state, str(exc))
    if too_big:
        _skip(case, bench_state, too_big)
    delay = delay_for(bench_state, case)
    oom = None  # out of memory is skipped outside the except blocks: the error's traceback holds the
    # step's tensors, and keeping it (as the skip's __context__) would keep them allocated for the next case
    try:
        prep = runner.prepare(case)  # builds, makes the inputs, runs the first step
    except InputTooSmallError as exc:
        _skip(case, bench_state, str(exc))
    except NonFiniteLoss as exc:
        pytest.fail(str(exc), pytrace=False)
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
        oom = out_of_memory_reason(case.batch, case.device, exc)
    if oom:
        _skip(case, bench_state, oom)

    try:
        profile = bench_state["profile"]
        estimate = _warm_up(prep.step, profile.warmup_rounds, profile.warmup_seconds)
        # a share of the step is measured on the warm step (before warm-up, TF's LeNet-5 step read 3x slow)
        delay_s = _inject_delay(prep, *delay) if delay else 0.0
        estimate += delay_s
        benchmark.group = case.group
        result = benchmark.pedantic(prep.step, rounds=_rounds(profile, estimate), warmup_rounds=0, iterations=1)
        try:
            prep.check(result)
        except NonFiniteLoss as exc:
            pytest.fail(str(exc), pytrace=False)
        memory = prep.measure_peak_memory()
    except Exception as exc:  # an OOM inside a timed step surfaces as the framework's own error
        if not is_out_of_memory(exc):
            raise
        oom = out_of_memory_reason(case.batch, case.device, exc)
    finally:
        prep.cleanup()
    if oom:
        _skip(case, bench_state, oom)

    median = benchmark.stats.stats.median
    cost = step_cost(case.model, case.mode, case.batch, input_size=case.input_size, **dict(case.options))
    budget = analytic_memory(case.model, case.batch, input_size=case.input_size, **dict(case.options))
    peak = gemm_peak(bench_state, case.framework, case.device)
    achieved = cost.flops / median
    benchmark.extra_info.update(
        {
            "model": case.model,
            "framework": case.framework,
            "mode": case.mode,
            "batch": case.batch,
            "device": case.device,
            "device_name": machine.device_name(case.device),
            "input_size": case.input_size,
            "precision": case.precision,
            "layout": case.layout,
            "tf_jit": case.tf_jit if case.framework == "tf" else None,
            "torch_compile": case.torch_compile if case.framework == "torch" else None,
            "options": dict(case.options),
            "params": prep.trainable_params,
            "params_with_buffers": prep.params,
            "macs": cost.macs,
            "flops": cost.flops,
            "flops_rule": cost.rule,
            **memory,
            # exact, from the spec: what compare gates on (measured peaks are noisy)
            "analytic_memory_bytes": budget["train_total_bytes_sgd_momentum"] if case.mode == "train"
            else budget["param_bytes"] + budget["buffer_bytes"] + budget["activation_bytes"],
            "analytic_memory_rule": ("params + grads + momentum + BN buffers + activations" if case.mode == "train"
                                     else "params + BN buffers + every layer output") + " (float32)",
            "images_per_s": case.batch / median,
            "gflops_per_s": achieved / 1e9,
            "gemm_peak_gflops_per_s": peak / 1e9,
            "gemm_peak_math": runner.gemm_math_mode(case.device),  # the conv math mode (TF32 on recent GPUs)
            "pct_of_peak": 100.0 * achieved / peak,
            "build_s": prep.build_s,
            "first_step_s": prep.first_step_s,
            # first-call overhead beyond a steady step: tf.function tracing, XLA, torch.compile
            "compile_s": max(0.0, prep.first_step_s - median),
            "cpu_threads_available": cpu_threads(),
            "python_version": platform.python_version(),
            "profile": bench_state["profile"].name,
            "injected_delay_s": delay_s or None,
            **prep.settings,
        }
    )
