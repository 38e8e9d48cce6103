"""What ``bench/test_step.py`` calls for each case: a single-device case (cnnbench.harness.harness) or a
data-parallel one (cnnbench.harness.distributed), each in worker processes of its own."""
from __future__ import annotations

from cnnbench.core.case import Case
from cnnbench.harness.distributed import run_distributed_case
from cnnbench.harness.harness import run_single_case
from cnnbench.harness.state import HarnessState


def run_case(benchmark, case: Case, state: HarnessState) -> None:
    if case.distributed:
        return run_distributed_case(benchmark, case, state)
    return run_single_case(benchmark, case, state)
