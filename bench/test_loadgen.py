"""LoadGen scenarios (``pytest bench --benchmark-only --scenarios single-stream,offline,server``): MLCommons'
load generator drives the runtime's prepared step in a worker process (cnnbench.harness.loadgen,
docs/loadgen.md). Unofficial runs of LoadGen's scenarios, not MLPerf results."""
from cnnbench.harness.loadgen import run_scenario_case


def test_loadgen_scenario(benchmark, case, bench_state):
    run_scenario_case(benchmark, case, bench_state)
