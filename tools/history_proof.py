"""The proof of ``cnnbench history changes`` on synthetic histories (docs/history.md), and its calibration.

    PYTHONPATH=src python tools/history_proof.py    # the tests' seeds (0-49) and the calibration's (1000-1199)

A history is 40 commits, each a run whose median is the true one times exp(N(0, 0.057)): the per-run noise
of the harness on the 2-core VM (tests/test_history_changes.py derives it from the README); with a step,
commit 25 and every later one are 15% slower. Prints, per penalty factor, how often one step is found
within one commit of the injected one and how often a flat history shows any step.
"""
from __future__ import annotations

import sys

import numpy as np

from cnnbench.history import changes

SIGMA, COMMITS, STEP_AT, STEP = 0.057, 40, 25, 1.15


def history(seed: int, step: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = 0.010 * np.exp(rng.normal(0.0, SIGMA, COMMITS))
    values[STEP_AT:] *= step
    return values


def counts(seeds, factor: float) -> tuple[int, int, int]:
    changes.BIC_FACTOR = factor
    found = exact = flat = 0
    for seed in seeds:
        steps = changes.detect(history(seed, STEP))
        found += len(steps) == 1 and abs(steps[0].index - STEP_AT) <= 1
        exact += len(steps) == 1 and steps[0].index == STEP_AT
        flat += bool(changes.detect(history(seed, 1.0)))
    return found, exact, flat


def main() -> int:
    chosen = changes.BIC_FACTOR
    for name, seeds in (("calibration", range(1000, 1200)), ("tests", range(50))):
        for factor in (2.0, chosen):
            found, exact, flat = counts(seeds, factor)
            print(f"{name} seeds {seeds.start}-{seeds.stop - 1}, penalty {factor:g} sigma^2 log n: step found within "
                  f"1 commit {found} of {len(seeds)} ({exact} exact); a step on a flat history {flat} of {len(seeds)}")
    changes.BIC_FACTOR = chosen
    return 0


if __name__ == "__main__":
    sys.exit(main())
