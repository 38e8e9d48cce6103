"""The benchmark: one timed step (inference or training) per model x runtime x mode x batch x device,
each case in a fresh worker process (see cnnbench.harness.harness and .distributed)."""
from cnnbench.harness.run import run_case


def test_step(benchmark, case, bench_state):
    run_case(benchmark, case, bench_state)
