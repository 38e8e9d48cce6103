"""Time to accuracy (DAWNBench-style): LeNet-5 trained on the shipped digits until the test target.

One round = build the model from the fixed seed, train epoch by epoch until the test accuracy
reaches the target (default 97%), evaluation after each epoch. pytest-benchmark times the whole
round; ``extra_info["time_to_target_s"]`` is the training time alone (evaluation excluded). A
round that never reaches the target fails the case: an accuracy regression is a regression.
"""
from __future__ import annotations

import platform

import pytest

from cnnbench.bench import machine
from cnnbench.bench.cases import Case
from cnnbench.bench.common import cpu_threads

_MODULE = {"torch": "torch", "tf": "tensorflow"}


def test_time_to_accuracy(benchmark, tta_case: Case, bench_state):
    from cnnbench import digits
    from cnnbench.train import DEFAULTS, build, train

    if not machine.installed(_MODULE[tta_case.framework]):
        reason = f"{tta_case.framework}: {_MODULE[tta_case.framework]} is not installed"
        bench_state["skipped"].append({"id": tta_case.id, "group": "time_to_accuracy", "reason": reason})
        pytest.skip(reason)
    data = digits.load()
    results = []

    def one_training():
        init = None
        if tta_case.framework == "tf" and machine.installed("torch"):
            init = build(tta_case.model, "torch", DEFAULTS["seed"])  # the same start as the PyTorch case
        model = build(tta_case.model, tta_case.framework, DEFAULTS["seed"], init_from=init)
        result, _ = train(tta_case.model, tta_case.framework, model, data, epochs=DEFAULTS["epochs"],
                          batch=DEFAULTS["batch"], lr=DEFAULTS["lr"], momentum=DEFAULTS["momentum"],
                          seed=DEFAULTS["seed"], target=DEFAULTS["target"], stop_at_target=True)
        results.append(result)
        return result

    benchmark.group = "time_to_accuracy:lenet5:digits"
    benchmark.pedantic(one_training, rounds=bench_state["profile"].tta_rounds, iterations=1, warmup_rounds=0)
    reached = [r for r in results if r.time_to_target_s is not None]
    times = sorted(r.time_to_target_s for r in reached)
    last = results[-1]
    benchmark.extra_info.update({
        "model": tta_case.model, "framework": tta_case.framework, "mode": tta_case.mode,
        "batch": tta_case.batch, "device": "cpu", "device_name": machine.cpu_model(),
        "input_size": tta_case.input_size, "precision": "fp32",
        "layout": "nchw" if tta_case.framework == "torch" else "nhwc",
        "dataset": "scikit-learn load_digits scaled to 28x28 (1347 train / 450 test, random_state=0)",
        "target_accuracy": DEFAULTS["target"],
        "time_to_target_s": times[len(times) // 2] if times else None,
        "time_to_target_all_s": times,
        "epochs_to_target": last.epochs_to_target,
        "test_accuracy_at_stop": last.test_accuracy,
        "train_settings": last.settings,
        "cpu_threads_available": cpu_threads(),
        "python_version": platform.python_version(),
        "profile": bench_state["profile"].name,
    })
    if len(reached) < len(results):
        pytest.fail(f"{tta_case.id}: test accuracy stayed below {DEFAULTS['target']:.0%} after "
                    f"{DEFAULTS['epochs']} epochs in {len(results) - len(reached)} of {len(results)} rounds "
                    f"(last: {last.test_accuracy:.4f})", pytrace=False)
