"""Statistics on raw per-round timings, in one place: ratio of medians with a bootstrap CI, Mann-Whitney U.

Timings on shared machines are noisy and skewed (a few slow rounds), so everything here works on
medians and ranks, never on means. numpy only (scipy lazily, for the Mann-Whitney test), so the
harness, the reports and the terminal verdict share the same numbers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class RatioEstimate:
    ratio: float  # median(b) / median(a)
    low: float  # confidence interval of the ratio (nan with fewer than 2 rounds on a side)
    high: float
    n_a: int
    n_b: int

    @property
    def has_interval(self) -> bool:
        return not (math.isnan(self.low) or math.isnan(self.high))


def _rounds(x, side: str) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.size == 0:
        raise ValueError(f"ratio_of_medians needs at least one round on side {side}")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"ratio_of_medians: side {side} holds a round that is not a finite positive time")
    return arr


def ratio_of_medians(a, b, *, resamples: int = BOOTSTRAP_RESAMPLES, confidence: float = CONFIDENCE,
                     seed: int = 0) -> RatioEstimate:
    """median(b)/median(a) with a percentile-bootstrap interval (rounds resampled independently).

    Deterministic for a given seed, so a report or a CI verdict does not change between re-renders.
    Rounds must be finite positive times: a NaN or inf round is a broken measurement, not data.
    """
    a = _rounds(a, "a")
    b = _rounds(b, "b")
    ratio = float(np.median(b) / np.median(a))
    if a.size < 2 or b.size < 2:
        return RatioEstimate(ratio, float("nan"), float("nan"), a.size, b.size)
    rng = np.random.default_rng(seed)
    ma = np.median(rng.choice(a, size=(resamples, a.size), replace=True), axis=1)
    mb = np.median(rng.choice(b, size=(resamples, b.size), replace=True), axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(mb / ma, [tail, 1.0 - tail])
    return RatioEstimate(ratio, float(low), float(high), a.size, b.size)


def faster_side(est: RatioEstimate, a: str, b: str) -> str:
    """``a``, ``b`` or ``"tie"`` for an estimate of time(b)/time(a): a side is named only when the
    interval excludes 1. Without an interval (a single round) the point estimate decides; callers say so."""
    if est.has_interval and est.low <= 1.0 <= est.high:
        return "tie"
    return a if est.ratio > 1.0 else b if est.ratio < 1.0 else "tie"


def mann_whitney_p(a, b) -> float:
    """Two-sided Mann-Whitney U p-value that the two sets of rounds come from the same distribution."""
    from scipy.stats import mannwhitneyu

    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.size < 2 or b.size < 2:
        return float("nan")
    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
