"""Time to accuracy (DAWNBench-style): LeNet-5 trained on the shipped digits until the test target.

One round = build the model from the fixed seed, train epoch by epoch until the test accuracy
reaches the target (default 97%), evaluation after each epoch, in a worker process. pytest-benchmark
times the whole round; ``extra_info["time_to_target_s"]`` is the training time alone (evaluation
excluded). A round that never reaches the target fails the case: an accuracy regression is a regression.
"""
from cnnbench.harness.harness import run_tta_case


def test_time_to_accuracy(benchmark, case, bench_state):
    run_tta_case(benchmark, case, bench_state)
