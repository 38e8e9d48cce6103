"""Steps in one series: change points found by ruptures' PELT, each kept only with a permutation p-value.

Why ruptures and PELT: ruptures (Truong, Oudre, Vayatis, "Selective review of offline change point
detection methods", Signal Processing 2020) is a maintained library of the established offline
methods, and installs with the project's pins (numpy, scipy unchanged). MongoDB's E-divisive package
(signal-processing-algorithms) would downgrade numpy to 1.26; asv's step detection is not a library
of its own. PELT (Killick, Fearnhead, Eckley, JASA 2012) finds the exact optimum of "cost of the
segments + a penalty per change" in linear time, so a history of any length is segmented at once, not
one split at a time.

The series is the log of each commit's value (a step is then a ratio, the same up or down). The
cost is the L2 cost (a change of mean); the penalty is BIC's for a Gaussian with known variance,
``2 sigma^2 log n`` (Killick et al. 2012, section 2), doubled, with sigma estimated robustly from the
series itself: the median absolute difference between neighbours, which a step moves only once.

Two permutation tests (``PERMUTATIONS`` shuffles, seeded) decide what is reported. First the whole
series: is there any change at all? Its best split (``split_statistic``) is compared with the best
split of each shuffle, so a flat series passes with probability alpha, however many splits PELT
proposes. Then each change PELT found, on its two neighbouring segments alone, the same way. Why
twice BIC's penalty: on 200 calibration histories (40 commits, noise as the tests', a 15% step;
seeds 1000-1199, which no test uses; tools/history_proof.py) BIC's penalty found the step within one
commit 179 times and a step in 3 flat histories; doubled, 186 times and in 1 (an underestimated sigma
lets PELT cut a history into short segments, whose tests are weak).
A step is reported when p < alpha and its size is past ``min_change``: the
per-process bias of the harness's runs (results/per-process-bias-2026-12-02.json) makes two runs of the same code
differ by several percent, so a smaller step is not one a user could act on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cnnbench.core.deps import require

PERMUTATIONS = 2000
DEFAULT_ALPHA = 0.01
DEFAULT_MIN_CHANGE = 0.05  # as `cnnbench ab --threshold`: a 5% step
MIN_SEGMENT = 2  # a step needs two points on each side (one point is an outlier, not a level)
BIC_FACTOR = 4.0  # twice BIC's 2: why in the module docstring


@dataclass(frozen=True)
class Step:
    index: int  # the first point after the step
    ratio: float  # median after / median before (segment medians)
    p_value: float
    before: int  # points in the segment before ...
    after: int  # ... and after


def noise_sigma(x: np.ndarray) -> float:
    """Robust standard deviation of the noise: median |x[i+1] - x[i]| / (0.6745 sqrt 2)."""
    if len(x) < 2:
        return 0.0
    return float(np.median(np.abs(np.diff(x)))) / (0.6745 * math.sqrt(2))


def split_statistic(w: np.ndarray) -> np.ndarray:
    """Per row of ``w``: the largest standardized difference of means over every split with at least
    MIN_SEGMENT points on each side (the CUSUM statistic, sqrt(k (m-k) / m) |mean left - mean right|)."""
    m = w.shape[1]
    k = np.arange(MIN_SEGMENT, m - MIN_SEGMENT + 1)
    left = np.cumsum(w, axis=1)[:, k - 1]
    total = w.sum(axis=1, keepdims=True)
    diff = np.abs(left / k - (total - left) / (m - k))
    return (np.sqrt(k * (m - k) / m) * diff).max(axis=1)


def permutation_p(before: np.ndarray, after: np.ndarray, *, rng: np.random.Generator,
                  permutations: int = PERMUTATIONS) -> float:
    """How often the two segments, shuffled together, show a split at least as strong as theirs.

    The statistic is the best split's (``split_statistic``), searched again in every permutation: the
    change was found by searching, so the test searches too (as E-divisive's permutation test does,
    Matteson and James, JASA 2014); testing only the split PELT chose would call noise a step."""
    both = np.concatenate([before, after])
    observed = split_statistic(both[None, :])[0]
    shuffled = both[np.argsort(rng.random((permutations, len(both))), axis=1)]
    hits = int(np.sum(split_statistic(shuffled) >= observed - 1e-12))
    return (hits + 1) / (permutations + 1)


def detect(values, *, alpha: float = DEFAULT_ALPHA, min_change: float = DEFAULT_MIN_CHANGE,
           seed: int = 0) -> list[Step]:
    """The steps of a series of positive values (one per commit, oldest first)."""
    rpt = require("ruptures", feature="cnnbench history changes", extra="history")
    x = np.log(np.asarray(values, dtype=float))
    n = len(x)
    if n < 2 * MIN_SEGMENT:
        return []
    sigma = max(noise_sigma(x), 1e-6)  # a perfectly flat series: any penalty > 0 keeps it one segment
    ends = rpt.Pelt(model="l2", min_size=MIN_SEGMENT, jump=1).fit(x.reshape(-1, 1)).predict(
        pen=BIC_FACTOR * sigma ** 2 * math.log(n))
    bounds = [0] + list(ends)
    rng = np.random.default_rng(seed)
    if len(bounds) < 3 or permutation_p(x[:0], x, rng=rng) >= alpha:
        return []  # no change at all, tested on the whole series: a flat one is flagged with probability alpha
    steps = []
    for i in range(1, len(bounds) - 1):
        before, after = x[bounds[i - 1]:bounds[i]], x[bounds[i]:bounds[i + 1]]
        ratio = math.exp(float(np.median(after) - np.median(before)))
        if abs(math.log(ratio)) < math.log1p(min_change):
            continue
        p = permutation_p(before, after, rng=rng)
        if p < alpha:
            steps.append(Step(bounds[i], ratio, p, len(before), len(after)))
    return steps
